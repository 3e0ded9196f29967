package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/httpapi"
	"github.com/downloadcenter/dc/infra/localfs"
	"github.com/downloadcenter/dc/infra/memqueue"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/webhook"
)

type env struct {
	handler http.Handler
	srv     *httptest.Server
	store   *mysql.Store
	files   *localfs.Store
	queue   *memqueue.Queue
	keys    *domain.Keys
	// key is sent by do unless a test passes its own Authorization.
	key   string
	links *httpapi.Links
	// sessions signs session tokens; clock is its time (and the links').
	sessions *httpapi.Sessions
	clock    *testClock
}

// testClock is a clock tests move forward.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// testPage is the page's files as the server expects them (the real ones
// are infra/webui's, tested in a browser by cmd/api).
var testPage = fstest.MapFS{
	"index.html":       {Data: []byte(`<!doctype html><html lang="en"><head><script src="/ui/assets/app.js"></script></head><body></body></html>`)},
	"assets/app.js":    {Data: []byte(`"use strict";`)},
	"assets/app.css":   {Data: []byte(`body{}`)},
	"assets/notes.txt": {Data: []byte(`not an asset type`)},
}

// pageOptions adjusts the page settings of a test server.
type pageOptions struct {
	frameAncestors string
	cors           *httpapi.CORS
}

// newEnv serves the API over a real SQLite store and file store, with an
// in-process queue no worker reads, so tasks stay where tests put them.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(*domain.Tasks, *httpapi.Links) {})
}

// newEnvWith is newEnv with the use cases and links adjusted first.
func newEnvWith(t *testing.T, adjust func(*domain.Tasks, *httpapi.Links)) *env {
	t.Helper()
	return newEnvPage(t, adjust, pageOptions{})
}

// newEnvPage is newEnvWith with the page's settings.
func newEnvPage(t *testing.T, adjust func(*domain.Tasks, *httpapi.Links), page pageOptions) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	store, err := mysql.OpenSQLite(context.Background(), filepath.Join(dir, "dc.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	files, err := localfs.New(filepath.Join(dir, "files"))
	require.NoError(t, err)
	q := memqueue.New(1000, time.Second)
	tasks := &domain.Tasks{
		Store: store, Sender: q, Providers: domain.Registry{demo.Type: demo.New()},
		Now: func() time.Time { return time.Now().UTC() }, Log: log, Files: files,
	}
	keys := &domain.Keys{Store: store, Now: func() time.Time { return time.Now().UTC() }, CacheTTL: 200 * time.Millisecond}
	key, _, err := keys.Create(context.Background(), "acme", "tests", domain.DefaultScopes)
	require.NoError(t, err)
	clock := &testClock{}
	links := &httpapi.Links{Secret: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Minute, Now: time.Now}
	adjust(tasks, links)
	sessions := &httpapi.Sessions{Secret: links.Secret, Now: clock.Now}
	h := newHandler(t, store, tasks, keys, links, sessions, files, page)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{handler: h, srv: srv, store: store, files: files, queue: q, keys: keys, key: key, links: links,
		sessions: sessions, clock: clock}
}

// newHandler is one API replica over the store, with its own change feed
// polling it.
func newHandler(t *testing.T, store *mysql.Store, tasks *domain.Tasks, keys *domain.Keys, links *httpapi.Links,
	sessions *httpapi.Sessions, files *localfs.Store, page pageOptions) http.Handler {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	changes := &domain.Changes{Store: store, Now: store.Now, Every: 50 * time.Millisecond, Log: log}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); changes.Run(ctx) }()
	shutdown := make(chan struct{})
	t.Cleanup(func() { close(shutdown); stop(); <-done })
	hooks := &domain.Webhooks{Store: store, Targets: &webhook.Targets{}, Now: func() time.Time { return time.Now().UTC() }}
	return httpapi.New(httpapi.Config{Tasks: tasks, Auth: keys, Links: links, Files: files, Health: store.Ping, Log: log, MaxBody: 4096, Webhooks: hooks,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = io.WriteString(w, "up 1\n")
		}),
		Sessions: sessions, Changes: changes, UI: testPage, FrameAncestors: page.frameAncestors, CORS: page.cors, Shutdown: shutdown})
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t *testing.T, method, path, ctype, body string, hdr ...string) resp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if e.key != "" {
		req.Header.Set("Authorization", "Bearer "+e.key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	checkAgainstDocument(t, req, res, b)
	return resp{res.StatusCode, res.Header, b}
}

func (e *env) create(t *testing.T, body string, hdr ...string) resp {
	return e.do(t, http.MethodPost, "/api/v1/tasks", "application/json", body, hdr...)
}

type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"errors"`
}

func decodeProblem(t *testing.T, r resp) problem {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), string(r.body))
	var p problem
	require.NoError(t, json.Unmarshal(r.body, &p), string(r.body))
	require.Equal(t, r.status, p.Status)
	return p
}

type taskJSON struct {
	ID       int64           `json:"id"`
	Owner    string          `json:"owner"`
	Name     string          `json:"name"`
	Status   string          `json:"status"`
	Format   string          `json:"format"`
	Params   json.RawMessage `json:"params"`
	Attempts int             `json:"attempts"`
	Columns  []domain.Column `json:"columns"`
	Progress struct {
		RowsWritten int64  `json:"rows_written"`
		RowsTotal   *int64 `json:"rows_total"`
	} `json:"progress"`
	File *struct {
		URL  string `json:"url"`
		Size int64  `json:"size"`
	} `json:"file"`
}

func TestCreateRejectsBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	long := strings.Repeat("x", 101)
	cases := []struct {
		name, ctype, body string
		status            int
		field, detail     string
	}{
		{"malformed JSON", "application/json", `{"name":`, 400, "", "malformed JSON"},
		{"not an object", "application/json", `[1,2]`, 400, "", "JSON object"},
		{"empty body", "application/json", ``, 400, "", "empty"},
		{"two values", "application/json", `{} {}`, 400, "", "data after the JSON object"},
		{"extra closing brace", "application/json", `{"name":"a","type":"demo","params":{"rows":1}}}`, 400, "", "data after the JSON object"},
		{"unknown field", "application/json", `{"name":"a","type":"demo","params":{"rows":1},"colour":"red"}`, 400, "", `unknown field "colour"`},
		{"wrong field type", "application/json", `{"name":5,"type":"demo"}`, 400, "", `"name" must be a string`},
		{"missing name", "application/json", `{"type":"demo","params":{"rows":1}}`, 400, "name", "required"},
		{"blank name", "application/json", `{"name":"   ","type":"demo","params":{"rows":1}}`, 400, "name", "required"},
		{"long name", "application/json", `{"name":"` + long + `","type":"demo","params":{"rows":1}}`, 400, "name", "at most 100"},
		{"missing type", "application/json", `{"name":"a","params":{"rows":1}}`, 400, "type", "required"},
		{"unknown type", "application/json", `{"name":"a","type":"nope","params":{"rows":1}}`, 400, "type", `unknown export type "nope"`},
		{"unknown format", "application/json", `{"name":"a","type":"demo","format":"pdf","params":{"rows":1}}`, 400, "format", "must be one of"},
		{"params not object", "application/json", `{"name":"a","type":"demo","params":[1]}`, 400, "params", "JSON object"},
		{"missing rows", "application/json", `{"name":"a","type":"demo","params":{}}`, 400, "params.rows", ""},
		{"negative rows", "application/json", `{"name":"a","type":"demo","params":{"rows":-1}}`, 400, "params.rows", ""},
		{"string rows", "application/json", `{"name":"a","type":"demo","params":{"rows":"0 OR 1=1"}}`, 400, "params.rows", ""},
		{"unknown param", "application/json", `{"name":"a","type":"demo","params":{"rows":1,"evil":1}}`, 400, "params.evil", ""},
		{"unknown column", "application/json", `{"name":"a","type":"demo","params":{"rows":1},"columns":[{"field":"id"},{"field":"password"}]}`, 400, "columns[1].field", `unknown field "password"`},
		{"empty column field", "application/json", `{"name":"a","type":"demo","params":{"rows":1},"columns":[{"header":"x"}]}`, 400, "columns[0].field", "required"},
		{"bad width", "application/json", `{"name":"a","type":"demo","params":{"rows":1},"columns":[{"field":"id","width":-3}]}`, 400, "columns[0].width", ""},
		{"too large", "application/json", `{"name":"` + strings.Repeat("y", 5000) + `"}`, 413, "", "over 4096 bytes"},
		{"wrong content type", "text/plain", `{}`, 415, "", "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.create(t, tc.body)
			if tc.ctype != "application/json" {
				r = e.do(t, http.MethodPost, "/api/v1/tasks", tc.ctype, tc.body)
			}
			require.Equal(t, tc.status, r.status, string(r.body))
			p := decodeProblem(t, r)
			require.Contains(t, p.Detail, tc.detail)
			if tc.field != "" {
				var fields []string
				for _, f := range p.Errors {
					fields = append(fields, f.Field)
					require.NotEmpty(t, f.Reason)
				}
				require.Contains(t, fields, tc.field)
			}
		})
	}
	// Nothing was stored by any of them.
	ts, err := e.store.List(context.Background(), domain.ListQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, ts)
	require.Zero(t, e.queue.Len())
}

func TestCreateAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.create(t, `{"name":" Orders 十一月 ","type":"demo","params":{"rows":20},"columns":[{"field":"amount","header":"Amt","format":"0.00"},{"field":"id"}]}`)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var tk taskJSON
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, fmt.Sprintf("/api/v1/tasks/%d", tk.ID), r.header.Get("Location"))
	require.Equal(t, "Orders 十一月", tk.Name)
	require.Equal(t, "NOT_EXECUTED", tk.Status)
	require.Equal(t, "xlsx", tk.Format, "xlsx is the default format")
	require.JSONEq(t, `{"rows":20}`, string(tk.Params))
	require.Equal(t, []domain.Column{{Field: "amount", Header: "Amt", Format: "0.00"}, {Field: "id", Header: "Order ID"}}, tk.Columns)
	require.Nil(t, tk.Progress.RowsTotal)
	require.Nil(t, tk.File)
	require.Equal(t, 1, e.queue.Len(), "an intent was emitted")

	g := e.do(t, http.MethodGet, r.header.Get("Location"), "", "")
	require.Equal(t, http.StatusOK, g.status)
	var back taskJSON
	require.NoError(t, json.Unmarshal(g.body, &back))
	require.Equal(t, tk.ID, back.ID)
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	body := `{"name":"a","type":"demo","params":{"rows":1}}`
	first := e.create(t, body, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusAccepted, first.status)
	again := e.create(t, body, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusAccepted, again.status)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	var a, b taskJSON
	require.NoError(t, json.Unmarshal(first.body, &a))
	require.NoError(t, json.Unmarshal(again.body, &b))
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, 1, e.queue.Len(), "a replay emits no second intent")

	other := e.create(t, `{"name":"a","type":"demo","params":{"rows":2}}`, "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusUnprocessableEntity, other.status)
	require.Contains(t, decodeProblem(t, other).Detail, "different request")

	for _, key := range []string{"ключ", "a b", strings.Repeat("k", 256)} {
		bad := e.create(t, body, "Idempotency-Key", key)
		require.Equal(t, http.StatusBadRequest, bad.status, key)
		require.Equal(t, "Idempotency-Key", decodeProblem(t, bad).Errors[0].Field)
	}
}

func TestGetUnknownOrMalformedID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/api/v1/tasks/999", "/api/v1/tasks/abc", "/api/v1/tasks/-1", "/api/v1/tasks/0", "/api/v1/tasks/99999999999999999999",
		"/api/v1/tasks/999/file", "/api/v1/tasks/x/file"} {
		r := e.do(t, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusNotFound, r.status, path)
		decodeProblem(t, r)
	}
	for _, path := range []string{"/api/v1/tasks/999/cancel", "/api/v1/tasks/999/retry", "/api/v1/tasks/zz/cancel"} {
		r := e.do(t, http.MethodPost, path, "", "")
		require.Equal(t, http.StatusNotFound, r.status, path)
		decodeProblem(t, r)
	}
	r := e.do(t, http.MethodGet, "/nope", "", "")
	require.Equal(t, http.StatusNotFound, r.status)
	decodeProblem(t, r)
	r = e.do(t, http.MethodDelete, "/api/v1/tasks", "", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	decodeProblem(t, r)
	for _, p := range []string{"/api/v1/tasks/1/", "/api/v1/tasks/"} {
		r = e.do(t, http.MethodGet, p, "", "")
		require.Equal(t, http.StatusNotFound, r.status, p)
		decodeProblem(t, r)
	}
	r = e.create(t, `{}`)
	require.Equal(t, http.StatusBadRequest, r.status)
	r = e.do(t, http.MethodPost, "/api/v1/tasks/", "application/json", `{}`)
	require.Equal(t, http.StatusNotFound, r.status)
	decodeProblem(t, r)
}

func TestCancelRetryConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.create(t, `{"name":"a","type":"demo","params":{"rows":1}}`)
	var tk taskJSON
	require.NoError(t, json.Unmarshal(r.body, &tk))
	path := fmt.Sprintf("/api/v1/tasks/%d", tk.ID)

	r = e.do(t, http.MethodPost, path+"/retry", "", "")
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, decodeProblem(t, r).Detail, "NOT_EXECUTED")

	r = e.do(t, http.MethodGet, path+"/file", "", "")
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, decodeProblem(t, r).Detail, "NOT_EXECUTED")

	r = e.do(t, http.MethodPost, path+"/cancel", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, "CANCELLED", tk.Status)

	r = e.do(t, http.MethodPost, path+"/cancel", "", "")
	require.Equal(t, http.StatusConflict, r.status)
	require.Contains(t, decodeProblem(t, r).Detail, "CANCELLED")

	r = e.do(t, http.MethodPost, path+"/retry", "", "")
	require.Equal(t, http.StatusAccepted, r.status)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, "NOT_EXECUTED", tk.Status)
	require.Equal(t, 2, e.queue.Len(), "create and retry each emitted an intent")
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ids []int64
	for i := range 5 {
		typ := "xlsx"
		if i%2 == 0 {
			typ = "csv"
		}
		r := e.create(t, fmt.Sprintf(`{"name":"t%d","type":"demo","format":%q,"params":{"rows":1}}`, i, typ))
		var tk taskJSON
		require.NoError(t, json.Unmarshal(r.body, &tk))
		ids = append(ids, tk.ID)
	}
	var seen []int64
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		r := e.do(t, http.MethodGet, "/api/v1/tasks?limit=2&cursor="+cursor, "", "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var page struct {
			Items      []taskJSON `json:"items"`
			NextCursor *string    `json:"next_cursor"`
		}
		require.NoError(t, json.Unmarshal(r.body, &page))
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	require.Equal(t, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, seen)

	r := e.do(t, http.MethodGet, "/api/v1/tasks?status=not_executed&type=demo", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"next_cursor":null`)

	for _, q := range []string{"status=DONE", "limit=0", "limit=501", "limit=x", "cursor=***", "cursor=aWQ6eA"} {
		r := e.do(t, http.MethodGet, "/api/v1/tasks?"+q, "", "")
		require.Equal(t, http.StatusBadRequest, r.status, q)
		decodeProblem(t, r)
	}
}

// TestDownload stores a finished task by hand and fetches its file whole
// and by range.
func TestDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	r := e.create(t, `{"name":"Résumé: Q3/Q4 \"final\"","type":"demo","format":"csv","params":{"rows":1}}`)
	var tk taskJSON
	require.NoError(t, json.Unmarshal(r.body, &tk))
	now := time.Now().UTC()
	claimed, err := e.store.Claim(ctx, tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	content := []byte("id,name\n1,é\n")
	pf, err := e.files.Create(domain.FileName(claimed))
	require.NoError(t, err)
	_, err = pf.Write(content)
	require.NoError(t, err)
	size, err := pf.Commit()
	require.NoError(t, err)
	require.NoError(t, e.store.Succeed(ctx, domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: 1},
		domain.FileInfo{Name: domain.FileName(claimed), Size: size, Rows: 1, Sheets: 1}, now))

	path := fmt.Sprintf("/api/v1/tasks/%d/file", tk.ID)
	r = e.do(t, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, content, r.body)
	require.Equal(t, "text/csv; charset=utf-8", r.header.Get("Content-Type"))
	require.Equal(t, fmt.Sprint(len(content)), r.header.Get("Content-Length"))
	cd := r.header.Get("Content-Disposition")
	require.True(t, strings.HasPrefix(cd, `attachment; filename="R_sum__ Q3_Q4 _final_.csv"`), cd)
	require.Contains(t, cd, `filename*=UTF-8''R%C3%A9sum%C3%A9_%20Q3_Q4%20_final_.csv`)

	r = e.do(t, http.MethodGet, path, "", "", "Range", "bytes=3-6")
	require.Equal(t, http.StatusPartialContent, r.status)
	require.Equal(t, content[3:7], r.body)
	require.Equal(t, fmt.Sprintf("bytes 3-6/%d", len(content)), r.header.Get("Content-Range"))

	g := e.do(t, http.MethodGet, fmt.Sprintf("/api/v1/tasks/%d", tk.ID), "", "")
	var done taskJSON
	require.NoError(t, json.Unmarshal(g.body, &done))
	require.Equal(t, "SUCCESS", done.Status)
	require.NotNil(t, done.File)
	require.True(t, strings.HasPrefix(done.File.URL, "/files/"), done.File.URL)

	// The signed link downloads with no key at all.
	key := e.key
	e.key = ""
	r = e.do(t, http.MethodGet, done.File.URL, "", "")
	e.key = key
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, content, r.body)

	// A file lost from the volume is gone, said as a problem.
	require.NoError(t, os.Remove(filepath.Join(e.files.Dir(), domain.FileName(claimed))))
	r = e.do(t, http.MethodGet, path, "", "")
	require.Equal(t, http.StatusGone, r.status)
	require.Contains(t, decodeProblem(t, r).Detail, "no longer stored")
	require.NotContains(t, string(r.body), e.files.Dir(), "no internal paths leak")
}

// TestHealthzAndReadyz: liveness checks nothing, so a database outage
// does not restart pods; readiness names the database when it is down.
func TestHealthzAndReadyz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, bytes.Contains(r.body, []byte(`"ok"`)))
	r = e.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, e.store.Close())
	r = e.do(t, http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, r.status, "liveness does not depend on the database")
	r = e.do(t, http.MethodGet, "/readyz", "", "")
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	p := decodeProblem(t, r)
	require.Contains(t, p.Detail, "database")
	require.Len(t, p.Errors, 1)
	require.Equal(t, "database", p.Errors[0].Field)
}
