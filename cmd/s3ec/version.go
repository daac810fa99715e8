package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release this source tree is; CHANGELOG.md has its
// section. A binary built by `go install ...@vX.Y.Z` reports the module
// version Go recorded instead; one built from a checkout reports this one,
// marked (devel).
const version = "0.1.0"

var versionCommand = &command{
	name:     "version",
	synopsis: "s3ec version  (or s3ec --version)",
	summary:  "print the version of s3ec and of Go it was built with",
	help: `
Print the version of s3ec, the Go release it was built with, and the
platform: "s3ec v0.1.0 go1.24.4 linux/amd64". A build from a source checkout
(go build) says "(devel)" after the version of the source tree.`,
	args:   []string{},
	define: defineVersion,
}

func defineVersion(fs *flagSet) func(context.Context, *env, []string) error {
	return func(_ context.Context, e *env, _ []string) error {
		_, err := fmt.Fprintln(e.stdout, versionLine(debug.ReadBuildInfo))
		return err
	}
}

// versionLine is what `s3ec --version` prints, from the build information
// readBuildInfo returns.
func versionLine(readBuildInfo func() (*debug.BuildInfo, bool)) string {
	v := version + " (devel)"
	goVersion := runtime.Version()
	if bi, ok := readBuildInfo(); ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v = mv
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
	}
	return fmt.Sprintf("s3ec %s %s %s/%s", v, goVersion, runtime.GOOS, runtime.GOARCH)
}
