package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/webhook"
)

var ctx = context.Background()

// specVerify checks a request the way the Standard Webhooks specification
// describes, written out here rather than with infra/stdwebhooks, so the
// test is an independent receiver: HMAC-SHA256 under the key of
// id + "." + timestamp + "." + body, base64, after "v1,".
func specVerify(key []byte, r *http.Request, body []byte) bool {
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return id != "" && ts != ""
		}
	}
	return false
}

func TestPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true,
		"127.0.0.1": false, "10.0.0.1": false, "172.16.5.4": false, "192.168.1.1": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.0.0.0": false, "0.1.2.3": false, "255.255.255.255": false, "224.0.0.1": false,
		"::1": false, "::": false, "fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"64:ff9b::a00:1": false, "2002:7f00:1::": false, "198.18.0.1": false,
	} {
		require.Equal(t, want, webhook.Public(netip.MustParseAddr(addr)), addr)
	}
}

// A target that is private when dialled is refused even though the URL was
// accepted before (DNS rebinding, or a registration made while allowed).
func TestSenderRefusesPrivateAddressesAtDialTime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		code, err := webhook.New(webhook.Config{}).Send(ctx, domain.WebhookRequest{URL: u, Secret: []byte("k"), MessageID: "msg_1", Body: []byte("{}")})
		require.ErrorIs(t, err, webhook.ErrPrivateTarget, u)
		require.Zero(t, code)
	}
	require.Zero(t, hits.Load(), "no request reached the loopback receiver")

	code, err := webhook.New(webhook.Config{AllowPrivate: true}).Send(ctx, domain.WebhookRequest{URL: srv.URL, Secret: []byte("k"), MessageID: "msg_1", Body: []byte("{}")})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.EqualValues(t, 1, hits.Load())
}

func TestSenderSignsFollowsNoRedirectAndBoundsTheResponse(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	key := []byte("0123456789abcdef0123456789abcdef")
	var verified atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
		case "/endless":
			// A body without end: the sender reads a bounded part and hangs up.
			chunk := []byte(strings.Repeat("x", 32<<10))
			for {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		default:
			verified.Store(specVerify(key, r, body) && r.Header.Get("Content-Type") == "application/json")
		}
	}))
	defer srv.Close()
	s := webhook.New(webhook.Config{AllowPrivate: true})
	req := domain.WebhookRequest{Secret: key, MessageID: "msg_2", Body: []byte(`{"type":"task.succeeded"}`)}

	req.URL = srv.URL + "/ok"
	code, err := s.Send(ctx, req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	require.True(t, verified.Load(), "the signature verifies by the specification's algorithm")

	req.URL = srv.URL + "/redirect"
	code, err = s.Send(ctx, req)
	require.NoError(t, err)
	require.Equal(t, http.StatusTemporaryRedirect, code, "a redirect is an answer (a failed attempt), not followed")
	require.Zero(t, elsewhere.Load())

	req.URL = srv.URL + "/endless"
	code, err = s.Send(ctx, req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
}

func TestSenderTimesOut(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	_, err := webhook.New(webhook.Config{AllowPrivate: true, Timeout: 100 * time.Millisecond}).
		Send(ctx, domain.WebhookRequest{URL: srv.URL, Secret: []byte("k"), MessageID: "m", Body: []byte("{}")})
	require.Error(t, err)
}

// dispatchEnv is a dispatcher over a real SQLite store and the real sender.
type dispatchEnv struct {
	store *mysql.Store
	d     *domain.Dispatcher
	stop  func()
}

func newDispatch(t *testing.T, adjust func(*domain.Dispatcher)) *dispatchEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	store, err := mysql.OpenSQLite(ctx, filepath.Join(t.TempDir(), "dc.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	d := &domain.Dispatcher{
		Store: store, Sender: webhook.New(webhook.Config{AllowPrivate: true}),
		Payload: func(tk *domain.Task) (json.RawMessage, error) {
			return json.Marshal(map[string]any{"id": tk.ID, "status": tk.Status})
		},
		Backoff: 20 * time.Millisecond, MaxBackoff: time.Second, RetryFor: time.Hour,
		Every: 20 * time.Millisecond, Concurrency: 8, PerEndpoint: 2, Lease: time.Minute, Now: store.Now, Log: log,
	}
	adjust(d)
	return &dispatchEnv{store: store, d: d}
}

func (e *dispatchEnv) start() {
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.d.Run(runCtx)
	}()
	e.stop = func() { cancel(); <-done }
}

func (e *dispatchEnv) endpoint(t *testing.T, url string) *domain.WebhookEndpoint {
	t.Helper()
	now := e.store.Now()
	ep := &domain.WebhookEndpoint{Tenant: "acme", URL: url, Events: domain.EventTypes, Secret: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: now, UpdatedAt: now}
	require.NoError(t, e.store.CreateEndpoint(ctx, ep))
	return ep
}

// succeed runs a task to SUCCESS through the store, as a worker would.
func (e *dispatchEnv) succeed(t *testing.T) int64 {
	t.Helper()
	now := e.store.Now()
	tk, err := e.store.Create(ctx, &domain.Task{Tenant: "acme", Name: "t", Type: "demo", Format: domain.FormatCSV, Params: json.RawMessage(`{}`),
		Columns: []domain.Column{{Field: "id", Header: "Id"}}, Status: domain.StatusNotExecuted, RowsTotal: -1, CreatedAt: now, UpdatedAt: now})
	require.NoError(t, err)
	tk, err = e.store.Claim(ctx, tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, e.store.Succeed(ctx, domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: tk.Attempts}, domain.FileInfo{Name: "f", Rows: 1}, e.store.Now()))
	return tk.ID
}

func (e *dispatchEnv) waitDelivery(t *testing.T, ep int64, want domain.DeliveryStatus) *domain.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ds, err := e.store.Deliveries(ctx, "acme", ep, 1)
		require.NoError(t, err)
		if len(ds) == 1 && ds[0].Status == want {
			return ds[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s delivery to endpoint %d", want, ep)
	return nil
}

type observed struct {
	mu       sync.Mutex
	outcomes []string
}

func (o *observed) WebhookAttempt(outcome string) {
	o.mu.Lock()
	o.outcomes = append(o.outcomes, outcome)
	o.mu.Unlock()
}
func (o *observed) WebhookBacklog(time.Duration) {}

// TestFailingTwiceThenDelivered: an endpoint that answers 500 twice, then
// 200, is sent the event three times, each signed, and the delivery ends
// delivered with its attempts listed.
func TestFailingTwiceThenDelivered(t *testing.T) {
	t.Parallel()
	obs := &observed{}
	e := newDispatch(t, func(d *domain.Dispatcher) { d.Observe = obs })
	key := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	var ids []string
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !specVerify(key, r, body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		ids, bodies = append(ids, r.Header.Get("webhook-id")), append(bodies, string(body))
		if len(ids) <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	ep := e.endpoint(t, srv.URL)
	id := e.succeed(t)
	e.start()
	d := e.waitDelivery(t, ep.ID, domain.DeliveryDelivered)
	e.stop()

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ids, 3)
	require.Equal(t, []string{d.MessageID, d.MessageID, d.MessageID}, ids, "every attempt has the event's webhook-id")
	var env struct {
		Type      string    `json:"type"`
		Timestamp time.Time `json:"timestamp"`
		Data      struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal([]byte(bodies[2]), &env))
	require.Equal(t, "task.succeeded", env.Type)
	require.Equal(t, id, env.Data.ID)
	require.Equal(t, "SUCCESS", env.Data.Status)
	require.False(t, env.Timestamp.IsZero())
	require.Equal(t, 3, d.Attempts)
	require.Len(t, d.Recent, 3)
	require.Equal(t, []int{200, 500, 500}, []int{d.Recent[0].StatusCode, d.Recent[1].StatusCode, d.Recent[2].StatusCode})
	require.Contains(t, d.Recent[1].Error, "500")
	obs.mu.Lock()
	require.Equal(t, []string{"retry", "retry", "delivered"}, obs.outcomes)
	obs.mu.Unlock()
}

// TestGivesUpAfterRetryFor: a delivery that keeps failing is marked failed
// once its retry period is over.
func TestGivesUpAfterRetryFor(t *testing.T) {
	t.Parallel()
	e := newDispatch(t, func(d *domain.Dispatcher) { d.RetryFor = 300 * time.Millisecond })
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ep := e.endpoint(t, srv.URL)
	e.succeed(t)
	e.start()
	d := e.waitDelivery(t, ep.ID, domain.DeliveryFailed)
	e.stop()
	require.GreaterOrEqual(t, d.Attempts, 2, "retried before giving up")
	require.EqualValues(t, d.Attempts, hits.Load())
	require.Nil(t, d.DeliveredAt)
}

// TestSlowEndpointHoldsUpNoOther: while one endpoint does not answer at
// all, every event to another one is delivered, and the slow one never
// has more than PerEndpoint requests in flight.
func TestSlowEndpointHoldsUpNoOther(t *testing.T) {
	t.Parallel()
	e := newDispatch(t, func(*domain.Dispatcher) {})
	release := make(chan struct{})
	var inFlight, most atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
	}))
	defer slow.Close()
	var fastHits atomic.Int32
	fast := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { fastHits.Add(1) }))
	defer fast.Close()
	e.endpoint(t, slow.URL)
	fastEP := e.endpoint(t, fast.URL)
	const events = 12
	for i := 0; i < events; i++ {
		e.succeed(t)
	}
	e.start()
	deadline := time.Now().Add(20 * time.Second)
	for fastHits.Load() < events && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.EqualValues(t, events, fastHits.Load(), "the fast endpoint got every event while the slow one hung")
	delivered := 0
	for time.Now().Before(deadline) {
		ds, err := e.store.Deliveries(ctx, "acme", fastEP.ID, 100)
		require.NoError(t, err)
		delivered = 0
		for _, d := range ds {
			if d.Status == domain.DeliveryDelivered {
				delivered++
			}
		}
		if delivered == events {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, events, delivered, "and each is recorded delivered")
	require.LessOrEqual(t, most.Load(), int32(2), "at most PerEndpoint requests to one endpoint at once")
	close(release)
	e.stop()
}
