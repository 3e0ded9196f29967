package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

var apiBin, workerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dc-worker-test")
	if err != nil {
		panic(err)
	}
	if apiBin, err = proctest.Build(dir, "github.com/downloadcenter/dc/cmd/api"); err != nil {
		panic(err)
	}
	if workerBin, err = proctest.Build(dir, "github.com/downloadcenter/dc/cmd/worker"); err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// stack is one test's environment on the real services: its own database,
// its own consumer group, a shared file volume.
type stack struct {
	env map[string]string
}

func newStack(t *testing.T) *stack {
	t.Helper()
	namesrv := os.Getenv("DC_ROCKETMQ_NAMESRV")
	dsn := mysqltest.DSN(t)
	if namesrv == "" || dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but DC_ROCKETMQ_NAMESRV or DC_MYSQL_DSN is not set: the real-stack tests must run in CI")
		}
		t.Skip("DC_MYSQL_DSN and DC_ROCKETMQ_NAMESRV not set (make test sets them)")
	}
	return &stack{env: map[string]string{
		"DC_MYSQL_DSN": dsn, "DC_ROCKETMQ_NAMESRV": namesrv, "DC_WORKER_HTTP_ADDR": "127.0.0.1:0",
		"DC_ROCKETMQ_GROUP": fmt.Sprintf("dc-it-%d-%d", os.Getpid(), time.Now().UnixNano()),
		"DC_STORAGE_DIR":    t.TempDir(), "DC_DATA_DIR": t.TempDir(),
		"DC_SCHEDULER_INTERVAL": "500ms", "DC_LEASE_TTL": "5s", "DC_RETRY_BACKOFF": "200ms",
		"DC_SHUTDOWN_GRACE": "5s", "DC_LINK_SECRET": "proctest-link-secret-0123456789abcdef",
		"DC_DEMO": "true", // the tests export demo rows; outside the embedded mode it is opt-in
	}}
}

func (s *stack) with(kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range s.env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func (s *stack) api(t *testing.T) (*proctest.Proc, *proctest.Client) {
	t.Helper()
	return proctest.StartAPI(t, "dc-api", apiBin, s.with("DC_HTTP_ADDR", "127.0.0.1:0"))
}

var workerStarted = regexp.MustCompile(`worker started`)

func (s *stack) worker(t *testing.T, id string) *proctest.Proc {
	t.Helper()
	p := proctest.Start(t, id, workerBin, s.with("DC_WORKER_ID", id, "DC_WORKER_SLOTS", "2"))
	p.WaitFor(t, workerStarted, 60*time.Second)
	return p
}

func TestWorkerNeedsSharedServices(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), nil, func(string) string { return "" }, os.Stdout)
	require.ErrorContains(t, err, "DC_MYSQL_DSN and DC_ROCKETMQ_NAMESRV")
}

// TestRealStack runs one api and two workers as processes on MariaDB and
// RocketMQ: 40 mixed tasks all succeed in one attempt each, both workers
// take part, the api runs none, and the tasks survive an api restart.
func TestRealStack(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	w1 := s.worker(t, "worker-a")
	w2 := s.worker(t, "worker-b")
	api, c := s.api(t)

	const n = 40
	ids := make([]int64, n)
	rows := func(i int) int64 { return int64(500 + 37*i) }
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			format := "xlsx"
			if i%2 == 1 {
				format = "csv"
			}
			tk := c.Create(t, fmt.Sprintf(`{"name":"t%d","type":"demo","format":%q,"params":{"rows":%d}}`, i, format, rows(i)))
			ids[i] = tk.ID
		})
	}
	wg.Wait()
	workers := map[string]int{}
	dl := t.TempDir()
	for i, id := range ids {
		tk := c.WaitStatus(t, id, 3*time.Minute, "SUCCESS", "FAILED")
		require.Equal(t, "SUCCESS", tk.Status, tk.Error)
		require.Equal(t, 1, tk.Attempts, "task %d ran once", id)
		require.Equal(t, rows(i), tk.File.Rows)
		workers[tk.Worker]++
		if i%8 == 0 || i%8 == 1 {
			path, _ := c.Download(t, id, dl)
			if tk.Format == "xlsx" {
				proctest.CheckDemoXLSX(t, path, rows(i), 1048575)
			} else {
				proctest.CheckDemoCSV(t, path, rows(i))
			}
		}
	}
	require.Len(t, workers, 2, "both workers ran tasks: %v", workers)
	require.Positive(t, workers["worker-a"])
	require.Positive(t, workers["worker-b"])
	require.NotContains(t, api.Output(), "task claimed", "the api runs no exports")
	require.Contains(t, w1.Output()+w2.Output(), "task claimed")

	api.Signal(syscall.SIGTERM)
	exited, _ := api.Wait(30 * time.Second)
	require.True(t, exited)
	_, c2 := s.api(t)
	for _, id := range ids {
		require.Equal(t, "SUCCESS", c2.Get(t, id).Status)
	}
}

// TestRealStackProviders: the api and a worker given the same providers
// file run SQL and HTTP exports on MariaDB + RocketMQ.
func TestRealStackProviders(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	f := proctest.NewProvidersFixture(t, s.env["DC_MYSQL_DSN"], 30000, 4000)
	s.env["DC_PROVIDERS_FILE"] = f.File
	s.worker(t, "prov")
	_, c := s.api(t)
	f.CheckProviderExports(t, c)
}
