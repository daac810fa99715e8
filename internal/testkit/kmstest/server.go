// Package kmstest is an in-process AWS KMS stand-in for tests: an
// [httptest.Server] that speaks the real KMS wire protocol (awsJson1_1,
// service TrentService), so that the real aws-sdk-go-v2 [kms.Client] talks to
// it over HTTP.
//
// It does real cryptography. Every key has one or more AES-256 backing keys
// (one per rotation); a ciphertext blob names its key and backing-key version
// and seals the plaintext with AES-GCM, binding the header and the
// encryption context (canonical JSON, sorted keys) as additional data. So a
// wrong context, a flipped bit or a blob from another server fails with
// InvalidCiphertextException, as it would with AWS.
//
// Keys are addressed as in AWS: bare key id, key ARN, alias/NAME or alias ARN.
// The server's region is [Region] and its account [Account]; keys created
// with [WithARN] may carry any ARN (used for interop vectors).
//
// Signatures are not checked. The server never logs, and never records key
// material in its call log.
package kmstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

const (
	// Region is the region of the server's own keys and aliases.
	Region = "us-east-1"
	// Account is the account id of the server's own keys and aliases.
	Account = "111122223333"
)

// Key states, as KMS names them.
const (
	stateEnabled         = "Enabled"
	stateDisabled        = "Disabled"
	statePendingDeletion = "PendingDeletion"
)

// Server is a KMS test server. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:PORT.
	URL string

	ts        *httptest.Server
	closing   chan struct{} // closed by Close, ends pending delays
	closeOnce sync.Once

	mu       sync.Mutex
	keys     map[string]*key          // by key id
	aliases  map[string]*alias        // by alias name ("alias/NAME")
	imported map[string]*importedBlob // by blob bytes
	faults   []*fault
	every    map[string]*everyFault // by operation ("*" for any)
	delays   map[string]time.Duration
	calls    []Call
	lies     map[string]Lie // by operation
}

// Lie is what a lying KMS reports instead of the truth; see
// [Server.SetLie]. Empty fields report the truth.
type Lie struct {
	// KeyID replaces the KeyId of a successful response (for ReEncrypt:
	// the destination key).
	KeyID string
	// SourceKeyID replaces the SourceKeyId of a successful ReEncrypt
	// response.
	SourceKeyID string
}

type key struct {
	id, arn     string
	description string
	created     time.Time
	state       string
	deletion    time.Time
	versions    [][]byte // AES-256 backing keys; the last one encrypts
	rotation    bool
	rotationDay int32
	denied      bool
}

type alias struct {
	name, target string // target is a key id
	created      time.Time
	updated      time.Time
}

type importedBlob struct {
	keyID     string
	context   map[string]string
	plaintext []byte
}

type fault struct {
	op, code string
	n        int
}

// everyFault fails every n-th request of an operation.
type everyFault struct {
	code     string
	n, count int
}

// Call is one request the server received, without any key material or
// ciphertext.
type Call struct {
	Op string // operation name, e.g. "Decrypt"
	// KeyID is the KeyId the caller sent (DestinationKeyId for ReEncrypt),
	// as sent; empty when none.
	KeyID string
	// GrantTokens are the grant tokens the caller sent.
	GrantTokens []string
	// EncryptionContext is the context the caller sent
	// (DestinationEncryptionContext for ReEncrypt).
	EncryptionContext map[string]string
	// SourceKeyID is the SourceKeyId of a ReEncrypt request, as sent;
	// empty when none.
	SourceKeyID string
	// ErrorCode is the error the server answered with, empty on success.
	ErrorCode string
}

// NewServer starts a KMS test server. Call Close when done.
func NewServer() *Server {
	s := &Server{
		keys:     map[string]*key{},
		aliases:  map[string]*alias{},
		imported: map[string]*importedBlob{},
		delays:   map[string]time.Duration{},
		lies:     map[string]Lie{},
		closing:  make(chan struct{}),
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.ts.URL
	return s
}

// New starts a KMS test server that is closed when tb's test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := NewServer()
	tb.Cleanup(s.Close)
	return s
}

// Close shuts the server down. Requests waiting out a [Server.SetDelay]
// end at once. Close may be called more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.ts.Close()
	})
}

// Client returns a real aws-sdk-go-v2 KMS client for the server: region
// [Region], static credentials, and no retries (so that an injected fault
// surfaces at once). optFns may change any of that.
func (s *Server) Client(optFns ...func(*kms.Options)) *kms.Client {
	o := kms.Options{
		BaseEndpoint: aws.String(s.URL),
		Region:       Region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDKMSTEST", SecretAccessKey: "kmstest-secret", Source: "kmstest"}, nil
		}),
		HTTPClient:       s.ts.Client(),
		RetryMaxAttempts: 1,
	}
	return kms.New(o, optFns...)
}

// KeyOption configures a key made by [Server.CreateKey].
type KeyOption func(*key)

// WithDescription sets the key's description.
func WithDescription(d string) KeyOption { return func(k *key) { k.description = d } }

// WithARN gives the key a fixed ARN (any region and account), for example
// the key ARN of an interop vector. Its key id is the ARN's last part.
func WithARN(arn string) KeyOption {
	return func(k *key) {
		id, ok := keyIDFromARN(arn)
		if !ok {
			panic("kmstest: WithARN: not a KMS key ARN: " + arn)
		}
		k.id, k.arn = id, arn
	}
}

// WithAccount puts the key in another AWS account (same region, a fresh
// key id), such as a key of an attacker. The server checks no principals:
// like a key whose key policy allows everyone, any caller may use it, for
// Decrypt, Encrypt and as the source or destination of ReEncrypt.
func WithAccount(account string) KeyOption {
	return func(k *key) { k.arn = keyARN(Region, account, k.id) }
}

// CreateKey creates an enabled symmetric key and returns its ARN.
func (s *Server) CreateKey(opts ...KeyOption) string {
	k := newKey()
	for _, o := range opts {
		o(k)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.keys[k.id]; dup {
		panic("kmstest: CreateKey: key id already exists: " + k.id)
	}
	s.keys[k.id] = k
	return k.arn
}

func newKey() *key {
	id := newUUID()
	return &key{
		id:       id,
		arn:      keyARN(Region, Account, id),
		created:  time.Now(),
		state:    stateEnabled,
		versions: [][]byte{newBackingKey()},
	}
}

// KeyARN returns the ARN of the key that keyID (any addressing form) names.
func (s *Server) KeyARN(keyID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustResolve("KeyARN", keyID).arn
}

// AliasARN returns the ARN of alias name ("alias/NAME") in this server.
func AliasARN(name string) string {
	return "arn:aws:kms:" + Region + ":" + Account + ":" + name
}

// CreateAlias points the new alias name ("alias/NAME") at keyID.
func (s *Server) CreateAlias(name, keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.createAlias(name, keyID); err != nil {
		panic("kmstest: CreateAlias: " + err.Error())
	}
}

// UpdateAlias moves the existing alias name to keyID.
func (s *Server) UpdateAlias(name, keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.updateAlias(name, keyID); err != nil {
		panic("kmstest: UpdateAlias: " + err.Error())
	}
}

// DeleteAlias deletes alias name.
func (s *Server) DeleteAlias(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.deleteAlias(name); err != nil {
		panic("kmstest: DeleteAlias: " + err.Error())
	}
}

// RotateKey gives keyID a new backing key. New ciphertexts use it; old ones
// still decrypt.
func (s *Server) RotateKey(keyID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.mustResolve("RotateKey", keyID)
	k.versions = append(k.versions, newBackingKey())
}

// KeyVersions returns how many backing keys keyID has (1 + rotations).
func (s *Server) KeyVersions(keyID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mustResolve("KeyVersions", keyID).versions)
}

// DisableKey disables keyID: cryptographic operations with it fail with
// DisabledException.
func (s *Server) DisableKey(keyID string) { s.setState("DisableKey", keyID, stateDisabled) }

// EnableKey enables keyID.
func (s *Server) EnableKey(keyID string) { s.setState("EnableKey", keyID, stateEnabled) }

// ScheduleKeyDeletion puts keyID in the PendingDeletion state: cryptographic
// operations with it fail with KMSInvalidStateException.
func (s *Server) ScheduleKeyDeletion(keyID string) {
	s.setState("ScheduleKeyDeletion", keyID, statePendingDeletion)
}

func (s *Server) setState(op, keyID, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.mustResolve(op, keyID)
	k.state = state
	if state == statePendingDeletion {
		k.deletion = time.Now().Add(30 * 24 * time.Hour)
	}
}

// SetAccessDenied makes every operation on keyID fail with
// AccessDeniedException (denied) or succeed again (!denied), as a key policy
// would.
func (s *Server) SetAccessDenied(keyID string, denied bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustResolve("SetAccessDenied", keyID).denied = denied
}

// ImportDataKey registers an opaque ciphertext blob, such as the random
// blob of an interop vector. Decrypt (and ReEncrypt) of exactly blob returns
// plaintext only when the request's encryption context equals
// encryptionContext exactly and its KeyId, if any, names keyID; otherwise
// InvalidCiphertextException (context) or IncorrectKeyException (key).
//
// keyID names an existing key; a key ARN that names no key creates that key
// (as with [WithARN]).
func (s *Server) ImportDataKey(keyID string, blob []byte, encryptionContext map[string]string, plaintext []byte) {
	if len(blob) == 0 {
		panic("kmstest: ImportDataKey: empty blob")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, apiErr := s.resolve(keyID)
	if apiErr != nil {
		id, ok := keyIDFromARN(keyID)
		if !ok || s.keys[id] != nil {
			panic("kmstest: ImportDataKey: " + apiErr.msg)
		}
		k = newKey()
		k.id, k.arn = id, keyID
		s.keys[id] = k
	}
	s.imported[string(blob)] = &importedBlob{
		keyID:     k.id,
		context:   maps.Clone(encryptionContext),
		plaintext: slices.Clone(plaintext),
	}
}

// FailNext makes the next n requests of operation op (e.g. "Decrypt"; "*"
// for any) fail with the error code, e.g. "ThrottlingException",
// "KMSInternalException" (HTTP 500), "DependencyTimeoutException" (500),
// "KeyUnavailableException" (500) or "AccessDeniedException". Faults queue
// up in the order they were added.
func (s *Server) FailNext(op, code string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{op: op, code: code, n: n})
}

// FailEvery makes every n-th request of operation op (e.g.
// "GenerateDataKey"; "*" for any) fail with the error code, from now on:
// n = 1 fails every request, n = 4 one in four (the 4th, 8th, ...), a
// deterministic rate. It counts the requests of op from this call; a
// request matched by FailNext is not counted. FailEvery(op, "", 0) (any
// n <= 0) stops it. Faults of FailNext are served first, then op's own
// rate, or else the rate of "*".
func (s *Server) FailEvery(op, code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 || code == "" {
		delete(s.every, op)
		return
	}
	if s.every == nil {
		s.every = map[string]*everyFault{}
	}
	s.every[op] = &everyFault{code: code, n: n}
}

// SetLie makes the successful responses of op ("Decrypt", "ReEncrypt",
// "Encrypt", "GenerateDataKey") report the keys of l instead of the ones
// the server used, as a misconfigured endpoint or a compromised KMS would;
// the cryptography stays real. A zero Lie tells the truth again.
func (s *Server) SetLie(op string, l Lie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l == (Lie{}) {
		delete(s.lies, op)
		return
	}
	s.lies[op] = l
}

// SetDelay makes every request of op ("*" for any) wait d before it is
// served, or until the client gives up. Zero removes the delay.
func (s *Server) SetDelay(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		delete(s.delays, op)
		return
	}
	s.delays[op] = d
}

// Calls returns how many requests of op the server has received ("*" or ""
// for all), failed ones included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == "" || op == "*" {
		return len(s.calls)
	}
	n := 0
	for _, c := range s.calls {
		if c.Op == op {
			n++
		}
	}
	return n
}

// CallLog returns a copy of every request received, in order.
func (s *Server) CallLog() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.GrantTokens = slices.Clone(c.GrantTokens)
		c.EncryptionContext = maps.Clone(c.EncryptionContext)
		out[i] = c
	}
	return out
}

// LastCall returns the last request of op ("*" for any), and false if there
// was none.
func (s *Server) LastCall(op string) (Call, bool) {
	log := s.CallLog()
	for i := len(log) - 1; i >= 0; i-- {
		if op == "*" || op == "" || log[i].Op == op {
			return log[i], true
		}
	}
	return Call{}, false
}

// ResetCalls forgets the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// mustResolve resolves keyID for an admin helper or panics. s.mu is held.
func (s *Server) mustResolve(op, keyID string) *key {
	k, err := s.resolve(keyID)
	if err != nil {
		panic("kmstest: " + op + ": " + err.msg)
	}
	return k
}

// resolve finds the key that id names. s.mu is held.
func (s *Server) resolve(id string) (*key, *apiError) {
	notFound := errorf(codeNotFound, "key '%s' does not exist", id)
	switch {
	case id == "":
		return nil, errorf(codeValidation, "KeyId is required")
	case strings.HasPrefix(id, "arn:"):
		if kid, ok := keyIDFromARN(id); ok {
			if k := s.keys[kid]; k != nil && k.arn == id {
				return k, nil
			}
			return nil, notFound
		}
		name, ok := aliasFromARN(id)
		if !ok {
			return nil, errorf(codeNotFound, "invalid arn '%s'", id)
		}
		return s.resolveAlias(name, id)
	case strings.HasPrefix(id, "alias/"):
		return s.resolveAlias(id, id)
	}
	if k := s.keys[id]; k != nil {
		return k, nil
	}
	return nil, notFound
}

func (s *Server) resolveAlias(name, asGiven string) (*key, *apiError) {
	a := s.aliases[name]
	if a == nil {
		return nil, errorf(codeNotFound, "alias '%s' is not found", asGiven)
	}
	return s.keys[a.target], nil
}

func keyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

// keyIDFromARN returns the key id of a KMS key ARN in any region and account.
func keyIDFromARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kms" || parts[3] == "" || parts[4] == "" {
		return "", false
	}
	id, ok := strings.CutPrefix(parts[5], "key/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// aliasFromARN returns "alias/NAME" of an alias ARN in the server's region
// and account.
func aliasFromARN(arn string) (string, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kms" || parts[3] != Region || parts[4] != Account {
		return "", false
	}
	if !strings.HasPrefix(parts[5], "alias/") || len(parts[5]) == len("alias/") {
		return "", false
	}
	return parts[5], true
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newBackingKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}
