package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// errHelp is returned by flagSet.parse for -h and --help.
var errHelp = pflag.ErrHelp

// flagSet is a command's flags, parsed by spf13/pflag in the GNU style
// (--name VALUE, --name=VALUE, -r, combined short flags such as -rq, "--"
// ending the flags, flags and positional arguments in any order), and how
// to present them: in titled groups, in the order they were defined.
type flagSet struct {
	fs     *pflag.FlagSet
	cmd    *command
	groups []*flagGroup
	// longAliases are second long names, shown beside the flag's own.
	longAliases map[string]string
	// explain are given the command's error, in turn, before it is
	// reported: the owners of flags may say more about it than the
	// command knew (which of the bucket and the object is missing).
	explain []func(context.Context, error) error
}

type flagGroup struct {
	title string
	names []string
}

func newFlagSet(c *command) *flagSet {
	f := &flagSet{cmd: c, longAliases: map[string]string{}}
	f.fs = f.newPflag()
	f.group("Flags")
	return f
}

// newPflag returns an empty pflag set that prints nothing itself: parse
// turns its errors into one line, and printHelp writes the help.
func (f *flagSet) newPflag() *pflag.FlagSet {
	fs := pflag.NewFlagSet("s3ec "+f.cmd.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs
}

// group starts a new group of flags in the help text.
func (f *flagSet) group(title string) {
	f.groups = append(f.groups, &flagGroup{title: title})
}

func (f *flagSet) add(name string) {
	g := f.groups[len(f.groups)-1]
	g.names = append(g.names, name)
}

func (f *flagSet) boolVar(p *bool, name, usage string) {
	f.fs.BoolVar(p, name, *p, usage)
	f.add(name)
}

func (f *flagSet) stringVar(p *string, name, usage string) {
	f.fs.StringVar(p, name, *p, usage)
	f.add(name)
}

func (f *flagSet) intVar(p *int, name, usage string) {
	f.fs.VarP(intValue{p}, name, "", usage)
	f.add(name)
}

func (f *flagSet) int64Var(p *int64, name, usage string) {
	f.fs.VarP(int64Value{p}, name, "", usage)
	f.add(name)
}

func (f *flagSet) float64Var(p *float64, name, usage string) {
	f.fs.VarP(float64Value{p}, name, "", usage)
	f.add(name)
}

// durationVar defines a flag whose value is a time.ParseDuration string
// ("90s", "1h30m").
func (f *flagSet) durationVar(p *time.Duration, name, usage string) {
	f.fs.DurationVar(p, name, *p, usage)
	f.add(name)
}

// funcVar defines a flag that may be repeated; fn sees every value.
func (f *flagSet) funcVar(name, usage string, fn func(string) error) {
	f.fs.Func(name, usage, fn)
	f.add(name)
}

// stringArrayVar defines a flag that may be repeated: each value is
// appended to *p, in the order given, as it is (no splitting at commas).
// What *p holds before is kept.
func (f *flagSet) stringArrayVar(p *[]string, name, usage string) {
	f.fs.Var(appendValue{p}, name, usage)
	f.add(name)
}

// appendValue is the pflag.Value of stringArrayVar.
type appendValue struct{ p *[]string }

func (a appendValue) Set(s string) error { *a.p = append(*a.p, s); return nil }
func (a appendValue) Type() string       { return "strings" }
func (a appendValue) String() string {
	if a.p == nil || len(*a.p) == 0 {
		return ""
	}
	return strings.Join(*a.p, ",")
}

// The numeric flag values are decimal ("010" is ten), and say what is wrong
// with a value: not a number at all, or out of range.
type (
	intValue     struct{ p *int }
	int64Value   struct{ p *int64 }
	float64Value struct{ p *float64 }
)

func (v intValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, strconv.IntSize)
	if err == nil {
		*v.p = int(n)
	}
	return numberError(err, "an integer")
}
func (v intValue) Type() string   { return "int" }
func (v intValue) String() string { return strconv.Itoa(*v.p) }

func (v int64Value) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		*v.p = n
	}
	return numberError(err, "an integer")
}
func (v int64Value) Type() string   { return "int64" }
func (v int64Value) String() string { return strconv.FormatInt(*v.p, 10) }

func (v float64Value) Set(s string) error {
	n, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(n) || math.IsInf(n, 0)) {
		// ParseFloat takes "NaN" and "Inf"; no flag means them (a NaN
		// passed every range check and meant no limit).
		return fmt.Errorf("%q is not a finite number", s)
	}
	if err == nil {
		*v.p = n
	}
	return numberError(err, "a number")
}

// maxConcurrency bounds every --concurrency, as the library bounds its
// Concurrency options (a huge one started that many goroutines).
const maxConcurrency = 10_000

// minKMSRate is the smallest --kms-requests-per-second other than 0 (no
// limit): one request every 100 s. A rate of 1e-300 waited forever.
const minKMSRate = 0.01

// checkKMSRate is the usage check of a --kms-requests-per-second value.
func checkKMSRate(r float64) error {
	if r < 0 || (r > 0 && r < minKMSRate) {
		return usagef("--kms-requests-per-second %v: want 0 (no limit) or at least %v", r, minKMSRate)
	}
	return nil
}

// checkConcurrency is the usage check of a --concurrency value.
func checkConcurrency(n int) error {
	switch {
	case n < 1:
		return usagef("--concurrency %d: want at least 1", n)
	case n > maxConcurrency:
		return usagef("--concurrency %d: want at most %d", n, maxConcurrency)
	}
	return nil
}
func (v float64Value) Type() string   { return "float64" }
func (v float64Value) String() string { return strconv.FormatFloat(*v.p, 'g', -1, 64) }

// numberError words a strconv error: "not an integer", "out of range".
func numberError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, strconv.ErrRange):
		return errors.New("out of range")
	}
	return errors.New("not " + what)
}

// alias makes -short a synonym of --long, which must be defined already.
func (f *flagSet) alias(short, long string) {
	f.fs.Lookup(long).Shorthand = short
	// pflag learns a flag's shorthand when the flag is added: add them
	// all again (the same flags, so the values and definitions stay).
	fs := f.newPflag()
	f.fs.VisitAll(fs.AddFlag)
	f.fs = fs
}

// longAlias makes --other a synonym of --long, which must be defined
// already (an older spelling that keeps working).
func (f *flagSet) longAlias(other, long string) {
	fl := f.fs.Lookup(long)
	f.fs.AddFlag(&pflag.Flag{Name: other, Usage: fl.Usage, Value: fl.Value, DefValue: fl.DefValue, NoOptDefVal: fl.NoOptDefVal, Hidden: true})
	f.longAliases[long] = other
}

// isSet reports whether the flag name (or an alias of it) was given.
func (f *flagSet) isSet(name string) bool {
	if f.fs.Changed(name) {
		return true
	}
	other, ok := f.longAliases[name]
	return ok && f.fs.Changed(other)
}

// parse parses args, in which flags and positional arguments may be mixed
// (`cp a s3://b/ --kms-key K` works as `cp --kms-key K a s3://b/`), and
// returns the positional arguments. Everything after "--" is positional; so
// is "-" (stdin or stdout). An error is a usage error that says which
// argument is wrong and why.
func (f *flagSet) parse(args []string) ([]string, error) {
	err := f.fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, usagef("%s: %s (see 's3ec %s --help')", f.cmd.name, f.describe(err), f.cmd.name)
	}
	return f.fs.Args(), nil
}

// describe words a pflag parse error for the command line.
func (f *flagSet) describe(err error) string {
	var notExist *pflag.NotExistError
	var noValue *pflag.ValueRequiredError
	var invalid *pflag.InvalidValueError
	switch {
	case errors.As(err, &notExist):
		name, shorts := notExist.GetSpecifiedName(), notExist.GetSpecifiedShortnames()
		if shorts == "" {
			return "unknown flag: --" + name
		}
		long, _, _ := strings.Cut(shorts, "=")
		if len(long) > 1 && f.fs.Lookup(long) != nil {
			return fmt.Sprintf("unknown flag: -%s (long flags take two dashes: --%s)", shorts, long)
		}
		if len(shorts) > 1 {
			return fmt.Sprintf("unknown flag: -%s in -%s (an argument that starts with \"-\" goes after \"--\")", name, shorts)
		}
		return "unknown flag: -" + name
	case errors.As(err, &noValue):
		placeholder, _ := pflag.UnquoteUsage(noValue.GetFlag())
		return fmt.Sprintf("flag needs a value: %s %s", spelling(noValue.GetFlag()), placeholder)
	case errors.As(err, &invalid):
		return fmt.Sprintf("invalid value %q for --%s: %s", invalid.GetValue(), invalid.GetFlag().Name, valueProblem(invalid.GetFlag(), errors.Unwrap(invalid)))
	}
	return err.Error()
}

// spelling returns how a flag is written: "-r, --recursive" or "--name".
func spelling(fl *pflag.Flag) string {
	if fl.Shorthand != "" {
		return "-" + fl.Shorthand + ", --" + fl.Name
	}
	return "--" + fl.Name
}

// valueProblem says what is wrong with a flag's value.
func valueProblem(fl *pflag.Flag, cause error) string {
	switch {
	case fl.Value.Type() == "bool":
		return "want true or false"
	case fl.Value.Type() == "duration":
		return "not a duration (such as 90s, 15m or 1h30m)"
	case cause == nil:
		return "not accepted"
	}
	return cause.Error()
}

// helpWidth is the width help text is wrapped to.
const helpWidth = 80

// printHelp writes the command's help: synopsis, description and flags.
func (f *flagSet) printHelp(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s\n\n%s\n", f.cmd.synopsis, strings.TrimSpace(f.cmd.help))
	type row struct{ left, usage string }
	rows := make([][]row, len(f.groups))
	width := 0
	for i, g := range f.groups {
		for _, name := range g.names {
			fl := f.fs.Lookup(name)
			valueName, usage := pflag.UnquoteUsage(fl)
			left := "    --" + name
			if fl.Shorthand != "" {
				left = "-" + fl.Shorthand + ", --" + name
			}
			if other, ok := f.longAliases[name]; ok {
				left += ", --" + other
			}
			if valueName != "" {
				left += " " + valueName
			}
			switch fl.DefValue {
			case "", "false", "0", "0s", "[]":
			default:
				usage += fmt.Sprintf(" (default %s)", fl.DefValue)
			}
			rows[i] = append(rows[i], row{left, usage})
		}
		if g.title == "Flags" {
			rows[i] = append(rows[i], row{"-h, --help", "show this help"})
		}
		for _, r := range rows[i] {
			if len(r.left) <= 28 {
				width = max(width, len(r.left))
			}
		}
	}
	indent := strings.Repeat(" ", 2+width+2)
	for i, g := range f.groups {
		if len(rows[i]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, r := range rows[i] {
			lines := wrap(r.usage, helpWidth-len(indent))
			if len(r.left) > width {
				fmt.Fprintf(&b, "  %s\n%s%s\n", r.left, indent, lines[0])
			} else {
				fmt.Fprintf(&b, "  %-*s  %s\n", width, r.left, lines[0])
			}
			for _, l := range lines[1:] {
				fmt.Fprintf(&b, "%s%s\n", indent, l)
			}
		}
	}
	io.WriteString(w, b.String())
}

// wrap splits text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	return append(lines, line)
}
