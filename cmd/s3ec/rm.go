package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3ec/s3ec-go/encryptionclient"
	"github.com/s3ec/s3ec-go/envelope"
)

var rmCommand = &command{
	name:     "rm",
	synopsis: "s3ec rm [flags] s3://bucket/key | --recursive s3://bucket/prefix/",
	summary:  "delete objects with their instruction files",
	help: `
Delete an object, or with --recursive every object under a prefix (that the
filters select), as 'aws s3 rm' does, each with its instruction file: the
object named KEY + suffix is deleted with KEY only when it is KEY's
instruction file (an ordinary object that merely ends in the suffix is
not). An instruction file whose object is gone is an object of its own:
--recursive deletes it like any other. The address of an instruction file
whose object is there is refused: the object would not read without it.

  s3ec rm s3://bucket/docs/report.pdf
  s3ec rm -r s3://bucket/tmp/ --exclude '*' --include '*.log'

--recursive treats the address as a prefix ending with "/" (s3://b/tmp
deletes tmp/..., never tmpfile), deletes folder markers too, and deletes
nothing but keys under the prefix: a listing that holds any other key is
refused before anything is deleted. Each delete is reported as
"delete: s3://bucket/key"; --dryrun only reports. rm needs no key. Deletes
run --concurrency at once; an interrupt stops them and says how many were
done.
` + filterHelp,
	define: defineRm,
}

func defineRm(fs *flagSet) func(context.Context, *env, []string) error {
	var (
		a           awsFlags
		recursive   bool
		out         outputFlags
		filt        filters
		concurrency = 16
		suffix      = envelope.DefaultInstructionSuffix
	)
	fs.boolVar(&recursive, "recursive", "delete every object under the prefix")
	fs.alias("r", "recursive")
	fs.intVar(&concurrency, "concurrency", "delete `N` objects at once")
	out.register(fs)
	filt.register(fs)
	fs.stringVar(&suffix, "instruction-suffix", "name instruction files KEY + `SUFFIX`")
	a.register(fs)

	return func(ctx context.Context, e *env, args []string) error {
		if len(args) != 1 {
			return usagef("rm needs one s3://bucket/key, or --recursive s3://bucket/prefix/ (see 's3ec rm --help')")
		}
		u, err := parseS3URL(args[0])
		if err != nil {
			return err
		}
		switch {
		case checkConcurrency(concurrency) != nil:
			return checkConcurrency(concurrency)
		case filt.active() && !recursive:
			return usagef("--exclude and --include select objects of a recursive rm; add --recursive")
		case !recursive:
			if err := checkObject(u); err != nil {
				return err
			}
		}
		c, err := connectKeyless(ctx, &a, nil, suffix)
		if err != nil {
			return err
		}
		del := func(obj s3URL) op {
			return op{verb: "delete", from: obj.String(), run: func(ctx context.Context) (int64, error) {
				// The library's DeleteObject removes the instruction
				// file after the object, and only if it is the object's.
				_, err := c.enc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(obj.bucket), Key: aws.String(obj.key)})
				return 0, err
			}}
		}
		r := &runner{e: e, out: &out, many: recursive}
		if !recursive {
			// An instruction file alone: its object would never read
			// again. (ls does not show them; -r never deletes one whose
			// object it keeps.)
			if base, ok := strings.CutSuffix(u.key, suffix); ok && base != "" {
				instr, err := c.enc.IsInstructionFile(encryptionclient.WithInstructionFileSuffix(ctx, suffix), &s3.HeadObjectInput{Bucket: aws.String(u.bucket), Key: aws.String(u.key)})
				if err != nil {
					return &objectErr{url: u, err: err}
				}
				if instr {
					b := s3URL{bucket: u.bucket, key: base}
					return &objectErr{url: u, err: fmt.Errorf("is the instruction file of %s, which would not read again without it: nothing was deleted ('s3ec rm %s' deletes both)", b, b)}
				}
			}
			return r.run(ctx, []op{del(u)})
		}
		prefix := u.prefix()
		objs, err := listPrefix(ctx, c, u.bucket, prefix, suffix, true)
		if err != nil {
			return err
		}
		var ops []op
		for _, o := range objs {
			if !strings.HasPrefix(o.key, prefix) {
				continue // (listPrefix refuses such listings)
			}
			if filt.includes(strings.TrimPrefix(o.key, prefix)) {
				ops = append(ops, del(s3URL{bucket: u.bucket, key: o.key}))
			}
		}
		r.t.total = len(ops)
		if err := r.phase(ctx, ops, concurrency); err != nil {
			return err
		}
		return r.finish()
	}
}
