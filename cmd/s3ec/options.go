package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/materials"
)

// awsFlags are the AWS connection settings.
type awsFlags struct {
	profile, region, endpoint string
	pathStyle                 bool
	// client is the last S3 client made, with which a failed command's
	// error is explained (explainNotFound).
	client *s3.Client
}

func (a *awsFlags) register(fs *flagSet) {
	fs.group("AWS")
	fs.stringVar(&a.profile, "profile", "use the named `PROFILE` of the shared config files (default: $AWS_PROFILE, or default)")
	fs.stringVar(&a.region, "region", "the AWS `REGION` (default: $AWS_REGION or the profile's; us-east-1 if none)")
	fs.stringVar(&a.endpoint, "endpoint-url", "send S3 requests to `URL` (MinIO and other S3-compatible stores); default: $AWS_ENDPOINT_URL_S3, else $AWS_ENDPOINT_URL")
	fs.boolVar(&a.pathStyle, "path-style", "address buckets in the path (http://host/bucket/key), as most S3-compatible stores need")
	fs.explain = append(fs.explain, func(ctx context.Context, err error) error {
		return a.explainNotFound(ctx, err, fs.cmd.name, fs.fs.Lookup("recursive") != nil)
	})
}

// errNoCredentials is the class of a configuration that names no AWS
// credentials at all.
var errNoCredentials = errors.New("unable to locate AWS credentials (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run 'aws configure'; on EC2, attach an instance role)")

// load reads the AWS configuration: environment variables, shared config
// and credentials files, and the flags. It retrieves the credentials (once:
// the requests reuse them), so that missing ones are one clear error
// before anything is read or written.
func (a *awsFlags) load(ctx context.Context) (aws.Config, error) {
	// The SDK would log to stderr (that a response carries no checksum to
	// validate, or "falling back to IMDSv1" on the way to the instance
	// role); stderr is for s3ec's own one-line errors. The logger is
	// given before the configuration is loaded, so that the clients it
	// makes (the instance metadata one) log nothing either.
	opts := []func(*config.LoadOptions) error{config.WithLogger(logging.Nop{})}
	if a.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
	}
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		// As the AWS CLI does for S3; S3-compatible stores mostly ignore it.
		cfg.Region = "us-east-1"
	}
	cfg.Logger = logging.Nop{}
	if cfg.Credentials == nil {
		return aws.Config{}, errNoCredentials
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		switch {
		case ctx.Err() != nil:
			return aws.Config{}, err
		case aws.IsCredentialsProvider(cfg.Credentials, (*ec2rolecreds.Provider)(nil)):
			// The last resort of the SDK's chain: neither the
			// environment nor a profile named credentials, and there is
			// no instance role either.
			return aws.Config{}, errNoCredentials
		}
		return aws.Config{}, fmt.Errorf("AWS credentials: %w", err)
	}
	return cfg, nil
}

// s3Client returns a plain S3 client for cfg and the flags; with a progress
// reporter, the bytes of request bodies are counted (see progress.go).
func (a *awsFlags) s3Client(cfg aws.Config, p *progress) *s3.Client {
	a.client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if a.endpoint != "" {
			o.BaseEndpoint = aws.String(a.endpoint)
		}
		o.UsePathStyle = a.pathStyle
		if p.enabled() {
			o.HTTPClient = &countingHTTPClient{base: o.HTTPClient}
		}
	})
	return a.client
}

// keyringFlags choose a keyring. The flags of rotate's new keyring are
// the same with the prefix "to-".
type keyringFlags struct {
	title string // of the flags' group in the help; a default if empty
	// role, if set, is the one use of the keyring, in whose terms the help
	// describes its flags: keyDecrypt (reading) or keyEncrypt (writing).
	role         keyUse
	prefix       string // of the flag names: "" or "to-"
	kmsKey       string
	kmsDiscovery bool
	kmsAllow     []string
	kmsEndpoint  string
	aesKeyFile   string
	rsaPrivate   string
	rsaPublic    string
	matDesc      map[string]string // material description of local keys
	// kmsOpts are applied to the KMS client (a request-rate limit).
	kmsOpts []func(*kms.Options)
	// kms is the KMS client, once made: a reading and a writing keyring
	// share one, and so its rate limit.
	kms *kms.Client
}

// flag returns how a flag is spelled on the command line.
func (k *keyringFlags) flag(name string) string { return "--" + k.prefix + name }

func (k *keyringFlags) register(fs *flagSet) {
	if k.title == "" {
		k.title = "Keyring (exactly one)"
	}
	fs.group(k.title)
	switch k.role {
	case keyDecrypt:
		// Described in reading terms: the keyring decrypts objects.
		fs.stringVar(&k.kmsKey, "kms-key", "decrypt the data keys with the AWS KMS key `ID` (key id, key ARN, alias/NAME or alias ARN)")
		fs.boolVar(&k.kmsDiscovery, "kms-discovery", "decrypt with whichever KMS key wrapped each object's data key (limit it with --kms-allow)")
		k.registerAllow(fs)
		fs.stringVar(&k.aesKeyFile, "aes-key-file", "decrypt with the local AES key in `FILE` (32 raw bytes, 's3ec keygen aes', or a key in base64)")
		fs.stringVar(&k.rsaPrivate, "rsa-private-key", "decrypt with the RSA private key in the PEM or DER `FILE` (PKCS #8 or #1)")
		fs.funcVar("material-description", "with a local key, an entry `KEY=VALUE` of the material description the objects were written with, by which the key is chosen (repeatable)", pairFlag(&k.matDesc))
	case keyEncrypt:
		// Described in writing terms: the keyring wraps new data keys.
		fs.stringVar(&k.kmsKey, "kms-key", "wrap the new data keys with the AWS KMS key `ID` (key id, key ARN, alias/NAME or alias ARN)")
		fs.stringVar(&k.aesKeyFile, "aes-key-file", "wrap the new data keys with the local AES key in `FILE` (32 raw bytes, 's3ec keygen aes', or a key in base64)")
		fs.stringVar(&k.rsaPrivate, "rsa-private-key", "wrap the new data keys with the RSA key pair whose private key is in the PEM or DER `FILE`")
		fs.stringVar(&k.rsaPublic, "rsa-public-key", "wrap the new data keys with the RSA public key in `FILE` (PKIX, PKCS #1 or certificate)")
		fs.funcVar("material-description", "with a local key, store the entry `KEY=VALUE` in the objects' material description, by which readers choose their key (repeatable)", pairFlag(&k.matDesc))
	default:
		fs.stringVar(&k.kmsKey, "kms-key", "wrap data keys with the AWS KMS key `ID` (key id, key ARN, alias/NAME or alias ARN)")
		fs.boolVar(&k.kmsDiscovery, "kms-discovery", "decrypt with whichever KMS key wrapped the object's data key (decrypt only)")
		k.registerAllow(fs)
		fs.stringVar(&k.aesKeyFile, "aes-key-file", "a local AES key: `FILE` holds 32 raw bytes ('s3ec keygen aes') or a key in base64")
		fs.stringVar(&k.rsaPrivate, "rsa-private-key", "a local RSA key pair: the private key in PEM or DER `FILE` (PKCS #8 or #1)")
		fs.stringVar(&k.rsaPublic, "rsa-public-key", "an RSA public key `FILE` (PKIX, PKCS #1 or certificate); alone it can only encrypt")
		fs.funcVar("material-description", "with a local key, store the entry `KEY=VALUE` in new objects' material description, by which readers choose their key (repeatable)", pairFlag(&k.matDesc))
	}
	fs.stringVar(&k.kmsEndpoint, "kms-endpoint-url", "send KMS requests to `URL` (LocalStack, test servers); also $AWS_ENDPOINT_URL_KMS")
}

func (k *keyringFlags) registerAllow(fs *flagSet) {
	fs.funcVar("kms-allow", "with --kms-discovery, accept only the KMS key `ARN` (repeatable)", func(s string) error {
		k.kmsAllow = append(k.kmsAllow, s)
		return nil
	})
}

// registerTarget registers the flags of a keyring that only wraps keys:
// rotate's new keyring.
func (k *keyringFlags) registerTarget(fs *flagSet, title string) {
	k.prefix = "to-"
	fs.group(title)
	fs.stringVar(&k.kmsKey, "to-kms-key", "move data keys to the AWS KMS key `ID` (key id, key ARN, alias/NAME or alias ARN)")
	fs.stringVar(&k.aesKeyFile, "to-aes-key-file", "move data keys to the local AES key in `FILE`")
	fs.stringVar(&k.rsaPublic, "to-rsa-public-key", "move data keys to the RSA key pair whose public key is in `FILE`")
	fs.funcVar("to-material-description", "with a new local key, the entry `KEY=VALUE` of its material description, which must differ from the current key's (repeatable)", pairFlag(&k.matDesc))
}

// local names the kind of a local keyring: "AES", "RSA", or "" for KMS.
func (k *keyringFlags) local() string {
	switch {
	case k.aesKeyFile != "":
		return "AES"
	case k.rsaPrivate != "" || k.rsaPublic != "":
		return "RSA"
	}
	return ""
}

// pairFlag returns the parser of a repeatable KEY=VALUE flag that fills m.
func pairFlag(m *map[string]string) func(string) error {
	return func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want KEY=VALUE")
		}
		if *m == nil {
			*m = map[string]string{}
		}
		if _, dup := (*m)[k]; dup {
			return fmt.Errorf("key %q given twice", k)
		}
		(*m)[k] = v
		return nil
	}
}

// keyUse says what a command does with its keyring.
type keyUse int

const (
	keyEncrypt keyUse = 1 << iota
	keyDecrypt
)

// check reports flag combinations that cannot work for use.
func (k *keyringFlags) check(use keyUse) error {
	n := 0
	for _, set := range []bool{k.kmsKey != "", k.kmsDiscovery, k.aesKeyFile != "", k.rsaPrivate != "" || k.rsaPublic != ""} {
		if set {
			n++
		}
	}
	var choices string
	switch {
	case k.prefix == "" && k.role == keyDecrypt:
		choices = "--kms-key, --kms-discovery, --aes-key-file or --rsa-private-key"
	case k.prefix == "" && k.role == keyEncrypt:
		choices = "--kms-key, --aes-key-file or --rsa-public-key/--rsa-private-key"
	case k.prefix == "":
		choices = "--kms-key, --kms-discovery, --aes-key-file or --rsa-private-key/--rsa-public-key"
	default:
		choices = k.flag("kms-key") + ", " + k.flag("aes-key-file") + " or " + k.flag("rsa-public-key")
	}
	switch {
	case n == 0 && k.prefix == "":
		return usagef("a keyring is needed: %s", choices)
	case n == 0:
		return usagef("a new keyring is needed: %s", choices)
	case n > 1:
		return usagef("give only one of %s", choices)
	case len(k.kmsAllow) > 0 && !k.kmsDiscovery:
		return usagef("--kms-allow needs --kms-discovery")
	case k.kmsDiscovery && use&keyEncrypt != 0:
		return usagef("--kms-discovery can only decrypt; encrypt with --kms-key")
	case k.rsaPublic != "" && k.rsaPrivate == "" && use&keyDecrypt != 0:
		return usagef("--rsa-public-key alone can only encrypt; decrypt with --rsa-private-key")
	case len(k.matDesc) > 0 && k.local() == "":
		return usagef("%s is for local keys (AES, RSA); with KMS use an encryption context", k.flag("material-description"))
	}
	return nil
}

// isKMS reports a KMS keyring.
func (k *keyringFlags) isKMS() bool { return k.kmsKey != "" || k.kmsDiscovery }

// keyring builds the keyring the flags name, which check accepted. Key
// files that cannot be used are key errors.
func (k *keyringFlags) keyring(cfg aws.Config, legacyWrapping bool) (materials.Keyring, error) {
	switch {
	case k.kmsKey != "":
		kr, err := materials.NewKMSKeyring(k.kmsClient(cfg), k.kmsKey, func(o *materials.KMSKeyringOptions) {
			o.EnableLegacyWrapping = legacyWrapping
		})
		if err != nil {
			return nil, usagef("%s: %v", k.flag("kms-key"), err)
		}
		return kr, nil
	case k.kmsDiscovery:
		kr, err := materials.NewKMSDiscoveryKeyring(k.kmsClient(cfg), func(o *materials.KMSDiscoveryOptions) {
			o.AllowedKeyARNs = k.kmsAllow
			o.EnableLegacyWrapping = legacyWrapping
		})
		if err != nil {
			return nil, usagef("--kms-allow: %v", err)
		}
		return kr, nil
	case k.aesKeyFile != "":
		key, err := readAESKey(k.aesKeyFile)
		if err != nil {
			return nil, keyError(fmt.Errorf("%s: %w", k.flag("aes-key-file"), err))
		}
		defer clear(key)
		kr, err := materials.NewAESKeyring(key, func(o *materials.AESKeyringOptions) {
			o.MaterialDescription = k.matDesc
			o.EnableLegacyWrapping = legacyWrapping
		})
		if err != nil {
			return nil, keyError(fmt.Errorf("%s %s: %w", k.flag("aes-key-file"), k.aesKeyFile, err))
		}
		return kr, nil
	default:
		return k.rsaKeyring(legacyWrapping)
	}
}

func (k *keyringFlags) kmsClient(cfg aws.Config) *kms.Client {
	if k.kms != nil {
		return k.kms
	}
	opts := append([]func(*kms.Options){func(o *kms.Options) {
		if k.kmsEndpoint != "" {
			o.BaseEndpoint = aws.String(k.kmsEndpoint)
		}
	}}, k.kmsOpts...)
	k.kms = kms.NewFromConfig(cfg, opts...)
	return k.kms
}

func (k *keyringFlags) rsaKeyring(legacyWrapping bool) (materials.Keyring, error) {
	var pub *rsa.PublicKey
	var priv *rsa.PrivateKey
	if k.rsaPublic != "" {
		b, err := readKeyFile(k.rsaPublic)
		if err != nil {
			return nil, keyError(fmt.Errorf("%s: %w", k.flag("rsa-public-key"), err))
		}
		if pub, err = materials.ParseRSAPublicKey(b); err != nil {
			return nil, keyError(fmt.Errorf("%s %s: %w", k.flag("rsa-public-key"), k.rsaPublic, err))
		}
	}
	if k.rsaPrivate != "" {
		b, err := readKeyFile(k.rsaPrivate)
		if err != nil {
			return nil, keyError(fmt.Errorf("%s: %w", k.flag("rsa-private-key"), err))
		}
		priv, err = materials.ParseRSAPrivateKey(b)
		clear(b)
		if err != nil {
			return nil, keyError(fmt.Errorf("%s %s: %w", k.flag("rsa-private-key"), k.rsaPrivate, err))
		}
	}
	kr, err := materials.NewRSAKeyring(pub, priv, func(o *materials.RSAKeyringOptions) {
		o.MaterialDescription = k.matDesc
		o.EnableLegacyWrapping = legacyWrapping
	})
	if err != nil {
		return nil, keyError(err)
	}
	return kr, nil
}

// readAESKey reads an AES key file: 32 raw bytes (what keygen writes), or
// the standard base64 encoding of a 16-, 24- or 32-byte key, surrounding
// white space ignored.
func readAESKey(path string) ([]byte, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 32 {
		return b, nil
	}
	defer clear(b)
	text := bytes.TrimSpace(b)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(key, text)
	if err == nil {
		switch n {
		case 16, 24, 32:
			return key[:n], nil
		}
	}
	clear(key)
	return nil, fmt.Errorf("%s is not an AES key: want 32 raw bytes, or a 16-, 24- or 32-byte key in base64", path)
}

// maxKeyFile bounds what readKeyFile reads: far more than any key file
// (an RSA-16384 private key in PEM is about 13 KB).
const maxKeyFile = 64 << 10

// readKeyFile reads the key file at path, which may be a pipe or device
// (/dev/stdin): at most maxKeyFile bytes, into one buffer (so that no
// copy of the key is left behind as it grows), or an error that says the
// file is too large. The caller clears what it returns.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxKeyFile+1)
	n, err := io.ReadFull(f, b)
	switch {
	case n > maxKeyFile:
		clear(b)
		return nil, fmt.Errorf("%s is larger than %d KiB: not a key file", path, maxKeyFile>>10)
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		clear(b)
		return nil, err
	}
	return b[:n], nil
}

// cryptoFlags are the encryption client's options and the encryption
// context.
type cryptoFlags struct {
	context         map[string]string
	policy          string
	legacyUnauth    bool
	legacyWrapping  bool
	instructionFile bool
	suffix          string
	// stream enables delayed authentication where a command offers it.
	stream bool
	// spool authenticates objects over the in-memory limit through a
	// temporary file of ciphertext in spoolDir (cryptoSpool commands).
	spool    bool
	spoolDir string
	// role is the one use of the command's keyring, if it has one: the
	// help describes --context in its terms (reading or writing).
	role keyUse
}

// cryptoFlagSet says which of the cryptoFlags a command offers.
type cryptoFlagSet int

const (
	cryptoPolicy       cryptoFlagSet = 1 << iota // --policy
	cryptoWrite                                  // --instruction-file
	cryptoLegacyUnauth                           // --legacy-unauthenticated
	cryptoSpool                                  // --spool-dir: objects to stdout of any size
)

func (c *cryptoFlags) register(fs *flagSet, which cryptoFlagSet) {
	c.policy = "require"
	c.suffix = envelope.DefaultInstructionSuffix
	fs.group("Encryption")
	contextUsage := "encryption context entry `KEY=VALUE` (repeatable; KMS keyrings only): bound to the data key on upload, required to match on download"
	switch c.role {
	case keyDecrypt:
		contextUsage = "an entry `KEY=VALUE` of the encryption context the objects were written with (repeatable; KMS keyrings only): an object whose context differs is refused"
	case keyEncrypt:
		contextUsage = "bind the new data keys to the encryption context entry `KEY=VALUE` (repeatable; KMS keyrings only): readers must give the same context"
	}
	fs.funcVar("context", contextUsage, pairFlag(&c.context))
	if which&cryptoPolicy != 0 {
		fs.stringVar(&c.policy, "policy", "key commitment `POLICY`: require (write and read only key-committing V3 objects), allow (write V3, also read V2), forbid (write V2 for old readers, read all), or a policy's full name such as REQUIRE_ENCRYPT_ALLOW_DECRYPT")
	}
	if which&cryptoLegacyUnauth != 0 {
		fs.boolVar(&c.legacyUnauth, "legacy-unauthenticated", "read legacy AES-CBC objects, which have no integrity protection (needs --policy allow or forbid)")
	}
	fs.boolVar(&c.legacyWrapping, "legacy-wrapping", "unwrap data keys of legacy wrap algorithms (kms, AESWrap, RSA-OAEP-SHA256, V1 AES and RSA)")
	if which&cryptoWrite != 0 {
		fs.boolVar(&c.instructionFile, "instruction-file", "store the envelope in an instruction file (KEY + suffix) instead of the object's metadata")
	}
	fs.stringVar(&c.suffix, "instruction-suffix", "name instruction files KEY + `SUFFIX`")
	if which&cryptoSpool != 0 {
		c.spool = true
		fs.stringVar(&c.spoolDir, "spool-dir", "authenticate objects over 64 MiB through a temporary file of ciphertext (mode 0600, removed at once) in `DIR` before writing them; default $TMPDIR or /tmp")
	}
}

// options returns the encryption client's options.
func (c *cryptoFlags) options() (func(*encryptionclient.Options), error) {
	var p envelope.CommitmentPolicy
	switch c.policy {
	case "require":
		p = envelope.RequireEncryptRequireDecrypt
	case "allow":
		p = envelope.RequireEncryptAllowDecrypt
	case "forbid":
		p = envelope.ForbidEncryptAllowDecrypt
	default:
		var err error
		if p, err = envelope.ParseCommitmentPolicy(c.policy); err != nil {
			return nil, usagef("--policy %q: want require, allow or forbid (or a policy's full name, such as REQUIRE_ENCRYPT_ALLOW_DECRYPT)", c.policy)
		}
	}
	if c.legacyUnauth && p == envelope.RequireEncryptRequireDecrypt {
		return nil, usagef("--legacy-unauthenticated needs --policy allow or forbid (legacy objects do not commit to their key)")
	}
	if c.suffix == "" {
		return nil, usagef("--instruction-suffix must not be empty")
	}
	if c.stream && c.spoolDir != "" {
		// As the library refuses a SpoolDir that nothing would use.
		return nil, usagef("--spool-dir has no effect with --stream (a streamed object is not spooled); give one or the other")
	}
	return func(o *encryptionclient.Options) {
		o.CommitmentPolicy = p
		o.EnableLegacyUnauthenticatedModes = c.legacyUnauth
		o.EnableDelayedAuthentication = c.stream
		if c.spool && !c.stream {
			o.SpoolLargeObjects = true
			o.SpoolDir = c.spoolDir
		}
		o.InstructionFileSuffix = c.suffix
		if c.instructionFile {
			o.EnvelopeStorage = encryptionclient.StoreInstructionFile
		}
	}, nil
}

// withContext returns ctx carrying the encryption context of the flags.
func (c *cryptoFlags) withContext(ctx context.Context) context.Context {
	if len(c.context) == 0 {
		return ctx
	}
	return encryptionclient.WithEncryptionContext(ctx, c.context)
}

// clientFlags are everything a command that encrypts or decrypts needs.
type clientFlags struct {
	aws     awsFlags
	keyring keyringFlags
	crypto  cryptoFlags
}

func (f *clientFlags) register(fs *flagSet, which cryptoFlagSet) {
	f.crypto.role = f.keyring.role
	f.crypto.register(fs, which)
	f.keyring.register(fs)
	f.aws.register(fs)
}

// clients holds what a command works with.
type clients struct {
	cfg   aws.Config
	enc   *encryptionclient.Client
	plain *s3.Client // for listing and inspection; never for object bodies
	// keyring is the encryption client's keyring.
	keyring materials.Keyring
}

// connect builds the clients. A --context needs a KMS keyring: the local
// keyrings cannot bind one.
func (f *clientFlags) connect(ctx context.Context, p *progress, use keyUse) (*clients, error) {
	optFn, err := f.crypto.options()
	if err != nil {
		return nil, err
	}
	if err := f.keyring.check(use); err != nil {
		return nil, err
	}
	if len(f.crypto.context) > 0 && !f.keyring.isKMS() {
		return nil, usagef("--context needs a KMS keyring (--kms-key or --kms-discovery): local keys cannot bind an encryption context")
	}
	cfg, err := f.aws.load(ctx)
	if err != nil {
		return nil, err
	}
	kr, err := f.keyring.keyring(cfg, f.crypto.legacyWrapping)
	if err != nil {
		return nil, err
	}
	plain := f.aws.s3Client(cfg, p)
	enc, err := encryptionclient.New(plain, kr, optFn)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return &clients{cfg: cfg, enc: enc, plain: plain, keyring: kr}, nil
}
