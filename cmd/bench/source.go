package main

import (
	"bufio"
	"context"
	"database/sql"
	stdcsv "encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// The source row: exports whose rows come from a real database, against
// the tool a user would reach for instead (`mysql --batch --quick`) and a
// plain Go program, all reading the same MariaDB table in the same run.

// sourceType is the SQL export type the bench declares over its table.
const sourceType = "bench_orders"

// sourceQuery is the export type's query; the client and the plain
// program run it with min_id = 0.
const sourceQuery = "SELECT id, order_no, customer, city, status, quantity, unit_price, amount, paid, created_at FROM orders WHERE id >= :min_id"

// sourceColumns are the export's columns, in the query's order: the
// demo's ten, as an orders table holds them.
var sourceColumns = []struct{ field, header, kind string }{
	{"id", "ID", "int"}, {"order_no", "Order", "string"}, {"customer", "Customer", "string"},
	{"city", "City", "string"}, {"status", "Status", "string"}, {"quantity", "Qty", "int"},
	{"unit_price", "Unit price", "decimal"}, {"amount", "Amount", "decimal"}, {"paid", "Paid", "bool"},
	{"created_at", "Created", "time"},
}

// sourceDDL is the table: the demo's columns with their SQL types.
const sourceDDL = `CREATE TABLE orders (
  id BIGINT PRIMARY KEY, order_no VARCHAR(20), customer VARCHAR(64), city VARCHAR(32), status VARCHAR(16),
  quantity INT, unit_price DECIMAL(12,2), amount DECIMAL(14,2), paid TINYINT(1), created_at DATETIME)`

// sourceFill fills the table with rows 1..? in one statement, a recursive
// CTE, so the server does the work (a few seconds for a million rows).
const sourceFill = `INSERT INTO orders
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?)
SELECT n, CONCAT('ORD-', LPAD(n, 7, '0')), CONCAT('Customer ', n % 5000),
  ELT(1 + n % 5, 'Berlin', 'Shanghai', 'Lagos', 'Lima', 'Osaka'), ELT(1 + n % 3, 'NEW', 'PAID', 'SHIPPED'),
  1 + n % 9, (n % 10000) / 100 + 1, ((n % 10000) / 100 + 1) * (1 + n % 9), n % 2,
  '2026-01-01' + INTERVAL n SECOND
FROM seq`

// source is the row's set-up: the filled table and the providers file.
type source struct {
	db        string // database name
	dsn       string
	providers string // the providers file of the exporting dc-api
}

// setupSource creates and fills the table on a database of its own and
// writes the providers file declaring the export type over it.
func (b *bench) setupSource(ctx context.Context) (*source, error) {
	if _, err := exec.LookPath("mysql"); err != nil {
		return nil, fmt.Errorf("the source row needs the mysql client on PATH (or leave it out with -only): %w", err)
	}
	name, dsn, err := b.st.newDB(ctx)
	if err != nil {
		return nil, err
	}
	s := &source{db: name, dsn: dsn, providers: filepath.Join(b.work, "providers.yaml")}
	t0 := time.Now()
	if err := fillSource(ctx, dsn, b.cfg.Rows); err != nil {
		return nil, err
	}
	b.logf("source: %d rows in %s.orders filled in %s", b.cfg.Rows, name, time.Since(t0).Round(100*time.Millisecond))
	if err := os.WriteFile(s.providers, []byte(sourceProviders(dsn)), 0o600); err != nil {
		return nil, fmt.Errorf("providers file: %w", err)
	}
	return s, nil
}

// fillSource creates the orders table on dsn's database with rows rows.
func fillSource(ctx context.Context, dsn string, rows int) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // the session variable must hold for the INSERT
	if err != nil {
		return fmt.Errorf("source table: %w", err)
	}
	defer conn.Close()
	for _, q := range []string{sourceDDL, fmt.Sprintf("SET SESSION max_recursive_iterations = %d", rows+1)} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("source table: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, sourceFill, rows); err != nil {
		return fmt.Errorf("fill source table: %w", err)
	}
	return nil
}

// sourceProviders is the providers file of the export type over dsn.
func sourceProviders(dsn string) string {
	q, _ := json.Marshal(sourceQuery) // JSON strings are YAML strings
	d, _ := json.Marshal(dsn)
	var b strings.Builder
	fmt.Fprintf(&b, "sql:\n  - type: %s\n    dsn: %s\n    query: %s\n    key: id\n", sourceType, d, q)
	b.WriteString("    params:\n      min_id: {kind: int, required: true}\n    columns:\n")
	for _, c := range sourceColumns {
		fmt.Fprintf(&b, "      - {field: %s, header: %q, kind: %s}\n", c.field, c.header, c.kind)
	}
	return b.String()
}

// sourceRun measures one run of the source row: the mysql client, the
// plain Go program and the export as csv and as xlsx, the order turned
// around every other run.
func (b *bench) sourceRun(ctx context.Context, s *source, run int) error {
	clientPath := filepath.Join(b.work, "source-client.tsv")
	plainPath := filepath.Join(b.work, "source-plain.csv")
	defer os.Remove(clientPath)
	defer os.Remove(plainPath)
	var clientT, plainT time.Duration
	res := map[string]exportResult{}
	var cleanups []func()
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	steps := []func() error{
		func() (err error) { clientT, err = mysqlClient(ctx, s.dsn, clientPath); return err },
		func() (err error) { plainT, err = plainSource(ctx, s.dsn, plainPath); return err },
		func() error {
			for _, f := range []string{measureCSV, measureXLSX} {
				r, cleanup, err := b.sourceExport(ctx, s, f)
				if err != nil {
					return err
				}
				cleanups = append(cleanups, cleanup)
				res[f] = r
			}
			return nil
		},
	}
	if run%2 == 0 {
		steps[0], steps[2] = steps[2], steps[0]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	if err := sameFile(res[measureCSV].path, plainPath); err != nil {
		return fmt.Errorf("source csv export differs from the plain program's file: %w", err)
	}
	b.s.add(kSrcClient, clientT.Seconds())
	b.s.add(kSrcPlain, plainT.Seconds())
	b.s.add(kSrcPlainRatio, clientT.Seconds()/plainT.Seconds())
	line := fmt.Sprintf("source run %d/%d: mysql client %s, plain Go %s", run, b.cfg.Runs,
		clientT.Round(time.Millisecond), plainT.Round(time.Millisecond))
	for _, f := range []string{measureCSV, measureXLSX} {
		r := res[f]
		b.s.add(fmt.Sprintf(kSrcTime, f), r.client.Seconds())
		b.s.add(fmt.Sprintf(kSrcRatio, f), clientT.Seconds()/r.client.Seconds())
		b.s.add(fmt.Sprintf(kSrcRSS, f), float64(r.rss))
		line += fmt.Sprintf(", %s %s (%.2f×, %s)", f, r.client.Round(time.Millisecond),
			clientT.Seconds()/r.client.Seconds(), mib(float64(r.rss)))
	}
	b.logf("%s", line)
	return nil
}

// sourceExport runs one export of the table in a fresh embedded dc-api.
func (b *bench) sourceExport(ctx context.Context, s *source, format string) (exportResult, func(), error) {
	return b.sourceExportOf(ctx, s, sourceType, format, map[string]any{"min_id": 0})
}

// sourceExportOf runs one export of type typ, declared in s's providers
// file, in a fresh embedded dc-api.
func (b *bench) sourceExportOf(ctx context.Context, s *source, typ, format string, params map[string]any) (exportResult, func(), error) {
	n := b.next()
	dir := filepath.Join(b.work, "source-"+strconv.Itoa(n))
	cleanup := func() { _ = os.RemoveAll(dir) }
	p, c, err := b.startAPI(ctx, "api-source-"+strconv.Itoa(n), map[string]string{
		"DC_DATA_DIR": dir, "DC_PROVIDERS_FILE": s.providers,
	})
	if err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	defer p.stop(stopGrace)
	defer c.close()
	if params == nil {
		params = map[string]any{}
	}
	body, _ := json.Marshal(map[string]any{ // cannot fail
		"name": "bench " + typ + " " + format, "type": typ, "format": format, "params": params,
	})
	r, t, err := b.exportBody(ctx, c, body, format, b.cfg.Rows, p)
	if err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	if r.rss, err = p.peakRSS(); err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	r.path = filepath.Join(dir, "files", fileName(t, format))
	return r, cleanup, nil
}

// mysqlClient runs the query with `mysql --batch --quick` into path, as a
// user exporting by hand would, and returns how long it took.
func mysqlClient(ctx context.Context, dsn, path string) (time.Duration, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return 0, err
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return 0, fmt.Errorf("mysql client: address %q: %w", cfg.Addr, err)
	}
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	q := strings.Replace(sourceQuery, ":min_id", "0", 1)
	cmd := exec.CommandContext(ctx, "mysql", "--batch", "--quick", "--protocol=tcp", "-h", host, "-P", port,
		"-u", cfg.User, cfg.DBName, "-e", q)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
	cmd.Stdout = out
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("mysql client: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return time.Since(t0), nil
}

// plainSource is the plain Go program: one query through database/sql,
// every row scanned into typed variables and written with encoding/csv,
// the same text the export writes (byte-order mark, CRLF, RFC 3339 UTC
// times), so the two files are compared byte for byte.
func plainSource(ctx context.Context, dsn, path string) (time.Duration, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return 0, err
	}
	cfg.ParseTime = true
	t0 := time.Now()
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return 0, err
	}
	defer db.Close()
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
	rec := make([]string, len(sourceColumns))
	for i, c := range sourceColumns {
		rec[i] = c.header
	}
	if err := w.Write(rec); err != nil {
		return 0, err
	}
	rows, err := db.QueryContext(ctx, strings.Replace(sourceQuery, ":min_id", "?", 1), 0)
	if err != nil {
		return 0, fmt.Errorf("plain source: %w", err)
	}
	defer rows.Close()
	var (
		id, qty                               int64
		orderNo, customer, city, status, unit string
		amount                                string
		paid                                  bool
		created                               time.Time
	)
	for rows.Next() {
		if err := rows.Scan(&id, &orderNo, &customer, &city, &status, &qty, &unit, &amount, &paid, &created); err != nil {
			return 0, fmt.Errorf("plain source: %w", err)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4] = strconv.FormatInt(id, 10), orderNo, customer, city, status
		rec[5], rec[6], rec[7] = strconv.FormatInt(qty, 10), unit, amount
		rec[8], rec[9] = strconv.FormatBool(paid), created.UTC().Format(time.RFC3339Nano)
		if err := w.Write(rec); err != nil {
			return 0, err
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("plain source: %w", err)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// sourceRow sets the table up and measures every run of the row.
func (b *bench) sourceRow(ctx context.Context) error {
	s, err := b.setupSource(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.st.dropDB(ctx, s.db); err != nil {
			b.log.Warn("drop source database", "err", err)
		}
	}()
	for run := 1; run <= b.cfg.Runs; run++ {
		if err := b.sourceRun(ctx, s, run); err != nil {
			return err
		}
	}
	return nil
}
