package httpprovider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

// wireRequest is a request as the business service decodes it.
type wireRequest struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
	Cursor *string        `json:"cursor"`
	Limit  int            `json:"limit"`
	Count  bool           `json:"count"`
	// Keys are the body's top-level keys, to tell null from missing.
	Keys   map[string]json.RawMessage `json:"-"`
	Header http.Header                `json:"-"`
}

// service is a business service on 127.0.0.1 that checks every request's
// signature with Verify, as a real one would, and answers 401 when it
// does not hold.
type service struct {
	*httptest.Server
	calls atomic.Int64
}

// handler answers one verified request; n counts requests from 1.
type handler func(t *testing.T, w http.ResponseWriter, req wireRequest, n int64)

func newService(t *testing.T, h handler) *service {
	t.Helper()
	s := &service{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		err = httpprovider.Verify(testSecret, r.Header, body, time.Now(), 0)
		if err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req wireRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
			return
		}
		if err := json.Unmarshal(body, &req.Keys); err != nil {
			http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.Header = r.Header.Clone()
		h(t, w, req, n)
	}))
	t.Cleanup(s.Close)
	return s
}

// reply writes a JSON body with a status.
func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// one answers every request with the same status and body.
func one(status int, body string) handler {
	return func(_ *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) { reply(w, status, body) }
}

// testColumns are the fields of the tests' rows.
var testColumns = []httpprovider.Column{
	{Field: "id", Header: "Invoice", Kind: domain.KindInt},
	{Field: "total", Header: "Total", Kind: domain.KindDecimal},
	{Field: "issued_at", Header: "Issued", Kind: domain.KindTime},
	{Field: "paid", Header: "Paid", Kind: domain.KindBool},
	{Field: "note", Header: "Note", Kind: domain.KindString},
}

// newProvider configures a provider for url with fast retries; mutate
// changes the config further.
func newProvider(t *testing.T, url string, mutate ...func(c *httpprovider.Config)) *httpprovider.Provider {
	t.Helper()
	c := httpprovider.Config{
		Type: "invoices", URL: url, Secret: testSecret,
		Timeout: 5 * time.Second, Backoff: time.Millisecond,
		AllowUnknownParams: true, Columns: testColumns,
	}
	for _, m := range mutate {
		m(&c)
	}
	p, err := httpprovider.New(c, nil, nil)
	require.NoError(t, err)
	return p
}

// fetchAll reads every page as the runner does.
func fetchAll(ctx context.Context, p *httpprovider.Provider, params map[string]any, limit int) ([][]any, int, error) {
	var rows [][]any
	cursor := ""
	for pages := 1; ; pages++ {
		b, err := p.Fetch(ctx, domain.FetchRequest{TaskID: 42, Attempt: 2, Params: params, Cursor: cursor, Limit: limit})
		if err != nil {
			return rows, pages, err
		}
		rows = append(rows, b.Rows...)
		if b.Done {
			return rows, pages, nil
		}
		cursor = b.NextCursor
	}
}

// requireFailed checks an error's permanence and text, and that the
// secret is not in it.
func requireFailed(t *testing.T, err error, permanent bool, contains ...string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, permanent, domain.IsPermanent(err), "permanent: %v", err)
	for _, c := range contains {
		require.ErrorContains(t, err, c)
	}
	require.NotContains(t, err.Error(), testSecret)
}
