package rocketmq

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/downloadcenter/dc/domain"
)

// fakePush stands in for the client's push consumer.
type fakePush struct {
	startErr  error
	starts    atomic.Int32
	shutdowns atomic.Int32
}

func (f *fakePush) Start() error    { f.starts.Add(1); return f.startErr }
func (f *fakePush) Shutdown() error { f.shutdowns.Add(1); return nil }

func newTestConsumer(t *testing.T, slots, delayLevel int, h Handler) (*Consumer, *fakePush) {
	t.Helper()
	cfg := Config{NameServer: "127.0.0.1:9876", Slots: slots, RetryDelayLevel: delayLevel}.withDefaults()
	c := newConsumer(cfg, h, slog.New(slog.DiscardHandler))
	f := &fakePush{}
	c.client = f
	return c, f
}

func intentMsg(body string, tag string) *primitive.MessageExt {
	m := &primitive.MessageExt{Message: primitive.Message{Topic: "t", Body: []byte(body)}, MsgId: "m1"}
	if tag != "" {
		m.WithTag(tag)
	}
	return m
}

// deliver calls the consumer as the client does and returns the result and
// the delay level it asked for.
func deliver(c *Consumer, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, int) {
	cc := primitive.NewConsumeConcurrentlyContext()
	ctx := primitive.WithConcurrentlyCtx(context.Background(), cc)
	res, _ := c.consume(ctx, msgs...)
	return res, cc.DelayLevelWhenNextConsume
}

func TestConsumerResults(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		tag        string
		handlerErr error
		panics     bool
		delayLevel int
		want       consumer.ConsumeResult
		wantDelay  int
		wantCalled bool
		wantIntent domain.Intent
	}{
		{name: "done", body: `{"task_id":5}`, tag: "orders", want: consumer.ConsumeSuccess, wantCalled: true, wantIntent: domain.Intent{TaskID: 5, Type: "orders"}},
		{name: "failed", body: "5", handlerErr: errors.New("db down"), want: consumer.ConsumeRetryLater, wantCalled: true, wantIntent: domain.Intent{TaskID: 5}},
		{name: "failed with delay level", body: "5", handlerErr: errors.New("db down"), delayLevel: 2, want: consumer.ConsumeRetryLater, wantDelay: 2, wantCalled: true, wantIntent: domain.Intent{TaskID: 5}},
		{name: "delay level only on failure", body: "5", delayLevel: 2, want: consumer.ConsumeSuccess, wantCalled: true, wantIntent: domain.Intent{TaskID: 5}},
		{name: "panicked", body: "5", panics: true, want: consumer.ConsumeRetryLater, wantCalled: true, wantIntent: domain.Intent{TaskID: 5}},
		{name: "malformed is dropped", body: "not an intent", want: consumer.ConsumeSuccess},
		{name: "zero id is dropped", body: `{"task_id":0}`, want: consumer.ConsumeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var called bool
			var got domain.Intent
			c, _ := newTestConsumer(t, 1, tt.delayLevel, func(ctx context.Context, in domain.Intent) error {
				called, got = true, in
				require.NoError(t, ctx.Err())
				if tt.panics {
					panic("boom")
				}
				return tt.handlerErr
			})
			res, delay := deliver(c, intentMsg(tt.body, tt.tag))
			require.Equal(t, tt.want, res)
			require.Equal(t, tt.wantDelay, delay)
			require.Equal(t, tt.wantCalled, called)
			require.Equal(t, tt.wantIntent, got)
			require.Empty(t, c.slots, "slot given back")
		})
	}
}

func TestConsumerBatchRetriesWhenAnyFails(t *testing.T) {
	var seen []int64
	c, _ := newTestConsumer(t, 1, 0, func(_ context.Context, in domain.Intent) error {
		seen = append(seen, in.TaskID)
		if in.TaskID == 2 {
			return errors.New("failed")
		}
		return nil
	})
	res, _ := deliver(c, intentMsg("1", ""), intentMsg("2", ""), intentMsg("bad", ""), intentMsg("3", ""))
	require.Equal(t, consumer.ConsumeRetryLater, res)
	require.Equal(t, []int64{1, 2, 3}, seen)
}

func TestConsumerBoundsRunningHandlers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const slots, intents = 3, 12
	var running, peak atomic.Int32
	c, _ := newTestConsumer(t, slots, 0, func(context.Context, domain.Intent) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		running.Add(-1)
		return nil
	})
	// The client may call back on more goroutines than Slots (its bound
	// is per topic, and the retry topic is a second one).
	var wg sync.WaitGroup
	results := make(chan consumer.ConsumeResult, intents)
	for i := 1; i <= intents; i++ {
		wg.Go(func() {
			res, _ := deliver(c, intentMsg("7", ""))
			results <- res
		})
	}
	wg.Wait()
	close(results)
	for res := range results {
		require.Equal(t, consumer.ConsumeSuccess, res)
	}
	require.Equal(t, int32(slots), peak.Load())
}

func TestConsumerShutdownWaitsForHandlers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	started := make(chan struct{})
	var handled atomic.Int32
	c, f := newTestConsumer(t, 1, 0, func(ctx context.Context, in domain.Intent) error {
		if in.TaskID == 1 {
			close(started)
			<-release
		}
		handled.Add(1)
		return ctx.Err()
	})
	require.NoError(t, c.Start())

	first := make(chan consumer.ConsumeResult, 1)
	go func() { res, _ := deliver(c, intentMsg("1", "")); first <- res }()
	<-started
	// A second intent waits for the only slot.
	second := make(chan consumer.ConsumeResult, 1)
	go func() { res, _ := deliver(c, intentMsg("2", "")); second <- res }()

	done := make(chan error, 1)
	go func() { done <- c.Shutdown(context.Background()) }()
	select {
	case <-done:
		t.Fatal("Shutdown returned while a handler was running")
	case <-time.After(100 * time.Millisecond):
	}
	require.Zero(t, f.shutdowns.Load(), "client kept until handlers finish, so their acknowledgements are committed")

	close(release)
	require.NoError(t, <-done)
	require.Equal(t, consumer.ConsumeSuccess, <-first)
	require.Equal(t, consumer.ConsumeRetryLater, <-second, "the waiting intent is not started")
	require.Equal(t, int32(1), handled.Load())
	require.Equal(t, int32(1), f.shutdowns.Load())

	// After shutdown nothing starts, and nothing blocks.
	res, _ := deliver(c, intentMsg("3", ""))
	require.Equal(t, consumer.ConsumeRetryLater, res)
	require.Equal(t, int32(1), handled.Load())
	require.NoError(t, c.Shutdown(context.Background()), "idempotent")
	require.Equal(t, int32(1), f.shutdowns.Load())
	require.Error(t, c.Start(), "no start after shutdown")
}

func TestConsumerShutdownHoldsDeliveriesUntilClientStops(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	release := make(chan struct{})
	started := make(chan struct{})
	c, f := newTestConsumer(t, 2, 0, func(ctx context.Context, in domain.Intent) error {
		close(started)
		<-release
		return nil
	})
	require.NoError(t, c.Start())
	go deliver(c, intentMsg("1", ""))
	<-started
	done := make(chan error, 1)
	go func() { done <- c.Shutdown(context.Background()) }()
	require.Eventually(t, func() bool {
		select {
		case <-c.closing:
			return true
		default:
			return false
		}
	}, time.Second, time.Millisecond)

	// Delivered during shutdown, with a slot free: held back, unstarted,
	// until the client is down (which then discards the result).
	late := make(chan consumer.ConsumeResult, 1)
	go func() { res, _ := deliver(c, intentMsg("2", "")); late <- res }()
	select {
	case <-late:
		t.Fatal("a delivery during shutdown returned before the client stopped")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	require.NoError(t, <-done)
	require.Equal(t, consumer.ConsumeRetryLater, <-late)
	require.Equal(t, int32(1), f.shutdowns.Load())
}

func TestConsumerShutdownCancelsHandlersAtDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	started := make(chan struct{})
	var finished atomic.Bool
	c, f := newTestConsumer(t, 1, 0, func(ctx context.Context, _ domain.Intent) error {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // records its outcome, as the runner does
		finished.Store(true)
		return ctx.Err()
	})
	require.NoError(t, c.Start())
	result := make(chan consumer.ConsumeResult, 1)
	go func() { res, _ := deliver(c, intentMsg("1", "")); result <- res }()
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "running handlers cancelled")
	require.True(t, finished.Load(), "Shutdown waits for cancelled handlers to return")
	require.Equal(t, consumer.ConsumeRetryLater, <-result)
	require.Equal(t, int32(1), f.shutdowns.Load())
}

func TestConsumerStart(t *testing.T) {
	c, f := newTestConsumer(t, 1, 0, func(context.Context, domain.Intent) error { return nil })
	f.startErr = errors.New("the topic=t route info not found, it may not exist")
	err := c.Start()
	require.ErrorContains(t, err, "start rocketmq consumer of group dc-workers on topic dc-task-intents: the topic=t route info not found")
	require.Equal(t, err, c.Start(), "fails for good")
	require.Equal(t, int32(1), f.starts.Load())
	require.NoError(t, c.Shutdown(context.Background()))
	require.Zero(t, f.shutdowns.Load(), "a client that failed to start is not shut down (the client would panic)")
}

func TestNewConsumerRejects(t *testing.T) {
	_, err := NewConsumer(Config{NameServer: "127.0.0.1:9876"}, nil, slog.Default())
	require.ErrorContains(t, err, "handler is nil")
	_, err = NewConsumer(Config{}, func(context.Context, domain.Intent) error { return nil }, slog.Default())
	require.ErrorContains(t, err, "name server is required")
}
