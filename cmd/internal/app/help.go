package app

import (
	"fmt"
	"io"
	"runtime/debug"
)

// Version is the binaries' version, set at build time with
// -ldflags "-X github.com/downloadcenter/dc/cmd/internal/app.Version=v1.2.3";
// empty means the VCS revision the go command stamped, if any.
var Version = ""

// version describes this build.
func version() string {
	if Version != "" {
		return Version
	}
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
	}
	return v
}

// printVersion writes "name version (go version)".
func printVersion(w io.Writer, name string) {
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	fmt.Fprintf(w, "%s %s (%s)\n", name, version(), goVersion)
}

// commands lists each binary's subcommands for --help.
var commands = map[string][][2]string{
	"dc-api": {{"healthcheck", "probe /healthz of the dc-api on DC_HTTP_ADDR; exit 0 when it answers 200 (the image's health check)"}},
}

// notFor names the settings one binary does not use, so its --help
// leaves them out: dc-worker serves no API and runs no scheduler; dc-api
// has no probe listener of its own (its probes are on DC_HTTP_ADDR).
var notFor = map[string]map[string]bool{
	"dc-worker": {"http-addr": true, "http-read-timeout": true, "scheduler": true, "scheduler-interval": true,
		"webhook-backoff": true, "webhook-retry-for": true, "webhook-allow-private": true,
		"ui-frame-ancestors": true, "cors-origins": true, "events-poll": true, "demo-user": true},
	"dc-api": {"worker-http-addr": true},
}
