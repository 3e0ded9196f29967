package httpprovider_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

// Compile-time checks that the provider fits the ports.
var (
	_ domain.Provider = (*httpprovider.Provider)(nil)
	_ domain.Counter  = (*httpprovider.Provider)(nil)
)

var baseTime = time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)

// invoice returns row i (from 1) as the service sends it and as Fetch must
// yield it. Decimals are too long for a float64 and alternate between JSON
// numbers and strings; paid is missing or null on some rows.
func invoice(i int) (map[string]any, []any) {
	total := fmt.Sprintf("98765432109876543210.%03d", i%1000)
	if i%7 == 0 {
		total = "-" + total
	}
	var totalJSON any = json.Number(total)
	if i%2 == 1 {
		totalJSON = total
	}
	issued := baseTime.Add(time.Duration(i) * time.Second)
	note := fmt.Sprintf("Zoë №%d \"quoted\"\n\t<tag>", i)
	wire := map[string]any{"id": i, "total": totalJSON, "issued_at": issued.Format(time.RFC3339), "note": note}
	want := []any{int64(i), domain.Decimal(total), issued, nil, note}
	switch i % 6 {
	case 0, 3:
		wire["paid"], want[3] = true, true
	case 1, 4:
		wire["paid"], want[3] = false, false
	case 2:
		// missing
	case 5:
		wire["paid"] = nil
	}
	return wire, want
}

// pagedService serves rows 1..total in pages of the requested size, the
// cursor being the last row sent.
func pagedService(total int, check func(t *testing.T, req wireRequest, n int64)) handler {
	return func(t *testing.T, w http.ResponseWriter, req wireRequest, n int64) {
		if check != nil {
			check(t, req, n)
		}
		after := 0
		if req.Cursor != nil {
			after, _ = strconv.Atoi(*req.Cursor)
		}
		last := min(after+req.Limit, total)
		rows := make([]map[string]any, 0, last-after)
		for i := after + 1; i <= last; i++ {
			wire, _ := invoice(i)
			rows = append(rows, wire)
		}
		var next any
		if last < total {
			next = strconv.Itoa(last)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"rows": rows, "next_cursor": next})
	}
}

func TestFetchRoundTripsAPagedExport(t *testing.T) {
	t.Parallel()
	const total, limit = 10_000, 777
	svc := newService(t, pagedService(total, func(t *testing.T, req wireRequest, n int64) {
		require.Equal(t, "invoices", req.Type)
		require.Equal(t, limit, req.Limit)
		require.Equal(t, map[string]any{"year": json.Number("2026"), "rate": json.Number("0.12345678901234567890")}, req.Params)
		if n == 1 {
			require.JSONEq(t, "null", string(req.Keys["cursor"]), "first page has a null cursor")
		} else {
			require.Equal(t, strconv.Itoa(int(n-1)*limit), *req.Cursor)
		}
		require.NotContains(t, req.Keys, "count")
		require.Equal(t, "application/json", req.Header.Get("Content-Type"))
		require.Equal(t, "42", req.Header.Get(httpprovider.HeaderTaskID))
		require.Equal(t, "2", req.Header.Get(httpprovider.HeaderAttempt))
		require.Equal(t, httpprovider.UserAgent, req.Header.Get("User-Agent"))
	}))
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
		c.AllowUnknownParams = false
		c.Params = map[string]httpprovider.Param{
			"year": {Kind: domain.KindInt, Required: true},
			"rate": {Kind: domain.KindDecimal},
		}
	})
	params := map[string]any{"year": json.Number("2026"), "rate": json.Number("0.12345678901234567890")}
	require.NoError(t, p.Validate(params))

	rows, pages, err := fetchAll(t.Context(), p, params, limit)
	require.NoError(t, err)
	require.Equal(t, (total+limit-1)/limit, pages)
	require.Len(t, rows, total)
	for i, got := range rows {
		_, want := invoice(i + 1)
		require.Equal(t, want, got, "row %d", i+1)
	}
	require.Equal(t, int64(pages), svc.calls.Load())
}

func TestFetchEmptyExport(t *testing.T) {
	t.Parallel()
	svc := newService(t, one(200, `{"rows": [], "next_cursor": null}`))
	b, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{})
	require.NoError(t, err)
	require.Equal(t, domain.Batch{Rows: [][]any{}, Done: true}, b)
}

func TestFetchSendsDefaultsForEmptyRequest(t *testing.T) {
	t.Parallel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, req wireRequest, _ int64) {
		require.JSONEq(t, `{"type":"invoices","params":{},"cursor":null,"limit":1000}`, string(mustJSON(t, req.Keys)))
		reply(w, 200, `{"rows": [], "next_cursor": null}`)
	})
	_, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{TaskID: 7, Attempt: 1})
	require.NoError(t, err)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestWrongSecretIsRefusedPermanently(t *testing.T) {
	t.Parallel()
	svc := newService(t, pagedService(10, nil))
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Secret = "not-the-shared-secret-123" })
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 5})
	requireFailed(t, err, true, "invoices service refused the request (401 Unauthorized): check the shared secret")
	require.NotContains(t, err.Error(), "not-the-shared-secret-123")
	require.Equal(t, int64(1), svc.calls.Load(), "a refusal is not retried")
}

func TestStatusFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         handler
		permanent bool
		calls     int64
		want      []string
	}{
		{name: "403", h: one(403, `{"error":"forbidden"}`), permanent: true, calls: 1,
			want: []string{"invoices service refused the request (403 Forbidden): check the shared secret", `forbidden`}},
		{name: "400 quotes the body", h: one(400, `{"error": "year must be before 2100"}`), permanent: true, calls: 1,
			want: []string{`invoices service answered 400 Bad Request: "{\"error\": \"year must be before 2100\"}"`}},
		{name: "404", h: one(404, ""), permanent: true, calls: 1, want: []string{"invoices service answered 404 Not Found"}},
		{name: "long error body is cut", h: one(422, strings.Repeat("x", 5000)), permanent: true, calls: 1, want: []string{"422", "xxx…"}},
		{name: "redirect is not followed", h: func(_ *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}, permanent: true, calls: 1, want: []string{`307 Temporary Redirect, redirecting to "http://127.0.0.1:1/elsewhere"`, "redirects are not followed"}},
		{name: "204 is not a page", h: one(204, ""), permanent: true, calls: 1, want: []string{"204 No Content"}},
		{name: "500 retried then given up", h: one(500, "boom"), calls: 4,
			want: []string{`invoices service answered 500 Internal Server Error: "boom" (gave up after 4 tries)`}},
		{name: "429 retried", h: one(429, ""), calls: 4, want: []string{"429 Too Many Requests (gave up after 4 tries)"}},
		{name: "408 retried", h: one(408, ""), calls: 4, want: []string{"408 Request Timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tt.h)
			_, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{Limit: 5})
			requireFailed(t, err, tt.permanent, tt.want...)
			require.Equal(t, tt.calls, svc.calls.Load())
		})
	}
}

func TestRetriesWithinAnAttempt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retries   *int
		failFirst int64
		status    int
		wantErr   bool
		calls     int64
	}{
		{name: "503 twice then 200", failFirst: 2, status: 503, calls: 3},
		{name: "503 three times then 200, default retries", failFirst: 3, status: 503, calls: 4},
		{name: "503 four times is too many", failFirst: 4, status: 503, wantErr: true, calls: 4},
		{name: "no retries configured", retries: intp(0), failFirst: 1, status: 502, wantErr: true, calls: 1},
		{name: "one retry configured", retries: intp(1), failFirst: 1, status: 504, calls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			page := pagedService(3, nil)
			svc := newService(t, func(t *testing.T, w http.ResponseWriter, req wireRequest, n int64) {
				if n <= tt.failFirst {
					reply(w, tt.status, "busy")
					return
				}
				page(t, w, req, n)
			})
			p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Retries = tt.retries })
			b, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
			require.Equal(t, tt.calls, svc.calls.Load())
			if tt.wantErr {
				requireFailed(t, err, false, "busy", "gave up after")
				return
			}
			require.NoError(t, err)
			require.Len(t, b.Rows, 3)
			require.True(t, b.Done)
		})
	}
}

func TestFailureMidExport(t *testing.T) {
	t.Parallel()
	page := pagedService(100, nil)
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, req wireRequest, n int64) {
		if req.Cursor != nil && *req.Cursor == "20" {
			reply(w, 500, "database is down")
			return
		}
		page(t, w, req, n)
	})
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Retries = intp(2) })
	rows, pages, err := fetchAll(t.Context(), p, nil, 10)
	requireFailed(t, err, false, "database is down", "gave up after 3 tries")
	require.Len(t, rows, 20)
	require.Equal(t, 3, pages)
	require.Equal(t, int64(2+3), svc.calls.Load())
}

func TestTimeoutIsRetriedThenRetryable(t *testing.T) {
	t.Parallel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
		time.Sleep(300 * time.Millisecond) // longer than the timeout
		reply(w, 200, `{"rows": [], "next_cursor": null}`)
	})
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
		c.Timeout = 50 * time.Millisecond
		c.Retries = intp(1)
	})
	start := time.Now()
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	requireFailed(t, err, false, "invoices service: no complete answer from", "within the timeout of 50ms", "gave up after 2 tries")
	require.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, int64(2), svc.calls.Load())
}

func TestSlowBodyTimesOut(t *testing.T) {
	t.Parallel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`{"rows": [`))
		w.(http.Flusher).Flush()
		time.Sleep(300 * time.Millisecond)
	})
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
		c.Timeout = 50 * time.Millisecond
		c.Retries = intp(0)
	})
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	requireFailed(t, err, false, "within the timeout of 50ms")
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	t.Parallel()
	svc := newService(t, one(200, "{}"))
	url := svc.URL
	svc.Close()
	p := newProvider(t, url, func(c *httpprovider.Config) { c.Retries = intp(2) })
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	requireFailed(t, err, false, "invoices service: POST "+url, "gave up after 3 tries")
}

func TestOversizedResponse(t *testing.T) {
	t.Parallel()
	big := `{"rows": [{"note": "` + strings.Repeat("a", 2000) + `"}], "next_cursor": null}`
	tests := []struct {
		name string
		h    handler
	}{
		{name: "with content length", h: one(200, big)},
		{name: "chunked", h: func(_ *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
			for i := 0; i < len(big); i += 100 {
				_, _ = w.Write([]byte(big[i:min(i+100, len(big))]))
				w.(http.Flusher).Flush()
			}
		}},
		{name: "gzip expands past the limit", h: func(_ *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write([]byte(big))
			_ = zw.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tt.h)
			p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.MaxResponseBytes = 1024 })
			_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
			requireFailed(t, err, true, "invoices service: response larger than max_response_bytes (1024 bytes)")
			require.Equal(t, int64(1), svc.calls.Load())
		})
	}
}

func TestResponseAtTheLimitIsFine(t *testing.T) {
	t.Parallel()
	body := `{"rows": [], "next_cursor": null}`
	svc := newService(t, one(200, body))
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.MaxResponseBytes = int64(len(body)) })
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	require.NoError(t, err)
}

func TestMalformedResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "html", body: "<html><body>Gateway</body></html>", want: `invoices service: malformed JSON response at byte 1: invalid character '<' looking for beginning of value; the body starts with "<html><body>Gateway</body></html>"`},
		{name: "empty", body: "", want: "the body is empty, want a JSON object"},
		{name: "truncated", body: `{"rows": [{"id": 1}`, want: "the body ends in the middle of the JSON"},
		{name: "array", body: `[]`, want: "want a JSON object, got a JSON array"},
		{name: "rows missing", body: `{"next_cursor": null}`, want: `"rows" must be an array`},
		{name: "rows null", body: `{"rows": null, "next_cursor": null}`, want: `"rows" must be an array`},
		{name: "rows an object", body: `{"rows": {}, "next_cursor": null}`, want: `malformed response: "rows" is a JSON object`},
		{name: "next_cursor missing", body: `{"rows": []}`, want: `"next_cursor" is missing (null when there are no more rows)`},
		{name: "next_cursor empty", body: `{"rows": [], "next_cursor": ""}`, want: `"next_cursor" must not be empty`},
		{name: "next_cursor a number", body: `{"rows": [], "next_cursor": 5}`, want: `"next_cursor" must be a string or null`},
		{name: "trailing data", body: `{"rows": [], "next_cursor": null} {}`, want: "data after the JSON object"},
		{name: "row not an object", body: `{"rows": [{"id": 1}, [1, 2]], "next_cursor": null}`, want: "invoices service: rows[1] is an array, want an object"},
		{name: "row null", body: `{"rows": [null], "next_cursor": null}`, want: "rows[0] is null, want an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, one(200, tt.body))
			_, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{Limit: 10})
			requireFailed(t, err, true, tt.want)
			require.Equal(t, int64(1), svc.calls.Load())
		})
	}
}

func TestUnknownFieldFailsNamingRowAndField(t *testing.T) {
	t.Parallel()
	svc := newService(t, one(200, `{"rows": [{"id": 1}, {"id": 2, "discount": "1.00", "zz": 1}], "next_cursor": "2"}`))
	_, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	requireFailed(t, err, true, `invoices service: rows[1] has unknown field "discount"; the configured columns are id, total, issued_at, paid, note`)
}

func TestWrongKindFailsNamingRowAndField(t *testing.T) {
	t.Parallel()
	svc := newService(t, one(200, `{"rows": [{"id": 1, "total": "2.50"}, {"id": 2, "total": true}], "next_cursor": null}`))
	_, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	requireFailed(t, err, true, "invoices service: rows[1].total: want a decimal, got the boolean true")
}

func TestCancelDuringRetrySleepReturnsPromptly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
		reply(w, 503, "")
		// The provider is now about to sleep at least 5 s (half the
		// 10 s backoff, the rest jitter).
		time.AfterFunc(50*time.Millisecond, cancel)
	})
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Backoff = 10 * time.Second })
	start := time.Now()
	_, err := p.Fetch(ctx, domain.FetchRequest{Limit: 10})
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, err, context.Canceled)
	requireFailed(t, err, false, "stopped while waiting to retry", "503")
	require.Equal(t, int64(1), svc.calls.Load())
}

func TestCancelDuringRequestReturnsPromptly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	release := make(chan struct{})
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
		time.AfterFunc(50*time.Millisecond, cancel)
		<-release
	})
	// Registered after the server's Close so it runs first (cleanups run
	// last-in first-out) and Close does not wait on the handler.
	t.Cleanup(func() { close(release) })
	p := newProvider(t, svc.URL)
	start := time.Now()
	_, err := p.Fetch(ctx, domain.FetchRequest{Limit: 10})
	require.Less(t, time.Since(start), time.Second)
	require.ErrorIs(t, err, context.Canceled)
	requireFailed(t, err, false, "invoices service: stopped")
	require.Equal(t, int64(1), svc.calls.Load())
}

func TestFetchRechecksParams(t *testing.T) {
	t.Parallel()
	svc := newService(t, one(200, `{"rows": [], "next_cursor": null}`))
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
		c.AllowUnknownParams = false
		c.Params = map[string]httpprovider.Param{"year": {Kind: domain.KindInt, Required: true}}
	})
	_, err := p.Fetch(t.Context(), domain.FetchRequest{Params: map[string]any{"year": "2026"}, Limit: 10})
	requireFailed(t, err, true, "invoices service: params no longer valid: invalid request: params.year: must be an integer")
	require.Zero(t, svc.calls.Load())
}

func TestParamsReachTheServiceUnchanged(t *testing.T) {
	t.Parallel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, req wireRequest, _ int64) {
		require.JSONEq(t, `{"amount": 12345678901234567890.123456789, "from": "2026-01-01T00:00:00+08:00", "tags": ["a"], "on": true}`,
			string(req.Keys["params"]))
		require.Contains(t, string(req.Keys["params"]), "12345678901234567890.123456789", "numbers keep their text")
		reply(w, 200, `{"rows": [], "next_cursor": null}`)
	})
	p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
		c.Params = map[string]httpprovider.Param{"amount": {Kind: domain.KindDecimal}, "from": {Kind: domain.KindTime}}
	})
	raw := `{"amount": 12345678901234567890.123456789, "from": "2026-01-01T00:00:00+08:00", "tags": ["a"], "on": true}`
	params, err := domain.DecodeParams(json.RawMessage(raw))
	require.NoError(t, err)
	require.NoError(t, p.Validate(params))
	_, err = p.Fetch(t.Context(), domain.FetchRequest{Params: params, Limit: 10})
	require.NoError(t, err)
}

func TestCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		count     bool
		h         handler
		want      int64
		permanent bool
		wantErr   string
		calls     int64
	}{
		{name: "disabled makes no request", h: one(500, ""), want: -1},
		{name: "count", count: true, calls: 1, want: 10_000, h: func(t *testing.T, w http.ResponseWriter, req wireRequest, _ int64) {
			require.JSONEq(t, `{"type":"invoices","params":{"year":2026},"count":true}`, string(mustJSON(t, req.Keys)))
			require.Empty(t, req.Header.Get(httpprovider.HeaderTaskID))
			reply(w, 200, `{"count": 10000}`)
		}},
		{name: "zero", count: true, calls: 1, h: one(200, `{"count": 0}`), want: 0},
		{name: "missing", count: true, calls: 1, h: one(200, `{}`), permanent: true, wantErr: `invoices service: count: malformed response: "count" is missing`},
		{name: "negative", count: true, calls: 1, h: one(200, `{"count": -1}`), permanent: true, wantErr: "must be a non-negative integer, got -1"},
		{name: "fraction", count: true, calls: 1, h: one(200, `{"count": 1.5}`), permanent: true, wantErr: "must be a non-negative integer, got 1.5"},
		{name: "string", count: true, calls: 1, h: one(200, `{"count": "5"}`), permanent: true, wantErr: `must be a non-negative integer, got "5"`},
		{name: "server error retried", count: true, calls: 4, h: one(500, ""), wantErr: "gave up after 4 tries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tt.h)
			p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Count = tt.count })
			n, err := p.Count(t.Context(), map[string]any{"year": json.Number("2026")})
			require.Equal(t, tt.calls, svc.calls.Load())
			if tt.wantErr != "" {
				requireFailed(t, err, tt.permanent, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, n)
		})
	}
}

// A service may echo anything, the secret included; no error may carry it.
func TestSecretNeverInErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    handler
	}{
		{name: "in a 400 body", h: one(400, "your secret "+testSecret+" is wrong")},
		{name: "in a 401 body", h: one(401, testSecret)},
		{name: "in a 500 body", h: one(500, "x"+testSecret+"x")},
		{name: "cut at the end of a long 500 body", h: one(500, strings.Repeat(" ", 500)+testSecret)},
		{name: "in a malformed body", h: one(200, testSecret)},
		{name: "as an unknown field", h: one(200, `{"rows":[{"`+testSecret+`":1}],"next_cursor":null}`)},
		{name: "as a wrong value", h: one(200, `{"rows":[{"issued_at":"`+testSecret+`"}],"next_cursor":null}`)},
		{name: "as a redirect", h: func(_ *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
			w.Header().Set("Location", "http://127.0.0.1/?k="+testSecret)
			w.WriteHeader(http.StatusFound)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, tt.h)
			_, err := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.Retries = intp(0) }).
				Fetch(t.Context(), domain.FetchRequest{Limit: 10})
			require.Error(t, err)
			require.NotContains(t, err.Error(), testSecret)
			require.NotContains(t, err.Error(), testSecret[:len(testSecret)/2])
			require.NotContains(t, fmt.Sprintf("%+v", err), testSecret)
		})
	}
}
