package domain_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// An idle claimer works through the backlog oldest first, never more at
// once than its slots, and skips tasks other workers took.
func TestIdleClaimerDrainsTheBacklogWithinItsSlots(t *testing.T) {
	t.Parallel()
	prov := newOrders(3)
	var mu sync.Mutex
	running, most := 0, 0
	prov.beforeFetch = func(ctx context.Context, call int) error {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	e := newRunnerEnv(prov)
	var ids []int64
	for range 6 {
		ids = append(ids, e.seed(nil).ID)
	}
	// Another worker holds the second one.
	_, err := e.store.Claim(context.Background(), ids[1], "w-other", t0, t0.Add(time.Hour))
	require.NoError(t, err)

	slots := make(chan struct{}, 2)
	c := &domain.IdleClaimer{Runner: e.runner, Store: e.store, Slots: slots, Every: 5 * time.Millisecond, Log: discardLog}
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(stop, context.Background())
	}()
	require.Eventually(t, func() bool {
		for i, id := range ids {
			if i != 1 && e.store.task(id).Status != domain.StatusSuccess {
				return false
			}
		}
		return true
	}, 5*time.Second, time.Millisecond)
	cancel()
	<-done
	require.Equal(t, domain.StatusExecuting, e.store.task(ids[1]).Status, "left to its owner")
	require.Equal(t, "w-other", e.store.task(ids[1]).WorkerID)
	require.LessOrEqual(t, most, 2, "never more than its slots")
	require.Empty(t, slots, "every slot given back")

	// A task that arrives later (no intent needed) is claimed within Every.
	late := e.seed(nil)
	stop, cancel = context.WithCancel(context.Background())
	defer cancel()
	go c.Run(stop, context.Background())
	require.Eventually(t, func() bool { return e.store.task(late.ID).Status == domain.StatusSuccess }, 5*time.Second, time.Millisecond)
}

// The claimer takes only free slots: while the consumer holds them all,
// it claims nothing.
func TestIdleClaimerWaitsForAFreeSlot(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(3))
	task := e.seed(nil)
	slots := make(chan struct{}, 1)
	slots <- struct{}{} // the consumer's running export
	c := &domain.IdleClaimer{Runner: e.runner, Store: e.store, Slots: slots, Every: time.Millisecond, Log: discardLog}
	stop, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(stop, context.Background())
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, domain.StatusNotExecuted, e.store.task(task.ID).Status)
	<-slots // the consumer's export ends
	require.Eventually(t, func() bool { return e.store.task(task.ID).Status == domain.StatusSuccess }, 5*time.Second, time.Millisecond)
}

// failingLister is a database that does not answer.
type failingLister struct{ calls atomic.Int64 }

func (f *failingLister) Waiting(context.Context, int) ([]int64, error) {
	f.calls.Add(1)
	return nil, errBadConn
}

// While the database fails, the claimer backs off instead of hammering it
// (and the log) at every Every.
func TestIdleClaimerBacksOffWhileTheDatabaseFails(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(3))
	lister := &failingLister{}
	c := &domain.IdleClaimer{Runner: e.runner, Store: lister, Slots: make(chan struct{}, 1), Every: 10 * time.Millisecond, Log: discardLog}
	stop, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(stop, context.Background()) }()
	time.Sleep(600 * time.Millisecond)
	cancel()
	<-done
	// Without backoff: ~60 looks; with doubling from 10 ms: 10, 20, 40, 80, 160, 320 ms.
	require.LessOrEqual(t, lister.calls.Load(), int64(10))
	require.GreaterOrEqual(t, lister.calls.Load(), int64(3))
}
