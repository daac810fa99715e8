package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/s3ec/s3ec-go/materials"
)

var keygenCommand = &command{
	name:     "keygen",
	synopsis: "s3ec keygen aes FILE | s3ec keygen rsa [--bits N] PREFIX",
	summary:  "generate a local AES key file or RSA key pair",
	help: `
Generate a key for the local keyrings.

  s3ec keygen aes FILE     32 random bytes (an AES-256 key) in FILE, mode 0600;
                           use it with --aes-key-file FILE
  s3ec keygen rsa PREFIX   an RSA key pair: PREFIX.pem (private key, PKCS #8
                           PEM, mode 0600) and PREFIX.pub.pem (public key, PKIX
                           PEM); use them with --rsa-private-key PREFIX.pem,
                           or --rsa-public-key PREFIX.pub.pem to encrypt only

keygen never overwrites a file. Keep the keys secret and keep a copy: what
was encrypted under a lost key cannot be decrypted.`,
	define: defineKeygen,
}

func defineKeygen(fs *flagSet) func(context.Context, *env, []string) error {
	bits := 3072
	fs.intVar(&bits, "bits", "the size of an RSA key, in `BITS`: 2048, 3072 or 4096")

	return func(ctx context.Context, e *env, args []string) error {
		switch {
		case len(args) != 2:
			return argCountError("keygen", "aes FILE, or rsa PREFIX", 2, len(args))
		case args[0] != "aes" && args[0] != "rsa":
			return usagef("keygen: unknown key kind %q: want aes FILE or rsa PREFIX (see 's3ec keygen --help')", args[0])
		}
		if args[1] == "" || args[1] == "-" {
			return usagef("keygen writes keys to files only")
		}
		if args[0] == "aes" {
			if err := keygenAES(args[1]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s: a 256-bit AES key (mode 0600)\n", args[1])
			return nil
		}
		switch bits {
		case 2048, 3072, 4096:
		default:
			return usagef("--bits %d: want 2048, 3072 or 4096", bits)
		}
		priv, pub := args[1]+".pem", args[1]+".pub.pem"
		if err := keygenRSA(priv, pub, bits); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (private key, mode 0600) and %s (public key): RSA-%d\n", priv, pub, bits)
		return nil
	}
}

func keygenAES(path string) error {
	key := make([]byte, 32)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	return writeNewFile(path, key, 0o600)
}

func keygenRSA(privPath, pubPath string, bits int) error {
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return existsError(p)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(privPEM)
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	// The keyring checks what a user's key file would be checked for.
	if _, err := materials.NewRSAKeyring(nil, key); err != nil {
		return err
	}
	if err := writeNewFile(privPath, privPEM, 0o600); err != nil {
		return err
	}
	if err := writeNewFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privPath)
		return err
	}
	return nil
}

func existsError(path string) error {
	return &codedError{code: exitOther, err: fmt.Errorf("%s exists; keygen does not overwrite keys", path)}
}

// writeNewFile writes data to a new file with exactly the permissions perm;
// it refuses to replace an existing file (or follow a link to one).
func writeNewFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return existsError(path)
	}
	if err != nil {
		return err
	}
	err = f.Chmod(perm) // whatever the umask
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
