package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelp is returned by flagSet.parse for -h and --help.
var errHelp = flag.ErrHelp

// flagSet is a command's flag.FlagSet that remembers how to present its
// flags: in titled groups, in the order they were defined, with their short
// aliases. Flags are written --name in help; the flag package accepts one
// dash or two.
type flagSet struct {
	fs      *flag.FlagSet
	cmd     *command
	groups  []*flagGroup
	aliases map[string]string // long name -> short alias
	// longAliases are second long names, shown beside the flag's own.
	longAliases map[string]string
}

type flagGroup struct {
	title string
	names []string
}

func newFlagSet(c *command) *flagSet {
	fs := flag.NewFlagSet("s3ec "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flagSet{fs: fs, cmd: c, aliases: map[string]string{}, longAliases: map[string]string{}}
	f.group("Flags")
	return f
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
	f.fs.IntVar(p, name, *p, usage)
	f.add(name)
}

func (f *flagSet) float64Var(p *float64, name, usage string) {
	f.fs.Float64Var(p, name, *p, usage)
	f.add(name)
}

// funcVar defines a flag that may be repeated; fn sees every value.
func (f *flagSet) funcVar(name, usage string, fn func(string) error) {
	f.fs.Func(name, usage, fn)
	f.add(name)
}

// alias makes -short a synonym of --long, which must be defined already.
func (f *flagSet) alias(short, long string) {
	fl := f.fs.Lookup(long)
	f.fs.Var(fl.Value, short, fl.Usage)
	f.aliases[long] = short
}

// longAlias makes --other a synonym of --long, which must be defined
// already (an older spelling that keeps working).
func (f *flagSet) longAlias(other, long string) {
	fl := f.fs.Lookup(long)
	f.fs.Var(fl.Value, other, fl.Usage)
	f.longAliases[long] = other
}

// isSet reports whether the flag name (or an alias of it) was given.
func (f *flagSet) isSet(name string) bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == name || fl.Name == f.aliases[name] || fl.Name == f.longAliases[name] {
			set = true
		}
	})
	return set
}

// parse parses args, in which flags and positional arguments may be mixed
// (`cp a s3://b/ --kms-key K` works as `cp --kms-key K a s3://b/`), and
// returns the positional arguments. Everything after "--" is positional; so
// is "-" (stdin or stdout).
func (f *flagSet) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, usagef("%s: %v (see 's3ec %s --help')", f.cmd.name, err, f.cmd.name)
		}
		rest := f.fs.Args()
		consumed := args[:len(args)-len(rest)]
		if len(consumed) > 0 && consumed[len(consumed)-1] == "--" && !f.isFlagValue(consumed) {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isFlagValue reports whether the last of the consumed arguments was the
// value of a flag given as "--name value" rather than a "--" terminator.
func (f *flagSet) isFlagValue(consumed []string) bool {
	if len(consumed) < 2 {
		return false
	}
	prev := consumed[len(consumed)-2]
	if !strings.HasPrefix(prev, "-") || strings.Contains(prev, "=") {
		return false
	}
	fl := f.fs.Lookup(strings.TrimLeft(prev, "-"))
	if fl == nil {
		return false
	}
	if bf, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return false
	}
	return true
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
			valueName, usage := flag.UnquoteUsage(fl)
			left := "    --" + name
			if short, ok := f.aliases[name]; ok {
				left = "-" + short + ", --" + name
			}
			if other, ok := f.longAliases[name]; ok {
				left += ", --" + other
			}
			if valueName != "" {
				left += " " + valueName
			}
			if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
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
