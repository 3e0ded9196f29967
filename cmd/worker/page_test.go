package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

// TestPageEventsAcrossReplicas runs two dc-api replicas and a worker on
// MariaDB and RocketMQ: a session made by replica A follows, on replica
// B's event stream, its user's export created through A and run by the
// worker — waiting, running with progress, done with its link — and sees
// nothing of another user's export.
func TestPageEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.worker(t, "page-w")
	env := s.with("DC_HTTP_ADDR", "127.0.0.1:0")
	env["DC_EVENTS_POLL"] = "200ms"
	pa := proctest.Start(t, "dc-api-a", apiBin, env)
	pb := proctest.Start(t, "dc-api-b", apiBin, env)
	baseA, baseB := pa.WaitListening(t), pb.WaitListening(t)
	a := proctest.NewClient(baseA, proctest.MakeKey(t, apiBin, env, "acme"))

	res, err := a.HTTP.Post(baseA+"/api/v1/sessions", "application/json", strings.NewReader(`{"user":"alice","ttl":"10m"}`))
	require.NoError(t, err)
	var sess struct {
		Token string `json:"token"`
	}
	require.Equal(t, http.StatusCreated, res.StatusCode)
	require.NoError(t, json.NewDecoder(res.Body).Decode(&sess))
	_ = res.Body.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseB+"/api/v1/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+sess.Token)
	req.Header.Set("Accept", "text/event-stream")
	stream, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer stream.Body.Close()
	require.Equal(t, http.StatusOK, stream.StatusCode)
	lines := bufio.NewScanner(stream.Body)
	require.True(t, lines.Scan())
	for lines.Text() != "event: ready" && lines.Scan() {
	}

	bobs := a.CreateFor(t, "bob", `{"name":"bob's","type":"demo","format":"csv","params":{"rows":10}}`).ID
	mine := a.CreateFor(t, "alice", `{"name":"alice's","type":"demo","format":"csv","params":{"rows":100000,"delay_ms":200}}`).ID

	seen := map[string]bool{}
	var progressed bool
	for !seen["SUCCESS"] && lines.Scan() {
		data, ok := strings.CutPrefix(lines.Text(), "data: ")
		if !ok || data == "{}" {
			continue
		}
		var tk proctest.Task
		require.NoError(t, json.Unmarshal([]byte(data), &tk))
		require.NotEqual(t, bobs, tk.ID, "bob's export on alice's stream")
		require.Equal(t, mine, tk.ID)
		seen[tk.Status] = true
		if tk.Status == "EXECUTING" && tk.Progress.RowsWritten > 0 {
			progressed = true
		}
		if tk.Status == "SUCCESS" {
			require.NotNil(t, tk.File)
			require.True(t, strings.HasPrefix(tk.File.URL, "/files/"))
		}
	}
	require.NoError(t, ctx.Err(), "the stream did not carry the export to SUCCESS in time")
	require.True(t, seen["EXECUTING"], "the claim reached replica B's stream")
	require.True(t, progressed, "progress reached replica B's stream")
}
