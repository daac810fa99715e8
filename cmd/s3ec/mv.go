package main

import "context"

var mvCommand = &command{
	name:     "mv",
	args:     []string{"SRC", "DST"},
	synopsis: "s3ec mv [flags] SRC DST",
	summary:  "move files to S3 (encrypting), from S3 (decrypting), or within S3",
	help: `
Move a local file to S3 (encrypting it), an object from S3 to a local file
(decrypting it), or an object to another place in S3: cp, then the delete
of the source, only once the destination is complete and checked.

  s3ec mv report.pdf s3://bucket/docs/          upload, then remove the file
  s3ec mv s3://bucket/docs/report.pdf .         download, then delete the object
  s3ec mv -r s3://bucket/old/ s3://bucket/new/  move a prefix within S3

The source is removed only when its copy is known good:
  - upload: the object is stored (the upload completed), its envelope reads
    back with the file's length and the ETag the upload returned, and the
    file did not change while it was read; otherwise the file is kept;
  - download: the whole object was authenticated and renamed into place
    (as cp does); the object is then deleted with its instruction file;
  - S3 copy: the copy's envelope (and instruction file) read back and it
    holds as many bytes as the source; the source is then deleted with its
    instruction file.
A failed check keeps the source and counts as a failure. Each file is
reported as "move: SRC to DST". Directories emptied by a move are left in
place, as by the aws CLI. See 's3ec cp --help' for the rest: flags,
re-wrapping S3 copies, the safety of downloads.
` + filterHelp,
	define: func(fs *flagSet) func(context.Context, *env, []string) error {
		return defineTransfer(fs, "mv")
	},
}
