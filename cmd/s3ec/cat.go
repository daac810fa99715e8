package main

import "context"

var catCommand = &command{
	name:     "cat",
	synopsis: "s3ec cat [flags] s3://bucket/key...",
	summary:  "decrypt objects to stdout",
	help: `
Decrypt objects and write them to stdout, one after the other.

Each object is authenticated before its first byte is written: in memory up
to 64 MiB, and larger ones through a temporary file that holds only their
ciphertext (in --spool-dir; it needs as much free space as the object). A
damaged object writes nothing and exits with code 3. --stream writes objects
as they arrive, in constant memory and without the temporary file: a damaged
object is then only detected at its end (exit code 3), after some of it was
written, and whatever read the output must discard it.`,
	define: defineCat,
}

func defineCat(fs *flagSet) func(context.Context, *env, []string) error {
	var f clientFlags
	fs.boolVar(&f.crypto.stream, "stream", "write plaintext before the object is authenticated (see above)")
	f.keyring.title = "Reading keyring: the keyring that decrypts the objects (exactly one)"
	f.keyring.role = keyDecrypt
	f.register(fs, cryptoPolicy|cryptoLegacyUnauth|cryptoSpool)

	return func(ctx context.Context, e *env, args []string) error {
		if len(args) == 0 {
			return usagef("cat needs s3://bucket/key (see 's3ec cat --help')")
		}
		objs := make([]s3URL, len(args))
		for i, a := range args {
			u, err := parseObjectURL(a)
			if err != nil {
				return err
			}
			objs[i] = u
		}
		c, err := f.connect(ctx, nil, keyDecrypt)
		if err != nil {
			return err
		}
		cp := &copier{e: e, c: c, suffix: f.crypto.suffix}
		ctx = f.crypto.withContext(ctx)
		for _, obj := range objs {
			if err := cp.toWriter(ctx, obj, e.stdout, f.crypto.stream); err != nil {
				return err
			}
		}
		return nil
	}
}
