// Command s3ec copies files to and from Amazon S3, or any S3-compatible
// store, encrypting them in the process before they leave and decrypting
// them after they are read. Objects are compatible with the AWS S3
// Encryption Clients (Java, Go, Python, .NET).
//
// Usage:
//
//	s3ec COMMAND [flags] ARGS
//
// The commands are cp, cat, inspect, verify, rotate, reencrypt, adopt,
// keygen and version; `s3ec --help` lists them with the exit codes, and
// `s3ec COMMAND --help` describes each one. `s3ec --version` prints the
// version. Flags are GNU-style (spf13/pflag): --name VALUE or --name=VALUE,
// short flags combined (-rq), before or after the arguments; `--` ends the
// flags.
//
// AWS settings come from the usual places (environment variables, the shared
// config and credentials files, --profile, --region), and --endpoint-url and
// --path-style point the tool at MinIO or another S3-compatible store.
// --kms-endpoint-url does the same for KMS (LocalStack and other KMS
// stand-ins); AWS_ENDPOINT_URL_KMS works too.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/term"
)

// env is what a command sees of the process: its standard streams and
// whether stderr is a terminal (for progress bars).
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stderrTTY reports that stderr is a terminal.
	stderrTTY bool
}

// A command is one s3ec subcommand.
type command struct {
	name     string
	synopsis string // "s3ec cp [flags] SRC DST"
	summary  string // one line, for the command list
	help     string // the description printed by --help
	// args, if set, names the positional arguments the command takes,
	// every one required and no more ("SRC", "DST"); run refuses another
	// number before the command runs. Commands that take a varying number
	// check them themselves.
	args []string
	// define registers the command's flags and returns the function that
	// runs it with the positional arguments, once the flags are parsed.
	define func(fs *flagSet) func(ctx context.Context, e *env, args []string) error
}

// commands in the order `s3ec --help` lists them.
var commands = []*command{cpCommand, mvCommand, rmCommand, syncCommand, lsCommand, catCommand, inspectCommand, verifyCommand, rotateCommand, reencryptCommand, adoptCommand, keygenCommand, versionCommand}

// argCountError is the usage error of a command given the wrong number of
// positional arguments: "cp takes 2 arguments (SRC DST), got 3".
func argCountError(cmd, names string, want, got int) error {
	plural := "s"
	switch want {
	case 0:
		return usagef("%s takes no arguments, got %d (see 's3ec %s --help')", cmd, got, cmd)
	case 1:
		plural = ""
	}
	return usagef("%s takes %d argument%s (%s), got %d (see 's3ec %s --help')", cmd, want, plural, names, got, cmd)
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func main() {
	e := &env{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	// The first interrupt cancels the command, which then cleans up (an
	// upload waits for the abort of its multipart upload, at most 30
	// seconds); a second one exits at once, saying what may be left.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		if e.stderrTTY {
			fmt.Fprintln(e.stderr, "\ns3ec: interrupted; cleaning up (interrupt again to exit at once)")
		}
		<-sigs
		for _, s := range cleanups.list() {
			fmt.Fprintln(e.stderr, "s3ec: "+s)
		}
		fmt.Fprintln(e.stderr, "s3ec: interrupted again: exiting without waiting for the cleanup")
		os.Exit(exitInterrupted)
	}()
	code := run(ctx, e, os.Args[1:])
	os.Exit(code)
}

// cleanups lists what an interrupted command still has to undo, for the
// second interrupt to print.
var cleanups pendingCleanups

type pendingCleanups struct {
	mu    sync.Mutex
	next  int
	items map[int]string
}

// add records what is left behind should the process exit now; the
// returned function forgets it.
func (p *pendingCleanups) add(what string) (done func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.items == nil {
		p.items = map[int]string{}
	}
	id := p.next
	p.next++
	p.items[id] = what
	return func() {
		p.mu.Lock()
		delete(p.items, id)
		p.mu.Unlock()
	}
}

func (p *pendingCleanups) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for id := 0; id < p.next; id++ {
		if s, ok := p.items[id]; ok {
			out = append(out, s)
		}
	}
	return out
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		return report(ctx, e, usagef("no command (see 's3ec --help')"))
	}
	switch name := args[0]; name {
	case "--version", "-version":
		args = append([]string{versionCommand.name}, args[1:]...)
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			c := findCommand(args[1])
			if c == nil {
				return report(ctx, e, usagef("unknown command %q (see 's3ec --help')", args[1]))
			}
			fs := newFlagSet(c)
			c.define(fs)
			fs.printHelp(e.stdout)
			return exitOK
		}
		printMainHelp(e.stdout)
		return exitOK
	}
	c := findCommand(args[0])
	if c == nil {
		return report(ctx, e, usagef("unknown command %q (see 's3ec --help')", args[0]))
	}
	fs := newFlagSet(c)
	runFn := c.define(fs)
	pos, err := fs.parse(args[1:])
	if err == errHelp {
		fs.printHelp(e.stdout)
		return exitOK
	}
	if err != nil {
		return report(ctx, e, err)
	}
	if c.args != nil && len(pos) != len(c.args) {
		return report(ctx, e, argCountError(c.name, strings.Join(c.args, " "), len(c.args), len(pos)))
	}
	err = runFn(ctx, e, pos)
	if err != nil {
		for _, explain := range fs.explain {
			err = explain(ctx, err)
		}
	}
	return report(ctx, e, err)
}

func printMainHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(`Usage: s3ec COMMAND [flags] ARGS

s3ec copies files to and from Amazon S3 or any S3-compatible store with
client-side encryption: objects are encrypted before they leave this machine
and decrypted after they are read, in the formats of the AWS S3 Encryption
Clients, so that they can be read by those clients and the other way round.

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run 's3ec COMMAND --help' (or 's3ec help COMMAND') for a command's flags,
and 's3ec --version' for the version. Flags go before or after the
arguments, long ones with two dashes (--recursive, --kms-key ID or
--kms-key=ID), short ones combined (-rq); "--" ends the flags, so that
'-weird' after it is a file name.

Keys: every command that encrypts or decrypts needs one keyring:
  --kms-key ID|ARN|alias/NAME     an AWS KMS key
  --kms-discovery                 any KMS key the object names (decrypt only;
                                  limit it with --kms-allow ARN)
  --aes-key-file FILE             a local 256-bit AES key ('s3ec keygen aes')
  --rsa-private-key FILE          a local RSA key pair ('s3ec keygen rsa');
  --rsa-public-key FILE           the public key alone can only encrypt

AWS settings come from the environment and the shared config files, as for
the AWS CLI, with --profile, --region, --endpoint-url (MinIO and other
S3-compatible stores), --path-style and --kms-endpoint-url.

Many objects: rotate, reencrypt, adopt, verify and inspect run over one
object (s3://bucket/key), a prefix (s3://bucket/prefix/) or a manifest:
  --manifest FILE|s3://bucket/key  an S3 Batch Operations CSV manifest
                                  (bucket,key[,versionId]) or an S3 Inventory
                                  manifest.json
  --report FILE|s3://bucket/key    the completion report, in the CSV of S3
                                  Batch Operations
  --shard K/N                     only shard K of N (0 <= K < N): N copies of
                                  the command, K = 0 ... N-1, cover every
                                  object exactly once
  --resume                        continue an interrupted run from its
                                  checkpoint, REPORT.checkpoint
  --concurrency N, --dryrun, --kms-requests-per-second N
A run that is interrupted prints its summary, writes its checkpoint (and
uploads an s3:// report) and exits 130. A failed object does not stop the
run: each failure is printed on stderr, the report says PermanentFailure or
TemporaryFailure (a retry may help), and the exit code is the first
failure's, by the codes below.

Exit codes:
  0    success
  1    usage error: unknown command or flag, wrong arguments, conflicting flags
  2    not found: no such bucket, object or local file, or the object is
       not client-side encrypted
  3    authentication or integrity failure: the object, its envelope or its
       instruction file was altered or truncated (or is malformed), or it
       cannot be authenticated at all (legacy AES-CBC, for verify)
  4    key error: the data key could not be unwrapped (wrong key, no keyring
       matched, encryption context mismatch, KMS refused), or a key file is
       unusable
  5    any other error: no AWS credentials, network, permissions, policy
       refusals, file exists...
  130  interrupted (Ctrl-C or SIGTERM). An interrupted upload aborts its
       multipart upload and waits for the abort (at most 30 s; interrupt
       again to exit at once); if the abort fails, the error names the
       upload and the command that aborts it. cp keeps that of a file of
       8 MiB or more for a resume instead (see 's3ec cp --help') and says
       how to resume or abort it. An upload that was already
       being completed is finished: it reports the object stored, exit 0.
Errors are reported on stderr in one line that starts with "s3ec: " (a run
over many objects: one such line per failed object, its summary line, and
a last one that counts the failures).
`)
	io.WriteString(w, b.String())
}
