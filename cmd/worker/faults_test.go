package main

// Fault tests: they stop, pause or restart the shared MariaDB and RocketMQ,
// so `make test` runs them (every Test prefixed TestFault) in a second,
// serial go test run after everything else.

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

// count is how many lines of out report msg for the task.
func count(out, msg string, id int64) int {
	re := regexp.MustCompile(fmt.Sprintf(`msg="%s"[^\n]* task_id=%d\b`, regexp.QuoteMeta(msg), id))
	return len(re.FindAllStringIndex(out, -1))
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}

func outputs(ps ...*proctest.Proc) string {
	var s string
	for _, p := range ps {
		s += p.Output()
	}
	return s
}

// TestKillWorkerAtDifferentPoints kills a worker (kill -9) right after its
// claim, mid-export, and three quarters through; each time another worker
// finishes the task after the lease lapses, exactly once, with a complete
// file. Progress is saved once a second (a fifth of this export), so the
// last point is 0.75: at least a second of export is left when it is seen.
func TestKillWorkerAtDifferentPoints(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// 100 batches of 200 rows, 50 ms each: five seconds to kill it in.
	s.env["DC_BATCH_SIZE"] = "200"
	_, c := s.api(t)
	const rows = 20000
	for _, at := range []float64{0, 0.5, 0.75} {
		t.Run(fmt.Sprint(at), func(t *testing.T) {
			victim := s.worker(t, fmt.Sprintf("victim-%v", at))
			tk := c.Create(t, fmt.Sprintf(`{"name":"k","type":"demo","format":"xlsx","params":{"rows":%d,"delay_ms":50}}`, rows))
			require.Eventually(t, func() bool {
				g := c.Get(t, tk.ID)
				return g.Status == "EXECUTING" && float64(g.Progress.RowsWritten) >= at*rows
			}, time.Minute, 20*time.Millisecond)
			victim.Kill()
			rescuer := s.worker(t, fmt.Sprintf("rescuer-%v", at))
			done := c.WaitStatus(t, tk.ID, 2*time.Minute, "SUCCESS", "FAILED")
			require.Equal(t, "SUCCESS", done.Status, done.Error)
			require.Equal(t, 2, done.Attempts)
			require.Equal(t, 1, count(outputs(victim, rescuer), "task succeeded", tk.ID), "SUCCESS reached once")
			path, _ := c.Download(t, tk.ID, t.TempDir())
			proctest.CheckDemoXLSX(t, path, rows, 1048575)
			// The killed attempt left no file; its temp file is the
			// scheduler's to clean up.
			files, err := filepath.Glob(filepath.Join(s.env["DC_STORAGE_DIR"], fmt.Sprintf("task-%d-*", tk.ID)))
			require.NoError(t, err)
			require.Equal(t, []string{fmt.Sprintf("task-%d-2.xlsx", tk.ID)}, baseNames(files))
			rescuer.Kill()
		})
	}
}

// TestDuplicateIntents runs an api built to send every intent twice: no
// task runs twice.
func TestDuplicateIntents(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := t.TempDir()
	dupAPI, err := proctest.Build(dir, "github.com/downloadcenter/dc/cmd/api", "dupintents")
	require.NoError(t, err)
	env := s.with("DC_HTTP_ADDR", "127.0.0.1:0")
	_, c := proctest.StartAPI(t, "dc-api-dup", dupAPI, env)
	workers := []*proctest.Proc{}
	for _, id := range []string{"dup-a", "dup-b"} {
		workers = append(workers, proctest.Start(t, id, workerBin, s.with("DC_WORKER_ID", id, "DC_LOG_LEVEL", "debug")))
		workers[len(workers)-1].WaitFor(t, workerStarted, time.Minute)
	}
	var ids []int64
	for i := range 20 {
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"d%d","type":"demo","format":"csv","params":{"rows":%d}}`, i, 200+i)).ID)
	}
	for _, id := range ids {
		tk := c.WaitStatus(t, id, 2*time.Minute, "SUCCESS", "FAILED")
		require.Equal(t, "SUCCESS", tk.Status)
		require.Equal(t, 1, tk.Attempts)
	}
	out := outputs(workers...)
	dropped := 0
	for _, id := range ids {
		require.Equal(t, 1, count(out, "task claimed", id), "task %d claimed once", id)
		dropped += count(out, "intent dropped: task not waiting", id)
	}
	require.Positive(t, dropped, "the second copies arrived and were dropped")
}

// TestFailTimesOnRealStack: fails twice, then succeeds on attempt 3; a
// task that always fails stops FAILED at DC_MAX_ATTEMPTS with its error.
func TestFailTimesOnRealStack(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.env["DC_MAX_ATTEMPTS"] = "3"
	s.worker(t, "ft")
	_, c := s.api(t)
	flaky := c.Create(t, `{"name":"f","type":"demo","format":"csv","params":{"rows":5000,"fail_times":2}}`)
	doomed := c.Create(t, `{"name":"d","type":"demo","format":"xlsx","params":{"rows":10,"fail_times":50}}`)
	f := c.WaitStatus(t, flaky.ID, 2*time.Minute, "SUCCESS")
	require.Equal(t, 3, f.Attempts)
	require.Eventually(t, func() bool {
		d := c.Get(t, doomed.ID)
		return d.Status == "FAILED" && d.Attempts == 3
	}, 2*time.Minute, 100*time.Millisecond)
	time.Sleep(2 * time.Second)
	d := c.Get(t, doomed.ID)
	require.Equal(t, 3, d.Attempts, "no retry past the maximum")
	require.Equal(t, "FAILED", d.Status)
	require.Contains(t, d.Error, "simulated failure")
}

// TestSIGTERMHandsTaskBack: a worker told to stop mid-export exits within
// its grace and another worker finishes the task.
func TestSIGTERMHandsTaskBack(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.env["DC_SHUTDOWN_GRACE"] = "1s"
	s.env["DC_BATCH_SIZE"] = "500" // 60 batches of 50 ms: far longer than the grace
	leaving := s.worker(t, "leaving")
	_, c := s.api(t)
	tk := c.Create(t, `{"name":"s","type":"demo","format":"csv","params":{"rows":30000,"delay_ms":50}}`)
	c.WaitStatus(t, tk.ID, time.Minute, "EXECUTING")
	start := time.Now()
	leaving.Signal(syscall.SIGTERM)
	exited, _ := leaving.Wait(20 * time.Second)
	require.True(t, exited, "the worker exits")
	require.Less(t, time.Since(start), 15*time.Second)
	require.Contains(t, leaving.Output(), "task released for another worker")
	s.worker(t, "staying")
	done := c.WaitStatus(t, tk.ID, 2*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	require.Equal(t, "staying", done.Worker)
	path, _ := c.Download(t, tk.ID, t.TempDir())
	proctest.CheckDemoCSV(t, path, 30000)
}

// TestLargeExportRescued: an export of more than one sheet's worth of rows
// (1,048,575) is killed mid-way; the rescued run yields a correct
// two-sheet file.
func TestLargeExportRescued(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const rows = 1_100_000
	victim := s.worker(t, "big-victim")
	_, c := s.api(t)
	// 5 ms per 5,000-row batch keeps the export over two seconds, so the
	// kill lands mid-way whatever the machine's speed.
	tk := c.Create(t, fmt.Sprintf(`{"name":"big","type":"demo","format":"xlsx","params":{"rows":%d,"delay_ms":5}}`, rows))
	require.Eventually(t, func() bool { return c.Get(t, tk.ID).Progress.RowsWritten >= 300_000 }, 3*time.Minute, 50*time.Millisecond)
	victim.Kill()
	s.worker(t, "big-rescuer")
	done := c.WaitStatus(t, tk.ID, 5*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	require.Equal(t, 2, done.File.Sheets)
	require.Equal(t, int64(rows), done.File.Rows)
	path, _ := c.Download(t, tk.ID, t.TempDir())
	proctest.CheckDemoXLSX(t, path, rows, 1048575)
}

// services runs a deploy/services script.
func services(t *testing.T, script string, args ...string) {
	t.Helper()
	out, err := exec.Command("bash", append([]string{"../../deploy/services/" + script}, args...)...).CombinedOutput()
	require.NoError(t, err, string(out))
}

// TestFaultBrokerDown pauses the broker while tasks are created: every
// create still answers 202 quickly and, once the broker is back, every
// task succeeds.
func TestFaultBrokerDown(t *testing.T) {
	s := newStack(t)
	s.worker(t, "bd-a")
	_, c := s.api(t)
	services(t, "pause-broker.sh")
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			services(t, "resume-broker.sh")
		}
	})
	var ids []int64
	var slowest time.Duration
	for i := range 10 {
		start := time.Now()
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"b%d","type":"demo","format":"csv","params":{"rows":100}}`, i)).ID)
		slowest = max(slowest, time.Since(start))
	}
	require.Less(t, slowest, 5*time.Second, "creates answer while the broker is down")
	time.Sleep(3 * time.Second)
	services(t, "resume-broker.sh")
	resumed = true
	for _, id := range ids {
		tk := c.WaitStatus(t, id, 3*time.Minute, "SUCCESS", "FAILED")
		require.Equal(t, "SUCCESS", tk.Status, tk.Error)
	}
}

// TestFaultMariaDBRestart restarts the database while exports run: the api
// and the workers recover and every task ends SUCCESS.
func TestFaultMariaDBRestart(t *testing.T) {
	s := newStack(t)
	// 20 batches of 200 ms: each export runs about four seconds, so the
	// outage lands in the middle of them.
	s.env["DC_BATCH_SIZE"] = "1000"
	a := s.worker(t, "db-a")
	b := s.worker(t, "db-b")
	_, c := s.api(t)
	var ids []int64
	for i := range 8 {
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"m%d","type":"demo","format":"xlsx","params":{"rows":20000,"delay_ms":200}}`, i)).ID)
	}
	c.WaitStatus(t, ids[0], time.Minute, "EXECUTING")
	services(t, "restart-mariadb.sh", "--kill", "3")
	for _, id := range ids {
		tk := c.WaitStatus(t, id, 4*time.Minute, "SUCCESS", "FAILED")
		require.Equal(t, "SUCCESS", tk.Status, tk.Error)
		path, _ := c.Download(t, id, t.TempDir())
		proctest.CheckDemoXLSX(t, path, 20000, 1048575)
	}
	require.Regexp(t, `heartbeat failed|record outcome failed|claim task`, outputs(a, b), "the workers felt the outage")
}
