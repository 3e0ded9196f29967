package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/httpapi"
)

// TestProbeMux is the worker's listener: liveness always, readiness
// naming every check that fails, metrics.
func TestProbeMux(t *testing.T) {
	t.Parallel()
	var brokerDown atomic.Bool
	brokerDown.Store(true)
	h := httpapi.ProbeMux([]httpapi.Check{
		{Name: "database", Probe: func(context.Context) error { return nil }},
		{Name: "broker", Probe: func(context.Context) error {
			if brokerDown.Load() {
				return errors.New("dial tcp: refused")
			}
			return nil
		}},
	}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") }), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (int, []byte) {
		res, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, _ := get("/healthz")
	require.Equal(t, 200, code)
	code, body := get("/readyz")
	require.Equal(t, 503, code)
	var p struct {
		Detail string                   `json:"detail"`
		Errors []struct{ Field string } `json:"errors"`
	}
	require.NoError(t, json.Unmarshal(body, &p))
	require.Len(t, p.Errors, 1)
	require.Equal(t, "broker", p.Errors[0].Field)
	require.Contains(t, p.Detail, "broker")
	require.NotContains(t, string(body), "refused", "error text stays in the log")
	brokerDown.Store(false)
	code, _ = get("/readyz")
	require.Equal(t, 200, code)
	code, body = get("/metrics")
	require.Equal(t, 200, code)
	require.Equal(t, "m 1\n", string(body))
}
