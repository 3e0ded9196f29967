package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/cmd/internal/proctest"
)

// TestEveryStartedWorkerGetsWork starts more one-slot workers than the
// topic has queues (the broker gives each queue to one consumer of a
// group, so the rest got no intents at all) and a backlog of exports
// bound by provider time: every worker must run some. It fails if a
// started worker never gets work.
func TestEveryStartedWorkerGetsWork(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const workers, perWorker = 6, 3
	var ps []*proctest.Proc
	for i := range workers {
		id := fmt.Sprintf("fleet-%d", i)
		ps = append(ps, proctest.Start(t, id, workerBin, s.with("DC_WORKER_ID", id, "DC_WORKER_SLOTS", "1", "DC_BATCH_SIZE", "100")))
	}
	for _, p := range ps {
		p.WaitFor(t, workerStarted, 60*time.Second)
	}
	_, c := s.api(t)
	var ids []int64
	for i := range workers * perWorker {
		// 10 batches of 100 ms: a second of provider time, little CPU.
		ids = append(ids, c.Create(t, fmt.Sprintf(`{"name":"fleet %d","type":"demo","format":"csv","params":{"rows":1000,"delay_ms":100}}`, i)).ID)
	}
	ran := map[string]int{}
	for _, id := range ids {
		tk := c.WaitStatus(t, id, 2*time.Minute, "SUCCESS", "FAILED")
		require.Equal(t, "SUCCESS", tk.Status, tk.Error)
		require.Equal(t, 1, tk.Attempts)
		ran[tk.Worker]++
	}
	for i := range workers {
		require.Positive(t, ran[fmt.Sprintf("fleet-%d", i)], "worker fleet-%d never got work: %v", i, ran)
	}
}
