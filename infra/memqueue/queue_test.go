package memqueue_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/memqueue"
)

var quiet = slog.New(slog.DiscardHandler)

func TestDeliversEveryIntentWithinSlots(t *testing.T) {
	t.Parallel()
	q := memqueue.New(100, 10*time.Millisecond)
	for i := range 50 {
		require.NoError(t, q.Send(context.Background(), domain.Intent{TaskID: int64(i + 1)}))
	}
	stop, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[int64]int{}
	var running, peak atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(stop, context.Background(), 3, func(_ context.Context, in domain.Intent) error {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Millisecond)
			mu.Lock()
			seen[in.TaskID]++
			mu.Unlock()
			return nil
		}, quiet)
	}()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 50 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	for id, n := range seen {
		require.Equal(t, 1, n, "intent %d delivered once", id)
	}
	require.LessOrEqual(t, peak.Load(), int32(3))
}

func TestHandlerErrorRedelivers(t *testing.T) {
	t.Parallel()
	q := memqueue.New(10, 5*time.Millisecond)
	require.NoError(t, q.Send(context.Background(), domain.Intent{TaskID: 7}))
	stop, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	go q.Consume(stop, context.Background(), 1, func(context.Context, domain.Intent) error {
		if calls.Add(1) < 3 {
			return errors.New("database down")
		}
		return nil
	}, quiet)
	require.Eventually(t, func() bool { return calls.Load() == 3 }, 5*time.Second, 5*time.Millisecond)
}

func TestFullQueueAndClose(t *testing.T) {
	t.Parallel()
	q := memqueue.New(1, time.Second)
	require.NoError(t, q.Send(context.Background(), domain.Intent{TaskID: 1}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, q.Send(ctx, domain.Intent{TaskID: 2}), context.DeadlineExceeded, "a full queue waits only as long as the context")
	require.Equal(t, 1, q.Len())
	q.Close()
	require.ErrorIs(t, q.Send(context.Background(), domain.Intent{TaskID: 3}), memqueue.ErrClosed)
}
