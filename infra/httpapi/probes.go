package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// Check is one dependency readiness depends on.
type Check struct {
	// Name says what is down in the 503 problem ("database", "broker").
	Name  string
	Probe func(context.Context) error
}

// probeTimeout bounds each readiness check: a probe must answer before
// the orchestrator's own timeout.
const probeTimeout = 2 * time.Second

// Healthz is liveness: the process answers. It checks no dependency, so a
// database outage does not get every pod restarted.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// Readyz answers 200 when every check passes, else 503 with a problem
// naming each dependency that is down. Checks run concurrently.
func Readyz(checks []Check, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
				defer cancel()
				errs[i] = c.Probe(ctx)
			})
		}
		wg.Wait()
		var down []domain.FieldError
		var names []string
		for i, err := range errs {
			if err != nil {
				log.Warn("readiness check failed", "check", checks[i].Name, "err", err)
				down = append(down, domain.FieldError{Field: checks[i].Name, Reason: "is unavailable"})
				names = append(names, checks[i].Name)
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		if len(down) > 0 {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(problem{
				Type: "about:blank", Title: http.StatusText(http.StatusServiceUnavailable), Status: http.StatusServiceUnavailable,
				Detail: "not ready: " + strings.Join(names, ", ") + " unavailable", Errors: down,
			})
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
	}
}

// ProbeMux serves /healthz, /readyz and, when metrics is not nil,
// /metrics: the dc-worker's listener.
func ProbeMux(checks []Check, metrics http.Handler, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", Healthz)
	mux.HandleFunc("GET /readyz", Readyz(checks, log))
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}
