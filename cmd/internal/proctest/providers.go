package proctest

import (
	"bytes"
	"database/sql"
	stdcsv "encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the database/sql driver the fixture fills its table with
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/httpprovider"
)

// Export types the providers fixture declares.
const (
	SQLType       = "orders"
	HTTPType      = "invoices"
	BadSecretType = "invoices_wrong_secret"
	httpSecret    = "s3cret-shared-with-the-billing-service"
)

// ProvidersFixture is a real MariaDB table and a real local HTTP service,
// declared in a providers file.
type ProvidersFixture struct {
	File     string
	SQLRows  int
	HTTPRows int
}

// sqlAmount is row id's amount in the orders table, as exact text.
func sqlAmount(id int) string {
	c := id * 7919 % 1_000_000
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// NewProvidersFixture fills an orders table in the database dsn names,
// serves an invoices service, and writes a providers file for both.
func NewProvidersFixture(t *testing.T, dsn string, sqlRows, httpRows int) *ProvidersFixture {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(64) NOT NULL,
		amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL) CHARSET utf8mb4`)
	require.NoError(t, err)
	for start := 1; start <= sqlRows; start += 1000 {
		var b strings.Builder
		var args []any
		b.WriteString("INSERT INTO orders VALUES ")
		for id := start; id < start+1000 && id <= sqlRows; id++ {
			if id > start {
				b.WriteString(",")
			}
			b.WriteString("(?,?,?,?)")
			args = append(args, id, fmt.Sprintf("客户-%d", id%313), sqlAmount(id), time.Date(2026, 1, 1, 0, 0, id, 0, time.UTC))
		}
		_, err := db.Exec(b.String(), args...)
		require.NoError(t, err)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := httpprovider.Verify(httpSecret, r.Header, body, time.Now(), httpprovider.DefaultMaxSkew); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var req struct {
			Cursor *string `json:"cursor"`
			Limit  int     `json:"limit"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		after := 0
		if req.Cursor != nil {
			after, _ = strconv.Atoi(*req.Cursor)
		}
		rows := []map[string]any{}
		last := after
		for id := after + 1; id <= httpRows && len(rows) < req.Limit; id++ {
			rows = append(rows, map[string]any{"id": id, "total": HTTPTotal(id), "issued_at": HTTPIssued(id).Format(time.RFC3339)})
			last = id
		}
		var next any
		if last < httpRows {
			next = strconv.Itoa(last)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"rows": rows, "next_cursor": next})
	}))
	t.Cleanup(srv.Close)

	file := filepath.Join(t.TempDir(), "providers.yaml")
	yaml := fmt.Sprintf(`sql:
  - type: %[1]s
    dsn: %[2]q
    query: "SELECT id, customer, amount, created_at FROM orders WHERE amount >= :min_amount"
    key: id
    params:
      min_amount: {kind: decimal, required: true}
    columns:
      - {field: id, header: "Order ID", kind: int}
      - {field: customer, header: "Customer", kind: string}
      - {field: amount, header: "Amount", kind: decimal}
      - {field: created_at, header: "Created", kind: time}
http:
  - type: %[3]s
    url: %[4]q
    secret: %[5]q
    columns: &cols
      - {field: id, header: "Invoice", kind: int}
      - {field: total, header: "Total", kind: decimal}
      - {field: issued_at, header: "Issued", kind: time}
  - type: %[6]s
    url: %[4]q
    secret: "not-the-secret-the-service-knows"
    columns: *cols
`, SQLType, dsn, HTTPType, srv.URL, httpSecret, BadSecretType)
	require.NoError(t, os.WriteFile(file, []byte(yaml), 0o600))
	return &ProvidersFixture{File: file, SQLRows: sqlRows, HTTPRows: httpRows}
}

// HTTPTotal is invoice id's total, as exact text.
func HTTPTotal(id int) string { return fmt.Sprintf("%d.%03d", id*13, id%1000) }

// HTTPIssued is invoice id's issue time.
func HTTPIssued(id int) time.Time {
	return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(id) * time.Hour)
}

// CheckSQLCSV checks a csv export of the orders type holds exactly the rows
// with amount >= minCents/100, in key order, values exact.
func (f *ProvidersFixture) CheckSQLCSV(t *testing.T, path string, minCents int) int {
	t.Helper()
	recs := readCSV(t, path)
	require.Equal(t, []string{"Order ID", "Customer", "Amount", "Created"}, recs[0])
	i := 1
	for id := 1; id <= f.SQLRows; id++ {
		if id*7919%1_000_000 < minCents {
			continue
		}
		require.Less(t, i, len(recs), "row for id %d missing", id)
		require.Equal(t, []string{strconv.Itoa(id), fmt.Sprintf("客户-%d", id%313), sqlAmount(id),
			time.Date(2026, 1, 1, 0, 0, id, 0, time.UTC).Format(time.RFC3339)}, recs[i])
		i++
	}
	require.Equal(t, len(recs), i, "no extra rows")
	return i - 1
}

// CheckHTTPCSV checks a csv export of the invoices type.
func (f *ProvidersFixture) CheckHTTPCSV(t *testing.T, path string) {
	t.Helper()
	recs := readCSV(t, path)
	require.Len(t, recs, f.HTTPRows+1)
	require.Equal(t, []string{"Invoice", "Total", "Issued"}, recs[0])
	for id := 1; id <= f.HTTPRows; id++ {
		require.Equal(t, []string{strconv.Itoa(id), HTTPTotal(id), HTTPIssued(id).Format(time.RFC3339)}, recs[id])
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	recs, err := stdcsv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")))).ReadAll()
	require.NoError(t, err)
	return recs
}

// CheckProviderExports runs the acceptance checks against a dc-api
// (embedded or in front of workers) started with f.File: bad params are
// 400, an SQL and an HTTP export succeed with exact contents, and a wrong
// HTTP secret ends FAILED with a clear error.
func (f *ProvidersFixture) CheckProviderExports(t *testing.T, c *Client) {
	t.Helper()
	for _, body := range []string{
		`{"name":"inj","type":"orders","format":"csv","params":{"min_amount":"0 OR 1=1"}}`,
		`{"name":"missing","type":"orders","format":"csv","params":{}}`,
		`{"name":"unknown","type":"orders","format":"csv","params":{"min_amount":1,"drop":"table"}}`,
	} {
		status, b := c.Post(t, body)
		require.Equal(t, http.StatusBadRequest, status, b)
		require.Contains(t, b, "params.")
	}
	sqlTask := c.Create(t, `{"name":"big orders","type":"orders","format":"csv","params":{"min_amount":"2500.50"}}`)
	sqlX := c.Create(t, `{"name":"orders xlsx","type":"orders","format":"xlsx","params":{"min_amount":0}}`)
	httpTask := c.Create(t, `{"name":"invoices","type":"invoices","format":"csv"}`)
	bad := c.Create(t, `{"name":"bad secret","type":"invoices_wrong_secret","format":"csv"}`)

	done := c.WaitStatus(t, sqlTask.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	path, _ := c.Download(t, sqlTask.ID, t.TempDir())
	n := f.CheckSQLCSV(t, path, 250050)
	require.Equal(t, int64(n), done.File.Rows)
	require.Positive(t, n)
	require.Less(t, n, f.SQLRows, "the filter selected a subset")

	done = c.WaitStatus(t, sqlX.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	require.Equal(t, int64(f.SQLRows), done.File.Rows)

	done = c.WaitStatus(t, httpTask.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	path, _ = c.Download(t, httpTask.ID, t.TempDir())
	f.CheckHTTPCSV(t, path)

	failed := c.WaitStatus(t, bad.ID, 2*time.Minute, "FAILED", "SUCCESS")
	require.Equal(t, "FAILED", failed.Status)
	require.Contains(t, failed.Error, "401")
	require.NotContains(t, failed.Error, "not-the-secret", "the secret is never shown")
}
