package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

func get(t *testing.T, c *http.Client, url string) (int, http.Header) {
	t.Helper()
	res, err := c.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	return res.StatusCode, res.Header
}

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

// TestAccessAcrossReplicas runs two dc-api replicas and a worker on
// MariaDB and RocketMQ: tenants are isolated on both, a link signed by one
// downloads from the other, and a key revoked or a limit set with the CLI
// is felt on both within 5 s.
func TestAccessAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.worker(t, "access-w")
	env := s.with("DC_HTTP_ADDR", "127.0.0.1:0")
	pa := proctest.Start(t, "dc-api-a", apiBin, env)
	pb := proctest.Start(t, "dc-api-b", apiBin, env)
	baseA, baseB := pa.WaitListening(t), pb.WaitListening(t)
	require.NotContains(t, pa.Output()+pb.Output(), "DC_KEY=dck_", "the MySQL mode never makes keys by itself")
	acme := proctest.MakeKey(t, apiBin, env, "acme")
	globex := proctest.MakeKey(t, apiBin, env, "globex")
	a, b := proctest.NewClient(baseA, acme), proctest.NewClient(baseB, acme)
	ga, gb := proctest.NewClient(baseA, globex), proctest.NewClient(baseB, globex)

	tk := a.Create(t, `{"name":"acme","type":"demo","format":"csv","params":{"rows":100}}`)
	done := b.WaitStatus(t, tk.ID, time.Minute, "SUCCESS")
	for _, g := range []*proctest.Client{ga, gb} {
		_, err := g.TryGet(tk.ID)
		require.ErrorContains(t, err, "404")
		require.Equal(t, http.StatusNotFound, g.Act(t, tk.ID, "cancel"))
		require.Equal(t, http.StatusNotFound, g.Act(t, tk.ID, "retry"))
		code, _ := get(t, g.HTTP, fmt.Sprintf("%s/api/v1/tasks/%d/file", g.Base, tk.ID))
		require.Equal(t, http.StatusNotFound, code)
	}

	// The link made by replica B downloads from replica A, with no key.
	plain := &http.Client{Timeout: 10 * time.Second}
	code, _ := get(t, plain, baseA+done.File.URL)
	require.Equal(t, http.StatusOK, code)
	code, _ = get(t, plain, baseA+done.File.URL[:len(done.File.URL)-1]+"0")
	if strings.HasSuffix(done.File.URL, "0") {
		code, _ = get(t, plain, baseA+done.File.URL[:len(done.File.URL)-1]+"1")
	}
	require.Equal(t, http.StatusForbidden, code)

	// A limit set with the CLI holds on both replicas.
	cli(t, env, "tenants", "set", "globex", "--max-active", "1")
	time.Sleep(2500 * time.Millisecond)
	slow := ga.Create(t, `{"name":"slow","type":"demo","format":"csv","params":{"rows":100000,"delay_ms":200}}`)
	status, body := gb.Post(t, `{"name":"more","type":"demo","params":{"rows":1}}`)
	require.Equal(t, http.StatusTooManyRequests, status, body)
	// Cancelled now while waiting (200), asked to stop while running (202).
	require.Contains(t, []int{200, 202}, gb.Act(t, slow.ID, "cancel"))

	// A revoked key stops on both replicas within 5 s.
	var id string
	for _, line := range strings.Split(cli(t, env, "keys", "list"), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "globex" {
			id = f[0]
		}
	}
	require.NotEmpty(t, id)
	cli(t, env, "keys", "revoke", id)
	require.Eventually(t, func() bool {
		ca, _ := get(t, ga.HTTP, baseA+"/api/v1/tasks")
		cb, _ := get(t, gb.HTTP, baseB+"/api/v1/tasks")
		return ca == http.StatusUnauthorized && cb == http.StatusUnauthorized
	}, 5*time.Second, 100*time.Millisecond)
	code, _ = get(t, a.HTTP, baseA+"/api/v1/tasks")
	require.Equal(t, http.StatusOK, code, "acme's key still works")
}
