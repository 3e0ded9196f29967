package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

// onMariaDB is the environment of a dc-api on a fresh MariaDB database
// running its own worker (no broker: the in-process queue), webhooks
// allowed to loopback receivers and retried quickly.
func onMariaDB(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		t.Skip("DC_MYSQL_DSN not set (make test sets it)")
	}
	env := map[string]string{
		"DC_MYSQL_DSN": dsn, "DC_LINK_SECRET": strings.Repeat("s", 32), "DC_DEMO": "true",
		"DC_HTTP_ADDR": "127.0.0.1:0", "DC_DATA_DIR": t.TempDir(), "DC_LOG_LEVEL": "info",
		"DC_SCHEDULER_INTERVAL": "200ms", "DC_WEBHOOK_BACKOFF": "200ms", "DC_WEBHOOK_ALLOW_PRIVATE": "true",
		"DC_TENANT_MAX_ACTIVE": "0", "DC_TENANT_CREATES_PER_MINUTE": "0", "DC_WORKER_SLOTS": "8",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

type deliveryJSON struct {
	ID             int64  `json:"id"`
	Event          string `json:"event"`
	MessageID      string `json:"message_id"`
	TaskID         int64  `json:"task_id"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	RecentAttempts []struct {
		StatusCode *int    `json:"status_code"`
		DurationMS float64 `json:"duration_ms"`
		Error      string  `json:"error"`
	} `json:"recent_attempts"`
}

func deliveries(t *testing.T, c *proctest.Client, endpoint int64) []deliveryJSON {
	t.Helper()
	code, b := c.Do(t, http.MethodGet, fmt.Sprintf("/api/v1/webhooks/%d/deliveries?limit=100", endpoint), "")
	require.Equal(t, http.StatusOK, code, b)
	var out struct {
		Items []deliveryJSON `json:"items"`
	}
	require.NoError(t, json.Unmarshal([]byte(b), &out))
	return out.Items
}

// waitDelivery waits until the endpoint's delivery of task's event has
// status want.
func waitDelivery(t *testing.T, c *proctest.Client, endpoint, task int64, want string) deliveryJSON {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, d := range deliveries(t, c, endpoint) {
			if d.TaskID == task && d.Status == want {
				return d
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the delivery of task %d to endpoint %d is not %s", task, endpoint, want)
	return deliveryJSON{}
}

// TestWebhooksRetriedThenDelivered: on MariaDB, a receiver verifying
// Standard Webhooks signatures answers 500 twice, then 200, for the first
// task: that event arrives three times and is then marked delivered; a
// failed and a cancelled task are told too; redeliver sends an event again
// under the same webhook-id.
func TestWebhooksRetriedThenDelivered(t *testing.T) {
	t.Parallel()
	env := onMariaDB(t, map[string]string{"DC_MAX_ATTEMPTS": "2", "DC_RETRY_BACKOFF": "100ms"})
	_, c := proctest.StartAPI(t, "dc-api", apiBin, env)
	recv := proctest.NewReceiver(t)
	w := c.RegisterWebhook(t, recv.URL, "task.succeeded", "task.failed", "task.cancelled")
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{32,}=*$`, w.Secret)
	recv.SetSecret(w.Secret)
	var first int64
	var mu sync.Mutex
	recv.SetAnswer(func(a proctest.Arrival, n int) int {
		mu.Lock()
		defer mu.Unlock()
		if a.TaskID == first && n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	mu.Lock()
	first = c.Create(t, `{"name":"first","type":"demo","format":"csv","params":{"rows":100}}`).ID
	mu.Unlock()
	failed := c.Create(t, `{"name":"failing","type":"demo","format":"csv","params":{"rows":10,"fail_times":9}}`).ID
	cancelled := c.Create(t, `{"name":"slow","type":"demo","format":"csv","params":{"rows":100000,"delay_ms":200}}`).ID
	c.WaitStatus(t, cancelled, time.Minute, "EXECUTING")
	require.Equal(t, http.StatusAccepted, c.Act(t, cancelled, "cancel"))

	got := recv.WaitAccepted(t, []int64{first, failed, cancelled}, 2*time.Minute)
	require.Equal(t, 1, got[first])
	d := waitDelivery(t, c, w.ID, first, "delivered")
	require.Equal(t, 3, d.Attempts)
	require.Len(t, d.RecentAttempts, 3)
	require.Equal(t, 200, *d.RecentAttempts[0].StatusCode)
	require.Equal(t, 500, *d.RecentAttempts[1].StatusCode)
	require.Contains(t, d.RecentAttempts[1].Error, "500")

	arrivals, bad := recv.Arrivals()
	require.Empty(t, bad, "every request verified")
	types := map[int64]string{}
	tries := map[int64]int{}
	for _, a := range arrivals {
		types[a.TaskID] = a.Type
		tries[a.TaskID]++
		if a.TaskID == first {
			require.Equal(t, d.MessageID, a.MessageID, "every attempt carries the event's webhook-id")
		}
	}
	require.Equal(t, 3, tries[first], "500, 500, 200")
	require.Equal(t, map[int64]string{first: "task.succeeded", failed: "task.failed", cancelled: "task.cancelled"}, types)
	require.Equal(t, 1, tries[failed], "task.failed only once no retry is coming (after its second attempt)")

	code, b := c.Do(t, http.MethodPost, fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d/redeliver", w.ID, d.ID), "")
	require.Equal(t, http.StatusAccepted, code, b)
	deadline := time.Now().Add(time.Minute)
	for recv.Accepted()[first] < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	arrivals, _ = recv.Arrivals()
	last := arrivals[len(arrivals)-1]
	require.Equal(t, first, last.TaskID, "redelivered")
	require.Equal(t, d.MessageID, last.MessageID, "under the same webhook-id")
}

// TestWebhooksSurviveSIGKILL: dc-api is killed with SIGKILL while events
// wait for a receiver that is down; after a restart every event arrives.
func TestWebhooksSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	env := onMariaDB(t, nil)
	p, c := proctest.StartAPI(t, "dc-api", apiBin, env)
	recv := proctest.NewReceiver(t)
	w := c.RegisterWebhook(t, recv.URL, "task.succeeded")
	recv.SetSecret(w.Secret)
	recv.SetAnswer(func(proctest.Arrival, int) int { return http.StatusServiceUnavailable })
	var ids []int64
	for i := 0; i < 20; i++ {
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"k%d","type":"demo","format":"csv","params":{"rows":50}}`, i)).ID)
	}
	for _, id := range ids {
		c.WaitStatus(t, id, time.Minute, "SUCCESS")
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if as, _ := recv.Arrivals(); len(as) >= len(ids) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.Kill()
	require.Empty(t, recv.Accepted(), "nothing delivered before the kill")

	recv.SetAnswer(func(proctest.Arrival, int) int { return http.StatusOK })
	p2 := proctest.Start(t, "dc-api-2", apiBin, env)
	c2 := proctest.NewClient(p2.WaitListening(t), c.Key)
	got := recv.WaitAccepted(t, ids, 2*time.Minute)
	require.Len(t, got, len(ids))
	for _, id := range ids {
		waitDelivery(t, c2, w.ID, id, "delivered")
	}
	_, bad := recv.Arrivals()
	require.Empty(t, bad)
}

// TestWebhooksThousandEvents: 1,000 tasks of one tenant finish; its
// endpoint is told of each of them, none missing, and another tenant's
// endpoint of none.
func TestWebhooksThousandEvents(t *testing.T) {
	t.Parallel()
	env := onMariaDB(t, nil)
	_, c := proctest.StartAPI(t, "dc-api", apiBin, env)
	other := proctest.NewClient(c.Base, proctest.MakeKey(t, apiBin, env, "other"))
	mine, theirs := proctest.NewReceiver(t), proctest.NewReceiver(t)
	w := c.RegisterWebhook(t, mine.URL, "task.succeeded")
	mine.SetSecret(w.Secret)
	wo := other.RegisterWebhook(t, theirs.URL, "task.succeeded", "task.failed", "task.cancelled")
	theirs.SetSecret(wo.Secret)

	const n = 1000
	ids := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"n%d","type":"demo","format":"csv","params":{"rows":1}}`, i)).ID)
	}
	got := mine.WaitAccepted(t, ids, 5*time.Minute)
	require.Len(t, got, n, "one event per task, none missing")
	arrivals, bad := mine.Arrivals()
	require.Empty(t, bad)
	seen := map[string]bool{}
	for _, a := range arrivals {
		require.Equal(t, "task.succeeded", a.Type)
		seen[a.MessageID] = true
	}
	require.Len(t, seen, n, "one webhook-id per event")
	theirArrivals, _ := theirs.Arrivals()
	require.Empty(t, theirArrivals, "another tenant's endpoint hears nothing")
	require.Empty(t, deliveries(t, other, wo.ID))
}

// TestWebhookPrivateTargetsRefused: with DC_WEBHOOK_ALLOW_PRIVATE=false a
// loopback URL is refused at registration (400); an endpoint registered
// while it was allowed is refused when dialled once it no longer is.
func TestWebhookPrivateTargetsRefused(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	recv := proctest.NewReceiver(t)
	p, c := embedded(t, data, map[string]string{"DC_WEBHOOK_ALLOW_PRIVATE": "true"})
	w := c.RegisterWebhook(t, recv.URL, "task.succeeded")
	recv.SetSecret(w.Secret)
	p.Kill()

	p2 := proctest.Start(t, "dc-api-2", apiBin, map[string]string{
		"DC_HTTP_ADDR": "127.0.0.1:0", "DC_DATA_DIR": data, "DC_SCHEDULER_INTERVAL": "200ms", "DC_WEBHOOK_BACKOFF": "100ms",
		// Explicit: unset, an embedded dc-api on a loopback address allows them.
		"DC_WEBHOOK_ALLOW_PRIVATE": "false",
	})
	c2 := proctest.NewClient(p2.WaitListening(t), c.Key)
	for _, url := range []string{recv.URL, strings.Replace(recv.URL, "127.0.0.1", "localhost", 1), "http://10.0.0.8/x", "http://[::1]:8080/x"} {
		code, b := c2.Do(t, http.MethodPost, "/api/v1/webhooks", fmt.Sprintf(`{"url":%q,"events":["task.succeeded"]}`, url))
		require.Equal(t, http.StatusBadRequest, code, b)
		require.Contains(t, b, "private")
	}
	id := c2.Create(t, `{"name":"refused","type":"demo","format":"csv","params":{"rows":5}}`).ID
	c2.WaitStatus(t, id, time.Minute, "SUCCESS")
	deadline := time.Now().Add(time.Minute)
	var d deliveryJSON
	for time.Now().Before(deadline) {
		if ds := deliveries(t, c2, w.ID); len(ds) == 1 && ds[0].Attempts >= 1 && len(ds[0].RecentAttempts) >= 1 {
			d = ds[0]
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotEmpty(t, d.RecentAttempts, "the delivery was attempted")
	require.Nil(t, d.RecentAttempts[0].StatusCode, "no request was made")
	require.Contains(t, d.RecentAttempts[0].Error, "loopback, private or link-local")
	arrivals, _ := recv.Arrivals()
	require.Empty(t, arrivals, "nothing reached the loopback receiver")
}
