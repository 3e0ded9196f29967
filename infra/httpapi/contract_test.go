package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpapi"
)

var (
	docOnce   sync.Once
	docRouter routers.Router
	docErr    error
	apiDoc    *openapi3.T
)

// document loads and validates the OpenAPI document once.
func document(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	docOnce.Do(func() {
		loader := openapi3.NewLoader()
		apiDoc, docErr = loader.LoadFromData(httpapi.OpenAPI)
		if docErr != nil {
			return
		}
		if docErr = apiDoc.Validate(context.Background()); docErr != nil {
			return
		}
		// The document's server is relative ("/"); match any host.
		routed := *apiDoc
		routed.Servers = nil
		docRouter, docErr = gorillamux.NewRouter(&routed)
	})
	require.NoError(t, docErr, "the OpenAPI document must load and validate")
	return apiDoc, docRouter
}

// checkAgainstDocument fails the test when a response to a documented
// route does not match the document: status, media type and body
// schema. Every request the httpapi tests make goes through here.
// Requests to undocumented paths (probes of the 404 handler) are skipped.
func checkAgainstDocument(t *testing.T, req *http.Request, res *http.Response, body []byte) {
	t.Helper()
	_, router := document(t)
	route, params, err := router.FindRoute(req)
	if err != nil {
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if req.Method == http.MethodHead {
		in.Options = &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	}
	err = openapi3filter.ValidateResponse(req.Context(), in)
	require.NoError(t, err, "%s %s → %d does not match the OpenAPI document:\n%s", req.Method, req.URL.Path, res.StatusCode, trim(body))
}

func trim(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

func init() {
	// Bodies of these types are text the schema calls a string.
	for _, ct := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestRoutesMatchDocument: every registered route is documented and every
// documented operation is registered.
func TestRoutesMatchDocument(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc, _ := document(t)
	engine, ok := e.handler.(*gin.Engine)
	require.True(t, ok, "httpapi.New returns the gin engine")
	var registered []string
	for _, r := range engine.Routes() {
		registered = append(registered, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(registered)
	sort.Strings(documented)
	require.Equal(t, documented, registered, "routes and the OpenAPI document differ")
}

// TestOpenAPIServed: the document and its reference page come from the
// binary.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/api/v1/openapi.json", "", "")
	require.Equal(t, http.StatusOK, r.status)
	var d map[string]any
	require.NoError(t, json.Unmarshal(r.body, &d))
	require.Equal(t, "3.1.0", d["openapi"])
	r = e.do(t, http.MethodGet, "/docs", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), "/docs/assets/docs.js")
	require.NotContains(t, string(r.body), "https://", "no CDN")
	for _, a := range []string{"docs.js", "docs.css"} {
		r = e.do(t, http.MethodGet, "/docs/assets/"+a, "", "")
		require.Equal(t, http.StatusOK, r.status, a)
		require.NotEmpty(t, r.body)
	}
	r = e.do(t, http.MethodGet, "/docs/assets/nope.js", "", "")
	require.Equal(t, http.StatusNotFound, r.status)
}

// TestTypes lists the demo type with its params, fields and formats.
func TestTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, http.MethodGet, "/api/v1/types", "", "")
	require.Equal(t, http.StatusOK, r.status)
	var got struct {
		Items []struct {
			Type   string `json:"type"`
			Params []struct {
				Name     string `json:"name"`
				Kind     string `json:"kind"`
				Required bool   `json:"required"`
			} `json:"params"`
			Fields []struct {
				Name, Header, Kind string
			} `json:"fields"`
			Formats []string `json:"formats"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(r.body, &got))
	require.Len(t, got.Items, 1)
	demo := got.Items[0]
	require.Equal(t, "demo", demo.Type)
	require.Equal(t, []string{"xlsx", "csv"}, demo.Formats)
	require.Len(t, demo.Fields, 10)
	require.Equal(t, "order_no", demo.Fields[1].Name)
	require.Equal(t, "Order No", demo.Fields[1].Header)
	names := map[string]bool{}
	for _, p := range demo.Params {
		names[p.Name] = p.Required
		require.Equal(t, "int", p.Kind)
	}
	require.Equal(t, map[string]bool{"rows": true, "fail_times": false, "delay_ms": false}, names)
}

// TestCancelRunningIsAcceptedAndDone: cancelling an EXECUTING task is 202
// (its worker stops it shortly), a waiting one 200; done says when a
// poller may stop.
func TestCancelRunningIsAcceptedAndDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var tk struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
		Done   bool   `json:"done"`
	}
	r := e.create(t, `{"name":"run","type":"demo","params":{"rows":1}}`)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.False(t, tk.Done)
	now := time.Now().UTC()
	_, err := e.store.Claim(context.Background(), tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	r = e.do(t, http.MethodPost, fmt.Sprintf("/api/v1/tasks/%d/cancel", tk.ID), "", "")
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, "EXECUTING", tk.Status)
	require.False(t, tk.Done)

	r = e.create(t, `{"name":"wait","type":"demo","params":{"rows":1}}`)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	r = e.do(t, http.MethodPost, fmt.Sprintf("/api/v1/tasks/%d/cancel", tk.ID), "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, "CANCELLED", tk.Status)
	require.True(t, tk.Done)

	// FAILED with a retry coming is not done; with none it is.
	r = e.create(t, `{"name":"fail","type":"demo","params":{"rows":1}}`)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	_, err = e.store.Claim(context.Background(), tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	next := now.Add(time.Hour)
	require.NoError(t, e.store.Fail(context.Background(), domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: 1},
		domain.Failure{Message: "boom", NextAttemptAt: &next}, now))
	r = e.do(t, http.MethodGet, fmt.Sprintf("/api/v1/tasks/%d", tk.ID), "", "")
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.Equal(t, "FAILED", tk.Status)
	require.False(t, tk.Done, "a retry is coming")
	r = e.do(t, http.MethodPost, fmt.Sprintf("/api/v1/tasks/%d/cancel", tk.ID), "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, json.Unmarshal(r.body, &tk))
	require.True(t, tk.Done)
}

// TestHeadFile answers the file's headers, its size included.
func TestHeadFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, http.MethodHead, "/api/v1/tasks/999/file", "", "")
	require.Equal(t, http.StatusNotFound, r.status)
	r = e.create(t, `{"name":"h","type":"demo","format":"csv","params":{"rows":1}}`)
	var tk struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &tk))
	now := time.Now().UTC()
	claimed, err := e.store.Claim(context.Background(), tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	pf, err := e.files.Create(domain.FileName(claimed))
	require.NoError(t, err)
	_, err = pf.Write([]byte("a,b\n1,2\n"))
	require.NoError(t, err)
	size, err := pf.Commit()
	require.NoError(t, err)
	require.NoError(t, e.store.Succeed(context.Background(), domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: 1},
		domain.FileInfo{Name: domain.FileName(claimed), Size: size, Rows: 1, Sheets: 1}, now))
	r = e.do(t, http.MethodHead, fmt.Sprintf("/api/v1/tasks/%d/file", tk.ID), "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "8", r.header.Get("Content-Length"))
	require.Empty(t, r.body)
	require.NotEmpty(t, r.header.Get("ETag"))
}

// TestRequestID: a client's id is echoed and carried on the intent; a bad
// or missing one is replaced by a generated id.
func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.create(t, `{"name":"rid","type":"demo","params":{"rows":1}}`, "X-Request-Id", "orders-nov-1")
	require.Equal(t, http.StatusAccepted, r.status)
	require.Equal(t, "orders-nov-1", r.header.Get("X-Request-Id"))
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got domain.Intent
	e.queue.Consume(stop, context.Background(), 1, func(_ context.Context, in domain.Intent) error {
		got = in
		cancel()
		return nil
	}, slog.New(slog.DiscardHandler))
	require.Equal(t, "orders-nov-1", got.RequestID, "the intent carries the request id to the worker")
	for _, bad := range []string{"", "has space", strings.Repeat("x", 129)} {
		r = e.do(t, http.MethodGet, "/healthz", "", "", "X-Request-Id", bad)
		id := r.header.Get("X-Request-Id")
		require.Regexp(t, `^[0-9a-f]{24}$`, id, "bad id %q replaced", bad)
	}
}

// TestStrictBodiesAndCanonicalIDs: keys are exact and unique, the body
// must be declared JSON, and only the canonical id names a task.
func TestStrictBodiesAndCanonicalIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for body, want := range map[string]string{
		`{"NAME":"a","type":"demo","params":{"rows":1}}`:                                        `unknown field "NAME"`,
		`{"name":"a","name":"b","type":"demo","params":{"rows":1}}`:                             `duplicate key "name"`,
		`{"name":"a","type":"demo","params":{"rows":1,"rows":2}}`:                               `duplicate key "params.rows"`,
		`{"name":"a","type":"demo","params":{"rows":1},"columns":[{"Field":"id"}]}`:             `unknown field "columns[0].Field"`,
		`{"name":"a","type":"demo","params":{"rows":1},"columns":[{"field":"id","field":"x"}]}`: `duplicate key "columns[0].field"`,
	} {
		r := e.create(t, body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
		require.Contains(t, decodeProblem(t, r).Detail, want, body)
	}
	r := e.create(t, `{"name":"ok","type":"demo","params":{"Rows":1,"rows":1}}`)
	require.Equal(t, http.StatusBadRequest, r.status, "params are the provider's: Rows is unknown to demo")

	r = e.do(t, http.MethodPost, "/api/v1/tasks", "", `{"name":"a","type":"demo","params":{"rows":1}}`)
	require.Equal(t, http.StatusUnsupportedMediaType, r.status, "no Content-Type is not JSON")
	r = e.do(t, http.MethodPost, "/api/v1/tasks", "text/plain", `{"name":"a","type":"demo","params":{"rows":1}}`)
	require.Equal(t, http.StatusUnsupportedMediaType, r.status)

	r = e.create(t, `{"name":"one","type":"demo","params":{"rows":1}}`)
	require.Equal(t, http.StatusAccepted, r.status)
	var tk struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &tk))
	for _, p := range []string{"+%d", "0%d", "%d.0", " %d"} {
		path := "/api/v1/tasks/" + strings.ReplaceAll(fmt.Sprintf(p, tk.ID), " ", "%20")
		r = e.do(t, http.MethodGet, path, "", "")
		require.Equal(t, http.StatusNotFound, r.status, path)
	}
	r = e.do(t, http.MethodGet, fmt.Sprintf("/api/v1/tasks/%d", tk.ID), "", "")
	require.Equal(t, http.StatusOK, r.status)
}
