package kmstest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Error codes the server answers with.
const (
	codeAccessDenied     = "AccessDeniedException"
	codeAlreadyExists    = "AlreadyExistsException"
	codeDisabled         = "DisabledException"
	codeDryRun           = "DryRunOperationException"
	codeIncorrectKey     = "IncorrectKeyException"
	codeInvalidAlias     = "InvalidAliasNameException"
	codeInvalidCT        = "InvalidCiphertextException"
	codeInvalidKeyUsage  = "InvalidKeyUsageException"
	codeInvalidMarker    = "InvalidMarkerException"
	codeInvalidState     = "KMSInvalidStateException"
	codeNotFound         = "NotFoundException"
	codeSerialization    = "SerializationException"
	codeUnknownOperation = "UnknownOperationException"
	codeUnsupported      = "UnsupportedOperationException"
	codeValidation       = "ValidationException"
)

const (
	contentType      = "application/x-amz-json-1.1"
	targetPrefix     = "TrentService."
	symmetricDefault = "SYMMETRIC_DEFAULT"
	maxBody          = 1 << 20
)

type apiError struct{ code, msg string }

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// status is the HTTP status KMS uses for an error code.
func status(code string) int {
	switch code {
	case "KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// request holds the members of every supported operation's input.
type request struct {
	KeyId                          string
	KeySpec                        string
	CustomerMasterKeySpec          string
	KeyUsage                       string
	Origin                         string
	Description                    string
	NumberOfBytes                  *int
	EncryptionContext              map[string]string
	GrantTokens                    []string
	DryRun                         bool
	Plaintext                      []byte
	CiphertextBlob                 []byte
	EncryptionAlgorithm            string
	SourceEncryptionContext        map[string]string
	SourceKeyId                    string
	DestinationKeyId               string
	DestinationEncryptionContext   map[string]string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
	AliasName                      string
	TargetKeyId                    string
	Limit                          *int
	Marker                         string
	PendingWindowInDays            *int
	RotationPeriodInDays           *int
}

type operation func(*Server, *request) (any, *apiError)

var operations = map[string]operation{
	"CancelKeyDeletion":               (*Server).opCancelKeyDeletion,
	"CreateAlias":                     (*Server).opCreateAlias,
	"CreateKey":                       (*Server).opCreateKey,
	"Decrypt":                         (*Server).opDecrypt,
	"DeleteAlias":                     (*Server).opDeleteAlias,
	"DescribeKey":                     (*Server).opDescribeKey,
	"DisableKey":                      (*Server).opDisableKey,
	"DisableKeyRotation":              (*Server).opDisableKeyRotation,
	"EnableKey":                       (*Server).opEnableKey,
	"EnableKeyRotation":               (*Server).opEnableKeyRotation,
	"Encrypt":                         (*Server).opEncrypt,
	"GenerateDataKey":                 (*Server).opGenerateDataKey,
	"GenerateDataKeyWithoutPlaintext": (*Server).opGenerateDataKeyWithoutPlaintext,
	"GetKeyRotationStatus":            (*Server).opGetKeyRotationStatus,
	"ListAliases":                     (*Server).opListAliases,
	"ListKeys":                        (*Server).opListKeys,
	"ReEncrypt":                       (*Server).opReEncrypt,
	"RotateKeyOnDemand":               (*Server).opRotateKeyOnDemand,
	"ScheduleKeyDeletion":             (*Server).opScheduleKeyDeletion,
	"UpdateAlias":                     (*Server).opUpdateAlias,
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, errorf(codeUnknownOperation, "%s %s is not a KMS operation", r.Method, r.URL.Path))
		return
	}
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	handler := operations[op]
	if handler == nil || !strings.HasPrefix(r.Header.Get("X-Amz-Target"), targetPrefix) {
		writeError(w, errorf(codeUnknownOperation, "unknown operation %q", r.Header.Get("X-Amz-Target")))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != contentType {
		writeError(w, errorf(codeSerialization, "content type must be %s", contentType))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, errorf(codeSerialization, "cannot read request body"))
		return
	}
	var req request
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, errorf(codeSerialization, "cannot parse request body"))
			return
		}
	}

	s.mu.Lock()
	delay, ok := s.delays[op]
	if !ok {
		delay = s.delays["*"]
	}
	s.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.closing:
			t.Stop()
			writeError(w, errorf("KMSInternalException", "server is closing"))
			return
		}
	}

	s.mu.Lock()
	call := Call{Op: op, KeyID: req.KeyId, GrantTokens: slices.Clone(req.GrantTokens), EncryptionContext: maps.Clone(req.EncryptionContext)}
	if op == "ReEncrypt" {
		call.KeyID, call.EncryptionContext = req.DestinationKeyId, maps.Clone(req.DestinationEncryptionContext)
		call.SourceKeyID = req.SourceKeyId
	}
	var resp any
	var apiErr *apiError
	if code := s.takeFault(op); code != "" {
		apiErr = errorf(code, "injected fault")
	} else {
		resp, apiErr = handler(s, &req)
	}
	if apiErr != nil {
		call.ErrorCode = apiErr.code
	} else if l, ok := s.lies[op]; ok {
		resp = lie(resp, l)
	}
	s.calls = append(s.calls, call)
	s.mu.Unlock()

	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// lie rewrites the key ids of a successful response as l says.
func lie(resp any, l Lie) any {
	b, err := json.Marshal(resp)
	if err != nil {
		return resp
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return resp
	}
	if _, ok := m["KeyId"]; ok && l.KeyID != "" {
		m["KeyId"] = l.KeyID
	}
	if _, ok := m["SourceKeyId"]; ok && l.SourceKeyID != "" {
		m["SourceKeyId"] = l.SourceKeyID
	}
	return m
}

// takeFault consumes the next injected fault for op. s.mu is held.
func (s *Server) takeFault(op string) string {
	for i, f := range s.faults {
		if f.op == op || f.op == "*" || f.op == "" {
			f.n--
			if f.n <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			return f.code
		}
	}
	for _, name := range []string{op, "*"} {
		if f := s.every[name]; f != nil {
			f.count++
			if f.count%f.n == 0 {
				return f.code
			}
			return ""
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"__type":"KMSInternalException","message":"cannot encode response"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", newUUID())
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, status(e.code), struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.msg})
}

// usable checks that k may be used for a cryptographic operation.
func usable(k *key) *apiError {
	if k.denied {
		return errorf(codeAccessDenied, "access to key '%s' is denied", k.arn)
	}
	switch k.state {
	case stateDisabled:
		return errorf(codeDisabled, "%s is disabled.", k.arn)
	case statePendingDeletion:
		return errorf(codeInvalidState, "%s is pending deletion.", k.arn)
	}
	return nil
}

// allowed checks only the key policy, for management operations.
func allowed(k *key) *apiError {
	if k.denied {
		return errorf(codeAccessDenied, "access to key '%s' is denied", k.arn)
	}
	return nil
}

func checkGrantTokens(t []string) *apiError {
	if len(t) > 10 {
		return errorf(codeValidation, "at most 10 grant tokens are allowed")
	}
	for _, g := range t {
		if g == "" || len(g) > 8192 {
			return errorf(codeValidation, "grant token length must be 1 to 8192")
		}
	}
	return nil
}

func checkAlgorithm(alg string) *apiError {
	if alg != "" && alg != symmetricDefault {
		return errorf(codeInvalidKeyUsage, "encryption algorithm %s is not valid for a symmetric key", alg)
	}
	return nil
}

// resolveUsable resolves id and checks the key can be used.
func (s *Server) resolveUsable(id string) (*key, *apiError) {
	k, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	if err := usable(k); err != nil {
		return nil, err
	}
	return k, nil
}

// --- cryptographic operations

type dataKeyOutput struct {
	KeyId          string
	Plaintext      []byte `json:",omitempty"`
	CiphertextBlob []byte
}

func (s *Server) generateDataKey(req *request, withPlaintext bool) (any, *apiError) {
	var n int
	switch {
	case req.KeySpec != "" && req.NumberOfBytes != nil:
		return nil, errorf(codeValidation, "KeySpec and NumberOfBytes are mutually exclusive")
	case req.KeySpec == "AES_256":
		n = 32
	case req.KeySpec == "AES_128":
		n = 16
	case req.KeySpec != "":
		return nil, errorf(codeValidation, "KeySpec must be AES_256 or AES_128")
	case req.NumberOfBytes == nil:
		return nil, errorf(codeValidation, "KeySpec or NumberOfBytes is required")
	case *req.NumberOfBytes < 1 || *req.NumberOfBytes > 1024:
		return nil, errorf(codeValidation, "NumberOfBytes must be 1 to 1024")
	default:
		n = *req.NumberOfBytes
	}
	if err := checkGrantTokens(req.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.resolveUsable(req.KeyId)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, errorf(codeDryRun, "the request would have succeeded")
	}
	pt := make([]byte, n)
	rand.Read(pt)
	out := dataKeyOutput{KeyId: k.arn, CiphertextBlob: seal(k, pt, req.EncryptionContext)}
	if withPlaintext {
		out.Plaintext = pt
	}
	return out, nil
}

func (s *Server) opGenerateDataKey(req *request) (any, *apiError) {
	return s.generateDataKey(req, true)
}

func (s *Server) opGenerateDataKeyWithoutPlaintext(req *request) (any, *apiError) {
	return s.generateDataKey(req, false)
}

func (s *Server) opEncrypt(req *request) (any, *apiError) {
	if len(req.Plaintext) < 1 || len(req.Plaintext) > 4096 {
		return nil, errorf(codeValidation, "Plaintext must be 1 to 4096 bytes")
	}
	if err := checkAlgorithm(req.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(req.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.resolveUsable(req.KeyId)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, errorf(codeDryRun, "the request would have succeeded")
	}
	return struct {
		KeyId               string
		CiphertextBlob      []byte
		EncryptionAlgorithm string
	}{k.arn, seal(k, req.Plaintext, req.EncryptionContext), symmetricDefault}, nil
}

// unseal decrypts blob for Decrypt and ReEncrypt. keyID, if not empty, must
// name the blob's key.
func (s *Server) unseal(blob []byte, ec map[string]string, keyID string) (*key, []byte, *apiError) {
	if len(blob) < 1 || len(blob) > 6144 {
		return nil, nil, errorf(codeValidation, "CiphertextBlob must be 1 to 6144 bytes")
	}
	var owner *key
	imp := s.imported[string(blob)]
	var parsed parsedBlob
	if imp != nil {
		owner = s.keys[imp.keyID]
	} else {
		p, ok := parseBlob(blob)
		if !ok {
			return nil, nil, errorf(codeInvalidCT, "the ciphertext is invalid")
		}
		parsed = p
		owner = s.keys[p.keyID]
		if owner == nil {
			return nil, nil, errorf(codeInvalidCT, "the ciphertext refers to a key that does not exist")
		}
	}
	if keyID != "" {
		want, err := s.resolve(keyID)
		if err != nil {
			return nil, nil, err
		}
		if want != owner {
			return nil, nil, errorf(codeIncorrectKey, "the key ID in the request does not identify the key that encrypted the ciphertext")
		}
	}
	if err := usable(owner); err != nil {
		return nil, nil, err
	}
	if imp != nil {
		if !maps.Equal(imp.context, ec) {
			return nil, nil, errorf(codeInvalidCT, "the ciphertext or its encryption context is invalid")
		}
		return owner, slices.Clone(imp.plaintext), nil
	}
	pt, ok := open(owner, parsed, ec)
	if !ok {
		return nil, nil, errorf(codeInvalidCT, "the ciphertext or its encryption context is invalid")
	}
	return owner, pt, nil
}

func (s *Server) opDecrypt(req *request) (any, *apiError) {
	if err := checkAlgorithm(req.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(req.GrantTokens); err != nil {
		return nil, err
	}
	k, pt, err := s.unseal(req.CiphertextBlob, req.EncryptionContext, req.KeyId)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		clear(pt)
		return nil, errorf(codeDryRun, "the request would have succeeded")
	}
	return struct {
		KeyId               string
		Plaintext           []byte
		EncryptionAlgorithm string
	}{k.arn, pt, symmetricDefault}, nil
}

func (s *Server) opReEncrypt(req *request) (any, *apiError) {
	if err := checkAlgorithm(req.SourceEncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(req.DestinationEncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(req.GrantTokens); err != nil {
		return nil, err
	}
	if req.DestinationKeyId == "" {
		return nil, errorf(codeValidation, "DestinationKeyId is required")
	}
	src, pt, err := s.unseal(req.CiphertextBlob, req.SourceEncryptionContext, req.SourceKeyId)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	dst, err := s.resolveUsable(req.DestinationKeyId)
	if err != nil {
		return nil, err
	}
	if req.DryRun {
		return nil, errorf(codeDryRun, "the request would have succeeded")
	}
	return struct {
		CiphertextBlob                 []byte
		SourceKeyId                    string
		KeyId                          string
		SourceEncryptionAlgorithm      string
		DestinationEncryptionAlgorithm string
	}{seal(dst, pt, req.DestinationEncryptionContext), src.arn, dst.arn, symmetricDefault, symmetricDefault}, nil
}

// --- key management

type keyMetadata struct {
	AWSAccountId          string
	KeyId                 string
	Arn                   string
	CreationDate          float64
	Enabled               bool
	Description           string
	KeyUsage              string
	KeyState              string
	DeletionDate          *float64 `json:",omitempty"`
	Origin                string
	KeyManager            string
	CustomerMasterKeySpec string
	KeySpec               string
	EncryptionAlgorithms  []string
	MultiRegion           bool
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func metadataOf(k *key) keyMetadata {
	account := Account
	if parts := strings.SplitN(k.arn, ":", 6); len(parts) == 6 {
		account = parts[4]
	}
	m := keyMetadata{
		AWSAccountId:          account,
		KeyId:                 k.id,
		Arn:                   k.arn,
		CreationDate:          epoch(k.created),
		Enabled:               k.state == stateEnabled,
		Description:           k.description,
		KeyUsage:              "ENCRYPT_DECRYPT",
		KeyState:              k.state,
		Origin:                "AWS_KMS",
		KeyManager:            "CUSTOMER",
		CustomerMasterKeySpec: symmetricDefault,
		KeySpec:               symmetricDefault,
		EncryptionAlgorithms:  []string{symmetricDefault},
	}
	if k.state == statePendingDeletion {
		d := epoch(k.deletion)
		m.DeletionDate = &d
	}
	return m
}

type keyMetadataOutput struct{ KeyMetadata keyMetadata }

func (s *Server) opCreateKey(req *request) (any, *apiError) {
	if req.KeyUsage != "" && req.KeyUsage != "ENCRYPT_DECRYPT" {
		return nil, errorf(codeUnsupported, "only ENCRYPT_DECRYPT keys are supported")
	}
	for _, spec := range []string{req.KeySpec, req.CustomerMasterKeySpec} {
		if spec != "" && spec != symmetricDefault {
			return nil, errorf(codeUnsupported, "only SYMMETRIC_DEFAULT keys are supported")
		}
	}
	if req.Origin != "" && req.Origin != "AWS_KMS" {
		return nil, errorf(codeUnsupported, "only AWS_KMS origin is supported")
	}
	if len(req.Description) > 8192 {
		return nil, errorf(codeValidation, "Description is too long")
	}
	k := newKey()
	k.description = req.Description
	s.keys[k.id] = k
	return keyMetadataOutput{metadataOf(k)}, nil
}

func (s *Server) opDescribeKey(req *request) (any, *apiError) {
	k, err := s.resolve(req.KeyId)
	if err != nil {
		return nil, err
	}
	if err := allowed(k); err != nil {
		return nil, err
	}
	return keyMetadataOutput{metadataOf(k)}, nil
}

func (s *Server) opListKeys(req *request) (any, *apiError) {
	type entry struct{ KeyId, KeyArn string }
	out := struct {
		Keys      []entry
		Truncated bool
	}{Keys: []entry{}}
	for _, id := range slices.Sorted(maps.Keys(s.keys)) {
		out.Keys = append(out.Keys, entry{id, s.keys[id].arn})
	}
	return out, nil
}

// managedKey resolves id for a management operation that changes the key.
func (s *Server) managedKey(id string) (*key, *apiError) {
	k, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	return k, allowed(k)
}

// liveKey is managedKey for operations that a key pending deletion
// refuses (KMSInvalidStateException).
func (s *Server) liveKey(id string) (*key, *apiError) {
	k, err := s.managedKey(id)
	if err != nil {
		return nil, err
	}
	if k.state == statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is pending deletion.", k.arn)
	}
	return k, nil
}

func (s *Server) opEnableKey(req *request) (any, *apiError) {
	k, err := s.liveKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.state = stateEnabled
	return struct{}{}, nil
}

func (s *Server) opDisableKey(req *request) (any, *apiError) {
	k, err := s.liveKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.state = stateDisabled
	return struct{}{}, nil
}

func (s *Server) opScheduleKeyDeletion(req *request) (any, *apiError) {
	days := 30
	if req.PendingWindowInDays != nil {
		days = *req.PendingWindowInDays
		if days < 7 || days > 30 {
			return nil, errorf(codeValidation, "PendingWindowInDays must be 7 to 30")
		}
	}
	k, err := s.liveKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.state = statePendingDeletion
	k.deletion = time.Now().Add(time.Duration(days) * 24 * time.Hour)
	return struct {
		KeyId               string
		DeletionDate        float64
		KeyState            string
		PendingWindowInDays int
	}{k.arn, epoch(k.deletion), k.state, days}, nil
}

func (s *Server) opCancelKeyDeletion(req *request) (any, *apiError) {
	k, err := s.managedKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	if k.state != statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is not pending deletion.", k.arn)
	}
	k.state = stateDisabled
	return struct{ KeyId string }{k.arn}, nil
}

// rotatableKey resolves id for a rotation operation.
func (s *Server) rotatableKey(id string) (*key, *apiError) {
	k, err := s.resolve(id)
	if err != nil {
		return nil, err
	}
	return k, usable(k)
}

func (s *Server) opEnableKeyRotation(req *request) (any, *apiError) {
	days := 365
	if req.RotationPeriodInDays != nil {
		days = *req.RotationPeriodInDays
		if days < 90 || days > 2560 {
			return nil, errorf(codeValidation, "RotationPeriodInDays must be 90 to 2560")
		}
	}
	k, err := s.rotatableKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.rotation, k.rotationDay = true, int32(days)
	return struct{}{}, nil
}

func (s *Server) opDisableKeyRotation(req *request) (any, *apiError) {
	k, err := s.rotatableKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.rotation = false
	return struct{}{}, nil
}

func (s *Server) opGetKeyRotationStatus(req *request) (any, *apiError) {
	k, err := s.managedKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	out := struct {
		KeyId                string
		KeyRotationEnabled   bool
		RotationPeriodInDays *int32 `json:",omitempty"`
	}{KeyId: k.arn, KeyRotationEnabled: k.rotation}
	if k.rotation {
		d := k.rotationDay
		out.RotationPeriodInDays = &d
	}
	return out, nil
}

func (s *Server) opRotateKeyOnDemand(req *request) (any, *apiError) {
	k, err := s.rotatableKey(req.KeyId)
	if err != nil {
		return nil, err
	}
	k.versions = append(k.versions, newBackingKey())
	return struct{ KeyId string }{k.id}, nil
}

// --- aliases

var aliasName = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`)

func checkAliasName(name string) *apiError {
	if !aliasName.MatchString(name) {
		return errorf(codeValidation, "alias name must match alias/[a-zA-Z0-9/_-]+")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errorf(codeInvalidAlias, "alias names beginning with alias/aws/ are reserved")
	}
	return nil
}

// aliasTarget resolves the target of CreateAlias or UpdateAlias: a key id
// or key ARN, never an alias.
func (s *Server) aliasTarget(id string) (*key, *apiError) {
	if strings.HasPrefix(id, "alias/") {
		return nil, errorf(codeValidation, "an alias cannot point to another alias")
	}
	if _, ok := aliasFromARN(id); ok {
		return nil, errorf(codeValidation, "an alias cannot point to another alias")
	}
	k, err := s.managedKey(id)
	if err != nil {
		return nil, err
	}
	if k.state == statePendingDeletion {
		return nil, errorf(codeInvalidState, "%s is pending deletion.", k.arn)
	}
	return k, nil
}

func (s *Server) createAlias(name, target string) *apiError {
	if err := checkAliasName(name); err != nil {
		return err
	}
	k, err := s.aliasTarget(target)
	if err != nil {
		return err
	}
	if s.aliases[name] != nil {
		return errorf(codeAlreadyExists, "alias %s already exists", AliasARN(name))
	}
	now := time.Now()
	s.aliases[name] = &alias{name: name, target: k.id, created: now, updated: now}
	return nil
}

func (s *Server) updateAlias(name, target string) *apiError {
	a := s.aliases[name]
	if a == nil {
		return errorf(codeNotFound, "alias %s is not found", AliasARN(name))
	}
	k, err := s.aliasTarget(target)
	if err != nil {
		return err
	}
	a.target, a.updated = k.id, time.Now()
	return nil
}

func (s *Server) deleteAlias(name string) *apiError {
	if s.aliases[name] == nil {
		return errorf(codeNotFound, "alias %s is not found", AliasARN(name))
	}
	delete(s.aliases, name)
	return nil
}

func (s *Server) opCreateAlias(req *request) (any, *apiError) {
	if err := s.createAlias(req.AliasName, req.TargetKeyId); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) opUpdateAlias(req *request) (any, *apiError) {
	if err := s.updateAlias(req.AliasName, req.TargetKeyId); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) opDeleteAlias(req *request) (any, *apiError) {
	if err := s.deleteAlias(req.AliasName); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) opListAliases(req *request) (any, *apiError) {
	limit := 50
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > 100 {
			return nil, errorf(codeValidation, "Limit must be 1 to 100")
		}
	}
	var filter *key
	if req.KeyId != "" {
		k, err := s.resolve(req.KeyId)
		if err != nil {
			return nil, err
		}
		filter = k
	}
	start := 0
	if req.Marker != "" {
		n, err := strconv.Atoi(req.Marker)
		if err != nil || n < 0 {
			return nil, errorf(codeInvalidMarker, "invalid marker")
		}
		start = n
	}
	type entry struct {
		AliasName       string
		AliasArn        string
		TargetKeyId     string
		CreationDate    float64
		LastUpdatedDate float64
	}
	var all []entry
	for _, name := range slices.Sorted(maps.Keys(s.aliases)) {
		a := s.aliases[name]
		if filter != nil && a.target != filter.id {
			continue
		}
		all = append(all, entry{name, AliasARN(name), a.target, epoch(a.created), epoch(a.updated)})
	}
	out := struct {
		Aliases    []entry
		Truncated  bool
		NextMarker string `json:",omitempty"`
	}{Aliases: []entry{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		out.Aliases = all[start:end]
		if end < len(all) {
			out.Truncated, out.NextMarker = true, strconv.Itoa(end)
		}
	}
	return out, nil
}
