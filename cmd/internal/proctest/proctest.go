// Package proctest runs dc-api and dc-worker as real processes for the
// end-to-end tests of cmd/api and cmd/worker, and checks what they make.
package proctest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Build compiles a main package (e.g. "github.com/downloadcenter/dc/cmd/api")
// into dir, with optional build tags, and returns the binary's path. Under
// `go test -race` the binary is built with the race detector as well.
func Build(dir, pkg string, tags ...string) (string, error) {
	out := filepath.Join(dir, filepath.Base(pkg)+strings.Join(tags, "-"))
	args := []string{"build", "-tags", strings.Join(tags, ",")}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return out, nil
}

// Proc is a running binary whose output is kept for assertions.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

// Start runs bin with env added to a minimal environment. The process is
// killed when the test ends, and its output is logged if the test failed.
func Start(t *testing.T, name, bin string, env map[string]string) *Proc {
	t.Helper()
	p := &Proc{Name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.mu.Unlock()
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		_ = pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		// A race-built binary reports a race on its output and goes on;
		// the test that provoked it fails here.
		if strings.Contains(p.Output(), "WARNING: DATA RACE") {
			t.Errorf("%s: the race detector found a data race", name)
		}
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, p.Output())
		}
	})
	return p
}

// Output is everything the process printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// WaitFor waits until the output matches re and returns the first match's
// submatches.
func (p *Proc) WaitFor(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %s:\n%s", p.Name, p.err, re, p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not print %s within %s:\n%s", p.Name, re, timeout, p.Output())
	return nil
}

var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// WaitListening waits for dc-api's welcome line and returns its base URL.
func (p *Proc) WaitListening(t *testing.T) string {
	t.Helper()
	return p.WaitFor(t, listening, 90*time.Second)[1]
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// Kill ends the process at once (kill -9) and waits for it.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Wait waits up to timeout for the process to exit and returns its error.
func (p *Proc) Wait(timeout time.Duration) (exited bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-time.After(timeout):
		return false, nil
	}
}

// Task is the part of the task JSON tests read.
type Task struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Format   string `json:"format"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
	Worker   string `json:"worker"`
	// NextAttemptAt is set on a FAILED task awaiting its automatic retry.
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	Progress      struct {
		RowsWritten int64  `json:"rows_written"`
		RowsTotal   *int64 `json:"rows_total"`
	} `json:"progress"`
	File *struct {
		Name   string `json:"name"`
		Size   int64  `json:"size"`
		Rows   int64  `json:"rows"`
		Sheets int    `json:"sheets"`
		URL    string `json:"url"`
	} `json:"file"`
}

// Client talks to one dc-api with an API key.
type Client struct {
	Base string
	HTTP *http.Client
	// Key is sent as Authorization: Bearer on every request.
	Key string
}

// NewClient returns a client of base sending key.
func NewClient(base, key string) *Client {
	return &Client{Base: base, Key: key, HTTP: &http.Client{Timeout: 30 * time.Second, Transport: bearerTransport{key}}}
}

// bearerTransport adds the API key to each request.
type bearerTransport struct{ key string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// MakeKey runs `bin keys create` with env (the environment of the dc-api
// it is for, so it finds the same database) and returns the new key.
func MakeKey(t *testing.T, bin string, env map[string]string, tenant string) string {
	t.Helper()
	cmd := exec.Command(bin, "keys", "create", "--tenant", tenant, "--name", "proctest", "--scopes", "tasks:read,tasks:write,admin")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	require.NoError(t, err, "keys create: %s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// StartAPI starts dc-api with env, waits until it listens and returns it
// with a client holding a fresh key of tenant "proctest".
func StartAPI(t *testing.T, name, bin string, env map[string]string) (*Proc, *Client) {
	t.Helper()
	p := Start(t, name, bin, env)
	base := p.WaitListening(t)
	return p, NewClient(base, MakeKey(t, bin, env, "proctest"))
}

// Create posts a task and requires 202.
func (c *Client) Create(t *testing.T, body string) Task {
	t.Helper()
	status, b := c.Post(t, body)
	require.Equal(t, http.StatusAccepted, status, b)
	var tk Task
	require.NoError(t, json.Unmarshal([]byte(b), &tk))
	return tk
}

// CreateFor posts a task for an end user (X-DC-User) and requires 202.
func (c *Client) CreateFor(t *testing.T, user, body string) Task {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.Base+"/api/v1/tasks", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-DC-User", user)
	res, err := c.HTTP.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusAccepted, res.StatusCode, string(b))
	var tk Task
	require.NoError(t, json.Unmarshal(b, &tk))
	return tk
}

// Post posts a create request and returns the status and body as they are.
func (c *Client) Post(t *testing.T, body string) (int, string) {
	t.Helper()
	res, err := c.HTTP.Post(c.Base+"/api/v1/tasks", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Get reads a task and requires 200.
func (c *Client) Get(t *testing.T, id int64) Task {
	t.Helper()
	tk, err := c.TryGet(id)
	require.NoError(t, err)
	return tk
}

// TryGet reads a task, returning any failure (a database restart makes
// the API answer 500 for a while).
func (c *Client) TryGet(id int64) (Task, error) {
	var tk Task
	res, err := c.HTTP.Get(fmt.Sprintf("%s/api/v1/tasks/%d", c.Base, id))
	if err != nil {
		return tk, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return tk, fmt.Errorf("GET task %d: %d %s", id, res.StatusCode, b)
	}
	return tk, json.Unmarshal(b, &tk)
}

// Act posts to a task action (cancel, retry) and returns the status.
func (c *Client) Act(t *testing.T, id int64, action string) int {
	t.Helper()
	res, err := c.HTTP.Post(fmt.Sprintf("%s/api/v1/tasks/%d/%s", c.Base, id, action), "application/json", nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	return res.StatusCode
}

// WaitStatus polls until the task reaches one of the statuses.
func (c *Client) WaitStatus(t *testing.T, id int64, timeout time.Duration, statuses ...string) Task {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var tk Task
	for time.Now().Before(deadline) {
		got, err := c.TryGet(id)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		tk = got
		for _, s := range statuses {
			// FAILED with a retry due is not final (a rescued attempt
			// waits out its backoff); waiting for FAILED alone still sees it.
			if s == "FAILED" && tk.NextAttemptAt != nil && len(statuses) > 1 {
				continue
			}
			if tk.Status == s {
				return tk
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("task %d still %s (error %q) after %s, want %v", id, tk.Status, tk.Error, timeout, statuses)
	return tk
}

// Download fetches a task's file into dir and returns its path and the
// response headers.
func (c *Client) Download(t *testing.T, id int64, dir string) (string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/tasks/%d/file", c.Base, id), nil)
	require.NoError(t, err)
	res, err := (&http.Client{Transport: c.HTTP.Transport}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	path := filepath.Join(dir, fmt.Sprintf("download-%d", id))
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = io.Copy(f, res.Body)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return path, res.Header
}
