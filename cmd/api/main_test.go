package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

var apiBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dc-api-test")
	if err != nil {
		panic(err)
	}
	apiBin, err = proctest.Build(dir, "github.com/downloadcenter/dc/cmd/api")
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// embedded starts dc-api in the embedded mode on a free port.
func embedded(t *testing.T, dataDir string, extra map[string]string) (*proctest.Proc, *proctest.Client) {
	t.Helper()
	env := map[string]string{
		"DC_HTTP_ADDR": "127.0.0.1:0", "DC_DATA_DIR": dataDir, "DC_LOG_LEVEL": "info",
		"DC_SCHEDULER_INTERVAL": "200ms", "DC_RETRY_BACKOFF": "100ms", "DC_LEASE_TTL": "3s",
	}
	for k, v := range extra {
		env[k] = v
	}
	return proctest.StartAPI(t, "dc-api", apiBin, env)
}

// TestEmbeddedExports is the acceptance run: a 50,000-row xlsx and
// a 20,000-row csv go NOT_EXECUTED → SUCCESS in one process with no
// services and download as valid files with the right row counts.
func TestEmbeddedExports(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	// A small sheet limit makes the 50,000 rows span three sheets.
	_, c := embedded(t, data, map[string]string{"DC_XLSX_SHEET_ROWS": "20000"})

	x := c.Create(t, `{"name":"Orders 十一月","type":"demo","format":"xlsx","params":{"rows":50000}}`)
	require.Equal(t, "NOT_EXECUTED", x.Status)
	v := c.Create(t, `{"name":"Orders csv","type":"demo","format":"csv","params":{"rows":20000}}`)

	x = c.WaitStatus(t, x.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", x.Status, x.Error)
	require.Equal(t, int64(50000), x.File.Rows)
	require.Equal(t, 3, x.File.Sheets)
	require.Equal(t, 1, x.Attempts)
	require.Equal(t, int64(50000), x.Progress.RowsWritten)
	require.NotNil(t, x.Progress.RowsTotal)
	require.Equal(t, int64(50000), *x.Progress.RowsTotal)
	path, hdr := c.Download(t, x.ID, t.TempDir())
	require.Equal(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", hdr.Get("Content-Type"))
	require.Contains(t, hdr.Get("Content-Disposition"), "filename*=UTF-8''Orders%20%E5%8D%81%E4%B8%80%E6%9C%88.xlsx")
	proctest.CheckDemoXLSX(t, path, 50000, 20000)

	v = c.WaitStatus(t, v.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", v.Status, v.Error)
	path, hdr = c.Download(t, v.ID, t.TempDir())
	require.Equal(t, "text/csv; charset=utf-8", hdr.Get("Content-Type"))
	proctest.CheckDemoCSV(t, path, 20000)

	// No temp files are left on the volume.
	left, err := os.ReadDir(filepath.Join(data, "files", ".tmp"))
	require.NoError(t, err)
	require.Empty(t, left)
}

func TestEmbeddedRetryCancelAndRestart(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p, c := embedded(t, data, nil)

	// fail_times: two failed attempts, then success on the third.
	flaky := c.Create(t, `{"name":"flaky","type":"demo","format":"csv","params":{"rows":10,"fail_times":2}}`)
	// A slow export to cancel while it runs.
	slow := c.Create(t, `{"name":"slow","type":"demo","format":"xlsx","params":{"rows":100000,"delay_ms":200}}`)
	// Always failing: stops FAILED at DC_MAX_ATTEMPTS with the error kept.
	doomed := c.Create(t, `{"name":"doomed","type":"demo","format":"csv","params":{"rows":10,"fail_times":99}}`)

	c.WaitStatus(t, slow.ID, 30*time.Second, "EXECUTING")
	require.Equal(t, 202, c.Act(t, slow.ID, "cancel"), "a running task is asked to stop: accepted")
	start := time.Now()
	s := c.WaitStatus(t, slow.ID, 10*time.Second, "CANCELLED")
	require.Less(t, time.Since(start), 5*time.Second, "the worker stops within about two seconds")
	require.Nil(t, s.File)

	f := c.WaitStatus(t, flaky.ID, time.Minute, "SUCCESS")
	require.Equal(t, 3, f.Attempts)

	d := c.WaitStatus(t, doomed.ID, time.Minute, "FAILED")
	require.Eventually(t, func() bool { return c.Get(t, doomed.ID).Attempts == 5 && c.Get(t, doomed.ID).Status == "FAILED" },
		time.Minute, 100*time.Millisecond)
	d = c.Get(t, doomed.ID)
	require.Contains(t, d.Error, "simulated failure")
	time.Sleep(time.Second)
	require.Equal(t, 5, c.Get(t, doomed.ID).Attempts, "not retried past the maximum")

	// A manual retry of the cancelled task runs it again.
	require.Equal(t, 202, c.Act(t, slow.ID, "retry"))
	require.Equal(t, 409, c.Act(t, f.ID, "retry"), "a successful task cannot be retried")

	// Restart: tasks are still there and the waiting one resumes.
	p.Signal(syscall.SIGTERM)
	exited, _ := p.Wait(40 * time.Second)
	require.True(t, exited, "dc-api exits on SIGTERM")
	_, c2 := embedded(t, data, nil)
	require.Equal(t, "SUCCESS", c2.Get(t, flaky.ID).Status)
	c2.Act(t, slow.ID, "cancel") // keep the test short
	got := c2.WaitStatus(t, slow.ID, 30*time.Second, "CANCELLED", "NOT_EXECUTED", "SUCCESS")
	require.NotEmpty(t, got.Status)
}

func TestHelpAndBadConfig(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, func(string) string { return "" }, &out)
	require.Error(t, err)
	for _, name := range []string{"DC_HTTP_ADDR", "DC_DATA_DIR", "DC_STORAGE_DIR", "DC_MYSQL_DSN", "DC_ROCKETMQ_NAMESRV",
		"DC_WORKER_ID", "DC_LEASE_TTL", "DC_SCHEDULER_INTERVAL", "DC_RETRY_BACKOFF", "DC_MAX_ATTEMPTS", "DC_SHUTDOWN_GRACE"} {
		require.Contains(t, out.String(), name)
	}
	env := map[string]string{"DC_LEASE_TTL": "soon", "DC_MAX_ATTEMPTS": "0"}
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &out)
	require.ErrorContains(t, err, "DC_LEASE_TTL")
	env = map[string]string{"DC_MAX_ATTEMPTS": "0", "DC_WORKER_SLOTS": "0"}
	err = run(context.Background(), nil, func(k string) string { return env[k] }, &out)
	require.ErrorContains(t, err, "DC_MAX_ATTEMPTS")
	require.ErrorContains(t, err, "DC_WORKER_SLOTS")
	require.False(t, strings.Contains(err.Error(), "panic"))
}

// TestEmbeddedProviders: with a providers file, an SQL export of a real
// MariaDB table and an HTTP export of a paged service succeed in the
// embedded mode.
func TestEmbeddedProviders(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		t.Skip("DC_MYSQL_DSN not set: the SQL provider needs a MariaDB table (make test sets it)")
	}
	f := proctest.NewProvidersFixture(t, dsn, 30000, 4000)
	_, c := embedded(t, t.TempDir(), map[string]string{"DC_PROVIDERS_FILE": f.File, "DC_MAX_ATTEMPTS": "1"})
	f.CheckProviderExports(t, c)
}

func TestBadProvidersFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte("sql:\n  - type: x\n    query: SELECT 1\n    colums: []\n"), 0o600))
	var out bytes.Buffer
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"DC_PROVIDERS_FILE": file, "DC_DATA_DIR": t.TempDir(), "DC_HTTP_ADDR": "127.0.0.1:0"}[k]
	}, &out)
	require.ErrorContains(t, err, "colums")
}

// TestBrokenSQLExportTypeStopsStart: a query the database rejects is found
// when dc-api starts, not in the first task.
func TestBrokenSQLExportTypeStopsStart(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		t.Skip("DC_MYSQL_DSN not set (make test sets it)")
	}
	file := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`sql:
  - type: ghosts
    dsn: "`+dsn+`"
    query: "SELECT id FROM no_such_table"
    key: id
    columns:
      - {field: id, kind: int}
`), 0o600))
	var out bytes.Buffer
	err := run(context.Background(), nil, func(k string) string {
		return map[string]string{"DC_PROVIDERS_FILE": file, "DC_DATA_DIR": t.TempDir(), "DC_HTTP_ADDR": "127.0.0.1:0"}[k]
	}, &out)
	require.ErrorContains(t, err, "ghosts")
	require.ErrorContains(t, err, "no_such_table")
}

func TestHealthcheckCommand(t *testing.T) {
	t.Parallel()
	_, c := embedded(t, t.TempDir(), nil)
	addr := strings.TrimPrefix(c.Base, "http://")
	env := func(k string) string { return map[string]string{"DC_HTTP_ADDR": addr}[k] }
	require.NoError(t, run(context.Background(), []string{"healthcheck"}, env, &bytes.Buffer{}))

	closed := func(k string) string { return map[string]string{"DC_HTTP_ADDR": "127.0.0.1:1"}[k] }
	require.Error(t, run(context.Background(), []string{"healthcheck"}, closed, &bytes.Buffer{}))
}

// A client that sends half a request body and then stalls is cut off after
// DC_HTTP_READ_TIMEOUT instead of holding its descriptor and buffers for as
// long as it likes.
func TestStalledRequestBodyIsCutOff(t *testing.T) {
	t.Parallel()
	_, c := embedded(t, t.TempDir(), map[string]string{"DC_HTTP_READ_TIMEOUT": "1s"})
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.Base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, "POST /api/v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 1000\r\n\r\n{\"name\":")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(20*time.Second)))
	_, err = io.Copy(io.Discard, conn) // returns when the server closes the connection
	require.NoError(t, err, "the server closed the stalled connection (not our read deadline)")
	require.Less(t, time.Since(start), 15*time.Second)
}
