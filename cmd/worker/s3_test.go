package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
	"github.com/downloadcenter/dc/infra/s3"
	"github.com/downloadcenter/dc/infra/s3/s3test"
)

// s3Stack is a real stack whose files go to a prefix of its own in the
// SeaweedFS bucket, with nothing on a local volume.
func s3Stack(t *testing.T) (*stack, *s3.Store, string) {
	t.Helper()
	s := newStack(t)
	cfg, ok := s3test.Config(t)
	if !ok {
		t.Skip("DC_S3_ENDPOINT not set (make test sets it)")
	}
	local := s.env["DC_STORAGE_DIR"]
	for k, v := range map[string]string{
		"DC_STORAGE": "s3", "DC_S3_ENDPOINT": cfg.Endpoint, "DC_S3_BUCKET": cfg.Bucket, "DC_S3_PREFIX": cfg.Prefix,
		"DC_S3_REGION": cfg.Region, "DC_S3_ACCESS_KEY": cfg.AccessKey, "DC_S3_SECRET_KEY": cfg.SecretKey,
	} {
		s.env[k] = v
	}
	return s, s3test.New(t, cfg), local
}

func requireEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "nothing written to the local volume with DC_STORAGE=s3")
}

// TestS3LargeXLSX streams a 1M-row xlsx into the bucket with flat memory
// and downloads it through the API (a redirect to the bucket): every row
// is there, and the bucket holds the one object and no upload.
func TestS3LargeXLSX(t *testing.T) {
	t.Parallel()
	s, bucket, local := s3Stack(t)
	w := s.worker(t, "s3-big")
	_, c := s.api(t)
	const rows = 1_000_000
	tk := c.Create(t, fmt.Sprintf(`{"name":"s3 big","type":"demo","format":"xlsx","params":{"rows":%d}}`, rows))
	done := c.WaitStatus(t, tk.ID, 8*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	peak, err := w.PeakRSS()
	require.NoError(t, err)
	t.Logf("worker peak RSS %d MiB for a %d MiB file", peak>>20, done.File.Size>>20)
	require.Less(t, peak, int64(128<<20), "worker peak RSS")
	require.Greater(t, done.File.Size, int64(16<<20), "the file spans several parts")

	require.Equal(t, []string{bucket.Key(fmt.Sprintf("task-%d-1.xlsx", tk.ID))}, s3test.Objects(t, bucket))
	require.Empty(t, s3test.Uploads(t, bucket))
	path, _ := c.Download(t, tk.ID, t.TempDir())
	proctest.CheckDemoXLSX(t, path, rows, 1048575)
	requireEmptyDir(t, local)
}

// TestS3WorkerKilledMidUpload: a worker is SIGKILLed while its multipart
// upload is open. The rescued attempt succeeds, the bucket holds one whole
// file under the rescued attempt's key, and the sweep aborted the dead
// attempt's upload.
func TestS3WorkerKilledMidUpload(t *testing.T) {
	t.Parallel()
	s, bucket, local := s3Stack(t)
	victim := s.worker(t, "s3-victim")
	_, c := s.api(t)
	const rows = 600_000
	tk := c.Create(t, fmt.Sprintf(`{"name":"s3 crash","type":"demo","format":"csv","params":{"rows":%d,"delay_ms":20}}`, rows))
	require.Eventually(t, func() bool { return len(s3test.Uploads(t, bucket)) == 1 }, 3*time.Minute, 50*time.Millisecond,
		"the worker's multipart upload started")
	require.Empty(t, s3test.Objects(t, bucket), "no object while the upload is open")
	victim.Kill()
	s.worker(t, "s3-rescuer")
	done := c.WaitStatus(t, tk.ID, 5*time.Minute, "SUCCESS", "FAILED")
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	require.Equal(t, 2, done.Attempts)
	require.Equal(t, "s3-rescuer", done.Worker)
	require.Equal(t, []string{bucket.Key(fmt.Sprintf("task-%d-2.csv", tk.ID))}, s3test.Objects(t, bucket),
		"one file, under the rescued attempt's key")
	require.Empty(t, s3test.Uploads(t, bucket), "the dead attempt's upload was aborted")
	path, _ := c.Download(t, tk.ID, t.TempDir())
	proctest.CheckDemoCSV(t, path, rows)
	requireEmptyDir(t, local)
}

// TestS3Unreachable cuts the worker off the bucket mid-export: the attempt
// fails and is retried, and the task never succeeds without its object.
func TestS3Unreachable(t *testing.T) {
	t.Parallel()
	s, bucket, _ := s3Stack(t)
	// Retries far enough apart that the bucket is back for the next attempt.
	s.env["DC_RETRY_BACKOFF"] = "3s"
	proxy := newTCPProxy(t, s.env["DC_S3_ENDPOINT"][len("http://"):])
	worker := s.with("DC_WORKER_ID", "s3-cut", "DC_WORKER_SLOTS", "2", "DC_S3_ENDPOINT", "http://"+proxy.addr)
	p := proctest.Start(t, "s3-cut", workerBin, worker)
	p.WaitFor(t, workerStarted, 60*time.Second)
	_, c := s.api(t)
	const rows = 300_000
	tk := c.Create(t, fmt.Sprintf(`{"name":"s3 cut","type":"demo","format":"csv","params":{"rows":%d,"delay_ms":50}}`, rows))
	require.Eventually(t, func() bool { return len(s3test.Uploads(t, bucket)) == 1 }, 3*time.Minute, 50*time.Millisecond)

	proxy.down()
	failed := c.WaitStatus(t, tk.ID, 2*time.Minute, "FAILED") // FAILED alone: also one awaiting its retry
	require.Equal(t, "FAILED", failed.Status, "an export whose bucket is gone cannot succeed")
	require.Contains(t, failed.Error, "part")
	require.NotNil(t, failed.NextAttemptAt, "and is retried")
	require.Empty(t, s3test.Objects(t, bucket))
	proxy.up(t)

	done := c.WaitStatus(t, tk.ID, 5*time.Minute, "SUCCESS", "FAILED")
	for done.Status == "FAILED" && done.NextAttemptAt != nil { // a retry that came before the bucket was back
		done = c.WaitStatus(t, tk.ID, 5*time.Minute, "SUCCESS")
	}
	require.Equal(t, "SUCCESS", done.Status, done.Error)
	require.GreaterOrEqual(t, done.Attempts, 2)
	require.Equal(t, []string{bucket.Key(fmt.Sprintf("task-%d-%d.csv", tk.ID, done.Attempts))}, s3test.Objects(t, bucket))
	require.Eventually(t, func() bool { return len(s3test.Uploads(t, bucket)) == 0 }, 30*time.Second, 100*time.Millisecond,
		"the failed attempt's upload is aborted, by the worker or the retry sweep")
	path, _ := c.Download(t, tk.ID, t.TempDir())
	proctest.CheckDemoCSV(t, path, rows)
}

// tcpProxy forwards a local port to target; down closes the port and
// every connection (the bucket is unreachable), up listens again.
type tcpProxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{target: target, conns: map[net.Conn]bool{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *tcpProxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.serve(ln)
}

func (p *tcpProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
}

func (p *tcpProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}
