package rocketmq

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// TestMain fails the run if anything created the directory the client's
// default name-server resolver writes (~/logs/rocketmq-go): this package
// must never use that resolver.
func TestMain(m *testing.M) {
	dir := clientLogDir()
	_, err := os.Stat(dir)
	existed := err == nil
	code := m.Run()
	if _, err := os.Stat(dir); err == nil && !existed {
		fmt.Fprintf(os.Stderr, "FAIL: the rocketmq client created %s\n", dir)
		code = 1
	}
	os.Exit(code)
}

// clientLogDir is where the client writes, found as the client finds it.
func clientLogDir() string {
	home := ""
	if u, err := user.Current(); err == nil {
		home = u.HomeDir
	}
	return filepath.Join(home, "logs", "rocketmq-go")
}
