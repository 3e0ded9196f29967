package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

func cli(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	cmd := exec.Command(apiBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%v: %s", args, out)
	return string(out)
}

func status(t *testing.T, c *http.Client, method, url, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestEmbeddedAccess runs dc-api as a process: the key made at first
// start works, a signed link downloads with no key and expires
// (DC_LINK_TTL=1s), the scheduler deletes a file after DC_FILE_TTL=2s (410,
// and retry makes it again), `keys revoke` is felt within 5 s and
// `tenants set --max-active` answers 429 with Retry-After.
func TestEmbeddedAccess(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	env := map[string]string{"DC_DATA_DIR": data, "DC_FILE_TTL": "2s", "DC_LINK_TTL": "1s"}
	p, c := embedded(t, data, env)
	m := regexp.MustCompile(`export DC_KEY=(dck_\S+)`).FindStringSubmatch(p.Output())
	require.NotNil(t, m, "the first start prints a key for tenant default:\n%s", p.Output())
	def := proctest.NewClient(c.Base, m[1])
	tk := def.Create(t, `{"name":"n","type":"demo","format":"csv","params":{"rows":20}}`)
	done := def.WaitStatus(t, tk.ID, time.Minute, "SUCCESS")
	require.NotNil(t, done.File)
	_, err := c.TryGet(tk.ID)
	require.ErrorContains(t, err, "404", "tenant proctest does not see tenant default's task")

	plain := &http.Client{Timeout: 10 * time.Second}
	code, _, body := status(t, plain, http.MethodGet, c.Base+done.File.URL, "")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 21, strings.Count(body, "\n"))
	time.Sleep(1100 * time.Millisecond)
	code, hdr, _ := status(t, plain, http.MethodGet, c.Base+done.File.URL, "")
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))

	file := filepath.Join(data, "files", "task-1-1.csv")
	require.Eventually(t, func() bool { _, err := os.Stat(file); return os.IsNotExist(err) }, 10*time.Second, 100*time.Millisecond,
		"the scheduler deletes the file after DC_FILE_TTL")
	code, _, _ = status(t, def.HTTP, http.MethodGet, c.Base+"/api/v1/tasks/1/file", "")
	require.Equal(t, http.StatusGone, code)
	require.Equal(t, http.StatusAccepted, def.Act(t, tk.ID, "retry"))
	again := def.WaitStatus(t, tk.ID, time.Minute, "SUCCESS")
	require.Equal(t, 2, again.Attempts)
	code, _, _ = status(t, def.HTTP, http.MethodGet, c.Base+"/api/v1/tasks/1/file", "")
	require.Equal(t, http.StatusOK, code)

	// Revocation through the CLI, while the server runs on the database.
	list := cli(t, env, "keys", "list")
	require.Regexp(t, `(?m)^1\s+default\s+make run\s+tasks:read,tasks:write\s`, list)
	require.NotContains(t, list, m[1], "keys list never shows a secret")
	cli(t, env, "keys", "revoke", "1")
	require.Eventually(t, func() bool {
		code, hdr, _ := status(t, def.HTTP, http.MethodGet, c.Base+"/api/v1/tasks", "")
		return code == http.StatusUnauthorized && strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer")
	}, 5*time.Second, 100*time.Millisecond)

	// The active-task limit, set while the server runs.
	require.Contains(t, cli(t, env, "tenants", "set", "proctest", "--max-active", "1"), "max-active 1")
	require.Contains(t, cli(t, env, "tenants", "list"), "proctest")
	time.Sleep(2500 * time.Millisecond) // the limits cache
	slow := c.Create(t, `{"name":"slow","type":"demo","format":"csv","params":{"rows":100000,"delay_ms":200}}`)
	code, hdr, body = status(t, c.HTTP, http.MethodPost, c.Base+"/api/v1/tasks", `{"name":"more","type":"demo","params":{"rows":1}}`)
	require.Equal(t, http.StatusTooManyRequests, code, body)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	// Cancelled now while waiting (200), asked to stop while running (202).
	require.Contains(t, []int{200, 202}, c.Act(t, slow.ID, "cancel"))
}

// TestEmbeddedRowLimit: a counted export over DC_MAX_ROWS is refused at
// create with a 422 naming the limit.
func TestEmbeddedRowLimit(t *testing.T) {
	t.Parallel()
	_, c := embedded(t, t.TempDir(), map[string]string{"DC_MAX_ROWS": "1000"})
	code, _, body := status(t, c.HTTP, http.MethodPost, c.Base+"/api/v1/tasks", `{"name":"big","type":"demo","params":{"rows":1001}}`)
	require.Equal(t, http.StatusUnprocessableEntity, code)
	require.Contains(t, body, "DC_MAX_ROWS")
	created := c.Create(t, `{"name":"ok","type":"demo","params":{"rows":1000}}`)
	require.NotNil(t, created.Progress.RowsTotal, "the count taken at create is the total before the task runs")
	require.EqualValues(t, 1000, *created.Progress.RowsTotal)
}

// TestSharedModeNeedsLinkSecret: with MySQL, replicas must share the link
// secret, so dc-api refuses to start without it.
func TestSharedModeNeedsLinkSecret(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DC_MYSQL_DSN": "u:p@tcp(127.0.0.1:1)/x", "DC_HTTP_ADDR": "127.0.0.1:0", "DC_DATA_DIR": t.TempDir()}
	err := run(context.Background(), nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	require.ErrorContains(t, err, "DC_LINK_SECRET is required")
}
