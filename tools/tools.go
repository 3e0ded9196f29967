//go:build tools

// Package tools pins the versions of the checkers `make vuln` and `make vet`
// build: govulncheck, the vulnerability database indexer and staticcheck. It is
// its own module so that the service's go.mod carries none of their
// dependencies; the Makefile builds the binaries from here into the services
// state dir, so a machine builds them once.
package tools

import (
	_ "golang.org/x/vuln/cmd/govulncheck"
	_ "golang.org/x/vulndb/cmd/indexdb"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
