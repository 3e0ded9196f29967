package main

import (
	"bufio"
	"bytes"
	"context"
	stdcsv "encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

// The HTTP source row: a local service pages the demo's rows as JSON
// (infra/httpprovider/PROTOCOL.md), exported as csv through an http
// export type, against a plain client reading the same pages.

const (
	httpSourceType   = "bench_http_orders"
	httpSourceSecret = "bench-secret-0123456789"
	httpPage         = 5000 // rows a page, the worker's default batch
)

// pageRow is one row of a page, as a service would send it.
type pageRow struct {
	ID        int64     `json:"id"`
	OrderNo   string    `json:"order_no"`
	Customer  string    `json:"customer"`
	City      string    `json:"city"`
	Status    string    `json:"status"`
	Quantity  int64     `json:"quantity"`
	UnitPrice string    `json:"unit_price"`
	Amount    string    `json:"amount"`
	Paid      bool      `json:"paid"`
	CreatedAt time.Time `json:"created_at"`
}

// page is the protocol's response.
type page struct {
	Rows       []pageRow `json:"rows"`
	NextCursor *string   `json:"next_cursor"`
}

// pageRequest is the part of the protocol's request the service reads.
type pageRequest struct {
	Cursor *string `json:"cursor"`
	Limit  int     `json:"limit"`
}

// pageService serves rows rows of demo data, verifying each request's
// signature as a real service must.
type pageService struct {
	rows int64
	srv  *http.Server
	url  string
}

func startPageService(rows int) (*pageService, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("page service: %w", err)
	}
	s := &pageService{rows: int64(rows), url: "http://" + ln.Addr().String() + "/export"}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *pageService) close() { _ = s.srv.Close() }

func (s *pageService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := httpprovider.Verify(httpSourceSecret, r.Header, body, time.Now(), httpprovider.DefaultMaxSkew); err != nil {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var req pageRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var after int64
	if req.Cursor != nil {
		if after, err = strconv.ParseInt(*req.Cursor, 10, 64); err != nil {
			http.Error(w, "bad cursor", http.StatusBadRequest)
			return
		}
	}
	limit := int64(min(max(req.Limit, 1), httpPage))
	last := min(after+limit, s.rows)
	p := page{Rows: make([]pageRow, 0, last-after)}
	for id := after + 1; id <= last; id++ {
		v := demo.Row(id)
		p.Rows = append(p.Rows, pageRow{
			ID: v[0].(int64), OrderNo: v[1].(string), Customer: v[2].(string), City: v[3].(string),
			Status: v[4].(string), Quantity: v[5].(int64), UnitPrice: string(v[6].(domain.Decimal)),
			Amount: string(v[7].(domain.Decimal)), Paid: v[8].(bool), CreatedAt: v[9].(time.Time),
		})
	}
	if last < s.rows {
		c := strconv.FormatInt(last, 10)
		p.NextCursor = &c
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p)
}

// httpProviders is the providers file declaring the export type.
func httpProviders(url string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "http:\n  - type: %s\n    url: %q\n    secret: %q\n    columns:\n", httpSourceType, url, httpSourceSecret)
	for _, f := range demo.Fields() {
		fmt.Fprintf(&b, "      - {field: %s, header: %q, kind: %s}\n", f.Name, f.Header, f.Kind)
	}
	return b.String()
}

// httpSourceRow measures every run of the HTTP row.
func (b *bench) httpSourceRow(ctx context.Context) error {
	svc, err := startPageService(b.cfg.Rows)
	if err != nil {
		return err
	}
	defer svc.close()
	providers := filepath.Join(b.work, "providers-http.yaml")
	if err := os.WriteFile(providers, []byte(httpProviders(svc.url)), 0o600); err != nil {
		return fmt.Errorf("providers file: %w", err)
	}
	s := &source{providers: providers}
	for run := 1; run <= b.cfg.Runs; run++ {
		plainPath := filepath.Join(b.work, "http-plain.csv")
		var plainT time.Duration
		var r exportResult
		var cleanup func()
		steps := []func() error{
			func() (err error) { plainT, err = plainPages(ctx, svc.url, plainPath); return err },
			func() (err error) {
				r, cleanup, err = b.sourceExportOf(ctx, s, httpSourceType, measureCSV, nil)
				return err
			},
		}
		if run%2 == 0 {
			steps[0], steps[1] = steps[1], steps[0]
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		err := sameFile(r.path, plainPath)
		cleanup()
		_ = os.Remove(plainPath)
		if err != nil {
			return fmt.Errorf("http csv export differs from the plain client's file: %w", err)
		}
		b.s.add(kHTTPPlain, plainT.Seconds())
		b.s.add(kHTTPTime, r.client.Seconds())
		b.s.add(kHTTPRatio, plainT.Seconds()/r.client.Seconds())
		b.s.add(kHTTPRSS, float64(r.rss))
		b.logf("http source run %d/%d: plain client %s, csv export %s (%.2f×, %s)", run, b.cfg.Runs,
			plainT.Round(time.Millisecond), r.client.Round(time.Millisecond), plainT.Seconds()/r.client.Seconds(), mib(float64(r.rss)))
	}
	return nil
}

// plainPages is the plain client: it asks for page after page as the
// worker does (signed POSTs), decodes each into typed rows and writes the
// export's csv text with encoding/csv.
func plainPages(ctx context.Context, url, path string) (time.Duration, error) {
	t0 := time.Now()
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, plainBufferSize)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return 0, err
	}
	w := stdcsv.NewWriter(bw)
	w.UseCRLF = true
	fields := demo.Fields()
	rec := make([]string, len(fields))
	for i, fd := range fields {
		rec[i] = fd.Header
	}
	if err := w.Write(rec); err != nil {
		return 0, err
	}
	hc := &http.Client{Timeout: time.Minute}
	var cursor *string
	for {
		body, _ := json.Marshal(map[string]any{"type": httpSourceType, "params": map[string]any{}, "cursor": cursor, "limit": httpPage})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		ts, id := time.Now().Unix(), "req_plain_"+strconv.FormatInt(time.Now().UnixNano(), 36)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(httpprovider.HeaderID, id)
		req.Header.Set(httpprovider.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(httpprovider.HeaderSignature, httpprovider.Sign(httpSourceSecret, id, ts, body))
		res, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Errorf("plain client: %w", err)
		}
		var p page
		err = json.NewDecoder(res.Body).Decode(&p)
		_ = res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("plain client: page after %v: %d %v", cursor, res.StatusCode, err)
		}
		for _, r := range p.Rows {
			rec[0], rec[1], rec[2], rec[3], rec[4] = strconv.FormatInt(r.ID, 10), r.OrderNo, r.Customer, r.City, r.Status
			rec[5], rec[6], rec[7] = strconv.FormatInt(r.Quantity, 10), r.UnitPrice, r.Amount
			rec[8], rec[9] = strconv.FormatBool(r.Paid), r.CreatedAt.UTC().Format(time.RFC3339Nano)
			if err := w.Write(rec); err != nil {
				return 0, err
			}
		}
		if p.NextCursor == nil {
			break
		}
		cursor = p.NextCursor
	}
	w.Flush()
	if err := errors.Join(w.Error(), bw.Flush()); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}
