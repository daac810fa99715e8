package envelope

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
)

// HKDF info strings of the key-committing suite: the two suite-ID bytes
// followed by a label. The CTR variant used for ranges reuses the same info.
var (
	infoCommitKey = append([]byte{0x00, 0x73}, "COMMITKEY"...)
	infoDeriveKey = append([]byte{0x00, 0x73}, "DERIVEKEY"...)
)

// gcmNonceV3 is the fixed GCM nonce of the key-committing suite: the derived
// key is unique per object, so the nonce need not be.
var gcmNonceV3 = []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}

// CommittingKeys derives, from a data key and a message id, the content key
// (32 bytes) and the key commitment (28 bytes) of the key-committing suite:
// HKDF-SHA512 with the message id as salt.
func CommittingKeys(dataKey, messageID []byte) (contentKey, commitment []byte, err error) {
	if len(dataKey) != DataKeySize {
		return nil, nil, fmt.Errorf("envelope: data key is %d bytes, want %d", len(dataKey), DataKeySize)
	}
	if len(messageID) != MessageIDSize {
		return nil, nil, fmt.Errorf("envelope: message id is %d bytes, want %d", len(messageID), MessageIDSize)
	}
	prk, err := hkdf.Extract(sha512.New, dataKey, messageID)
	if err != nil {
		return nil, nil, err
	}
	defer clear(prk)
	commitment, err = hkdf.Expand(sha512.New, prk, string(infoCommitKey), CommitmentSize)
	if err != nil {
		return nil, nil, err
	}
	contentKey, err = hkdf.Expand(sha512.New, prk, string(infoDeriveKey), DataKeySize)
	if err != nil {
		return nil, nil, err
	}
	return contentKey, commitment, nil
}

// ContentParams are the inputs of the content cipher for one object.
type ContentParams struct {
	Key   []byte // AES key: the data key (V1/V2) or the derived key (V3)
	Nonce []byte // 12-byte GCM nonce or 16-byte CBC IV
	AAD   []byte // GCM additional data
}

// Zero overwrites the content key.
func (p *ContentParams) Zero() { clear(p.Key) }

// Format prints a placeholder for the key and the sizes of the rest, with
// every fmt verb: a log line or an error that wraps one never shows it.
func (p ContentParams) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "envelope.ContentParams{Key: …, Nonce: %d bytes, AAD: %d bytes}", len(p.Nonce), len(p.AAD))
}

// ContentParams returns the content cipher inputs for decrypting e with the
// unwrapped data key. For V3 it first derives the commitment and compares it
// with the stored one in constant time; on mismatch it returns
// [ErrCommitmentMismatch] and derives nothing else. The caller owns dataKey
// and zeroes the returned key with [ContentParams.Zero].
func (e *Envelope) ContentParams(dataKey []byte) (*ContentParams, error) {
	if len(dataKey) != DataKeySize {
		return nil, fmt.Errorf("envelope: data key is %d bytes, want %d", len(dataKey), DataKeySize)
	}
	if e.Suite != SuiteAESGCMCommitting {
		return &ContentParams{Key: clone(dataKey), Nonce: clone(e.IV), AAD: e.Suite.AAD()}, nil
	}
	prk, err := hkdf.Extract(sha512.New, dataKey, e.MessageID)
	if err != nil {
		return nil, err
	}
	defer clear(prk)
	commitment, err := hkdf.Expand(sha512.New, prk, string(infoCommitKey), CommitmentSize)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(commitment, e.Commitment) != 1 {
		return nil, ErrCommitmentMismatch
	}
	key, err := hkdf.Expand(sha512.New, prk, string(infoDeriveKey), DataKeySize)
	if err != nil {
		return nil, err
	}
	return &ContentParams{Key: key, Nonce: clone(gcmNonceV3), AAD: e.Suite.AAD()}, nil
}

// NewForEncryption builds the envelope of a new object for suite, with the
// wrapped data key and its description, and fresh random IV or message id.
// It returns the envelope and the content cipher inputs (zero them after
// use). It never builds legacy formats.
func NewForEncryption(suite Suite, wrap WrapAlgorithm, encryptedKey []byte, description map[string]string, dataKey []byte, plaintextLength int64) (*Envelope, *ContentParams, error) {
	e := &Envelope{
		Suite:           suite,
		WrapAlgorithm:   wrap,
		EncryptedKey:    clone(encryptedKey),
		Description:     cloneMap(description),
		PlaintextLength: plaintextLength,
	}
	var p *ContentParams
	switch suite {
	case SuiteAESGCM:
		e.Format = FormatV2
		e.IV = make([]byte, GCMIVSize)
		if _, err := rand.Read(e.IV); err != nil {
			return nil, nil, err
		}
		if len(dataKey) != DataKeySize {
			return nil, nil, fmt.Errorf("envelope: data key is %d bytes, want %d", len(dataKey), DataKeySize)
		}
		p = &ContentParams{Key: clone(dataKey), Nonce: clone(e.IV)}
	case SuiteAESGCMCommitting:
		e.Format = FormatV3
		e.MessageID = make([]byte, MessageIDSize)
		for {
			if _, err := rand.Read(e.MessageID); err != nil {
				return nil, nil, err
			}
			if subtle.ConstantTimeCompare(e.MessageID, make([]byte, MessageIDSize)) == 0 {
				break
			}
		}
		key, commitment, err := CommittingKeys(dataKey, e.MessageID)
		if err != nil {
			return nil, nil, err
		}
		e.Commitment = commitment
		p = &ContentParams{Key: key, Nonce: clone(gcmNonceV3), AAD: suite.AAD()}
	default:
		return nil, nil, malformed("", "suite %v is never written", suite)
	}
	if err := e.Validate(); err != nil {
		p.Zero()
		return nil, nil, err
	}
	return e, p, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
