package objectcrypto

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
	"github.com/s3ec/s3ec-go/materials"
)

// Resume tokens.
//
// A token lets another process (or the same one, later) continue sealing
// the parts of one message: it carries the GHASH sums of the parts sealed
// so far. Those sums are secret (with them and the ciphertext on S3 anyone
// recovers the hash key H and can forge), so the token is sealed with
// AES-256-GCM under a key derived from the data key with HKDF-SHA256 and a
// label of its own: only a holder of the keyring that unwraps the data key
// can open it. The caller's header (the upload's identity and the
// envelope, which the opener needs to find the key) is the AEAD's
// additional data, so that a token is bound to it.
//
// The sealed body is the parts' sums followed by the caller's bytes:
//
//	count  uint32
//	count × { number uint32, offset uint64, length uint64, accumulator [16]byte }
//	app    (the rest)

// tokenKeyLabel is the HKDF info of the token key; it is no other key's.
const tokenKeyLabel = "s3ec-go resume token key v1"

// maxTokenParts bounds the parts a token may hold: S3's 10,000.
const maxTokenParts = 10000

// tokenPartSize is the encoded size of one part's sum.
const tokenPartSize = 4 + 8 + 8 + gcmstream.AccumulatorSize

// ErrTokenAuthentication reports a resume token that does not open under
// the data key's token key with its header: altered, truncated, or made for
// another message.
var ErrTokenAuthentication = errors.New("objectcrypto: resume token fails authentication")

// ErrNotResumable reports a Parts without a token key (not made by
// NewResumableSealer or OpenResumable).
var ErrNotResumable = errors.New("objectcrypto: parts have no resume token key")

// tokenAEAD derives the token key from the data key: AES-256-GCM with
// random 96-bit nonces, which the module of crypto/cipher chooses (a
// FIPS 140-3 approved construction).
func tokenAEAD(dataKey []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, dataKey, nil, tokenKeyLabel, 32)
	if err != nil {
		return nil, err
	}
	defer clear(k)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// NewResumableSealer is NewSealer for a message sealed in parts whose state
// may outlive the process: its Parts can seal resume tokens.
func NewResumableSealer(ctx context.Context, kr materials.Keyring, policy envelope.Policy, encCtx map[string]string, plaintextLength int64) (*Sealer, error) {
	return newSealer(ctx, kr, policy, encCtx, plaintextLength, true)
}

// OpenResumable unwraps env's data key with kr (after the policy's check)
// and returns the empty Parts of its message, for sealing more parts of it:
// OpenToken then brings in the sums a token holds. Only GCM envelopes have
// parts.
//
// Sealing more parts encrypts, so env must be an envelope that a new
// message under opts.Policy would have: the suite the policy writes
// (Policy.EncryptSuite, a *envelope.PolicyError otherwise; reading it
// would not be enough) and a form this library writes
// (envelope.Validate: no legacy wrap). Both are checked before the keyring
// is asked.
func OpenResumable(ctx context.Context, kr materials.Keyring, opts DecryptOptions, env *envelope.Envelope) (*Parts, error) {
	if env.Suite == envelope.SuiteAESCBC {
		return nil, &envelope.PolicyError{What: "resuming an upload of CBC content"}
	}
	if err := opts.Policy.Validate(); err != nil {
		return nil, err
	}
	if want := opts.Policy.EncryptSuite(); env.Suite != want {
		return nil, &envelope.PolicyError{
			What:    fmt.Sprintf("resuming an upload of %s content: the commitment policy %s writes %s", env.Suite.CipherName(), opts.Policy.Commitment, want.CipherName()),
			Setting: envelope.SettingCommitment,
		}
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	dataKey, err := unwrapDataKey(ctx, kr, opts, env)
	if err != nil {
		return nil, err
	}
	defer materials.Zero(dataKey)
	params, err := env.ContentParams(dataKey)
	if err != nil {
		return nil, err
	}
	defer params.Zero()
	c, err := gcmstream.New(params.Key, params.Nonce, params.AAD)
	if err != nil {
		return nil, err
	}
	ps := newParts(c)
	if ps.token, err = tokenAEAD(dataKey); err != nil {
		return nil, err
	}
	return ps, nil
}

// PartInfo is the public part of a recorded sum.
type PartInfo struct {
	Num    int
	Offset int64
	Len    int64
}

// Recorded lists the parts sealed (or brought in by OpenToken) so far, in
// part-number order.
func (ps *Parts) Recorded() []PartInfo {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []PartInfo
	for i, ok := range ps.have {
		if ok {
			out = append(out, PartInfo{Num: i + 1, Offset: ps.sums[i].Offset(), Len: ps.sums[i].Len()})
		}
	}
	return out
}

// SealToken seals the sums of every part recorded so far and app, with
// header as additional data: the token's body, which the caller stores
// after header. It never holds a key.
func (ps *Parts) SealToken(header, app []byte) ([]byte, error) {
	if ps.token == nil {
		return nil, ErrNotResumable
	}
	ps.mu.Lock()
	n := 0
	for _, ok := range ps.have {
		if ok {
			n++
		}
	}
	body := make([]byte, 4, 4+n*tokenPartSize+len(app))
	binary.BigEndian.PutUint32(body, uint32(n))
	for i, ok := range ps.have {
		if !ok {
			continue
		}
		s := ps.sums[i]
		body = binary.BigEndian.AppendUint32(body, uint32(i+1))
		body = binary.BigEndian.AppendUint64(body, uint64(s.Offset()))
		body = binary.BigEndian.AppendUint64(body, uint64(s.Len()))
		body = s.AppendAccumulator(body)
	}
	ps.mu.Unlock()
	body = append(body, app...)
	sealed := ps.token.Seal(nil, nil, body, header)
	clear(body) // it held the sums
	return sealed, nil
}

// OpenToken opens a token's body sealed by SealToken under this message's
// token key with header, brings its sums into ps and returns the caller's
// bytes. A token that does not open fails with ErrTokenAuthentication; a
// part it records that ps holds with another sum fails with
// ErrPartConflict (one position of the message sealed with two
// plaintexts). On failure ps is unchanged.
func (ps *Parts) OpenToken(header, sealed []byte) ([]byte, error) {
	if ps.token == nil {
		return nil, ErrNotResumable
	}
	body, err := ps.token.Open(nil, nil, sealed, header)
	if err != nil {
		return nil, ErrTokenAuthentication
	}
	defer clear(body)
	if len(body) < 4 {
		return nil, fmt.Errorf("%w: no parts count", ErrTokenAuthentication)
	}
	n := binary.BigEndian.Uint32(body)
	if n > maxTokenParts || int64(n)*tokenPartSize > int64(len(body)-4) {
		return nil, fmt.Errorf("%w: %d parts do not fit", ErrTokenAuthentication, n)
	}
	type restored struct {
		num int
		sum gcmstream.PartSum
	}
	sums := make([]restored, 0, n)
	p := body[4:]
	prev := 0
	for range n {
		num := int(binary.BigEndian.Uint32(p))
		off := int64(binary.BigEndian.Uint64(p[4:]))
		length := int64(binary.BigEndian.Uint64(p[12:]))
		if num <= prev || num > maxTokenParts {
			return nil, fmt.Errorf("%w: part numbers out of order or beyond %d", ErrTokenAuthentication, maxTokenParts)
		}
		prev = num
		s, err := ps.cipher.RestoreSum(off, length, p[20:tokenPartSize])
		if err != nil {
			return nil, fmt.Errorf("%w: part %d: %v", ErrTokenAuthentication, num, err)
		}
		sums = append(sums, restored{num, s})
		p = p[tokenPartSize:]
	}
	app := append([]byte(nil), p...)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, r := range sums {
		if ps.has(r.num) && !ps.sums[r.num-1].Equal(r.sum) {
			return nil, fmt.Errorf("%w: part %d", ErrPartConflict, r.num)
		}
	}
	for _, r := range sums {
		if !ps.has(r.num) {
			ps.record(r.num, r.sum)
		}
	}
	return app, nil
}
