package main

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// failingListener accepts nothing: its first Accept fails for good, as a
// listener whose socket broke.
type failingListener struct{ net.Listener }

func (l failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket broke") }

// Regression: when serving failed, `shutCtx, cancel :=` shadowed the
// cancel of run's context, so the scheduler and the embedded worker kept
// running and run never returned.
func TestRunReturnsWhenServingFails(t *testing.T) {
	orig := listen
	t.Cleanup(func() { listen = orig })
	listen = func(network, addr string) (net.Listener, error) {
		ln, err := orig(network, addr)
		return failingListener{ln}, err
	}
	env := map[string]string{"DC_HTTP_ADDR": "127.0.0.1:0", "DC_DATA_DIR": t.TempDir(), "DC_SHUTDOWN_GRACE": "1s"}
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "serve http")
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after serving failed")
	}
}
