package domain_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func TestSentBatcherMarksCreatesInOneFlush(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	b := &domain.SentBatcher{Store: e.store, Every: time.Hour, Log: discardLog}
	e.tasks.Marks = b
	var ids []int64
	for range 3 {
		tk, created, err := e.tasks.Create(context.Background(), acme, validRequest())
		require.NoError(t, err)
		require.True(t, created)
		ids = append(ids, tk.ID)
		require.Nil(t, e.store.task(tk.ID).IntentSentAt, "not written until the flush")
	}
	require.Len(t, e.sender.intents(), 3)

	// One of them is claimed before the flush: its mark is skipped.
	_, err := e.store.Claim(context.Background(), ids[1], "w", t0, t0.Add(time.Minute))
	require.NoError(t, err)
	b.Flush(context.Background())
	require.NotNil(t, e.store.task(ids[0]).IntentSentAt)
	require.Nil(t, e.store.task(ids[1]).IntentSentAt)
	require.NotNil(t, e.store.task(ids[2]).IntentSentAt)
}

func TestSentBatcherRunFlushesOnTickAndOnStop(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	b := &domain.SentBatcher{Store: e.store, Every: 5 * time.Millisecond, Log: discardLog}
	e.tasks.Marks = b
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	tk, _, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return e.store.task(tk.ID).IntentSentAt != nil }, 2*time.Second, 5*time.Millisecond)

	// A mark queued just before stopping is written, by a tick or the
	// final flush.
	late, _, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err)
	cancel()
	<-done
	require.NotNil(t, e.store.task(late.ID).IntentSentAt)
}

func TestSentBatcherFailureLeavesTasksUnsent(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	b := &domain.SentBatcher{Store: e.store, Every: time.Hour, Log: discardLog}
	e.tasks.Marks = b
	tk, _, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err)
	e.store.mu.Lock()
	e.store.markSentErr = errors.New("database down")
	e.store.mu.Unlock()
	b.Flush(context.Background())
	require.Nil(t, e.store.task(tk.ID).IntentSentAt, "the scheduler's sweep will send it again")
}

// Regression: a task claimed and handed back within the flush window was
// marked sent by the flush although no intent was in flight, and waited
// for the re-send. Its mark is skipped now.
func TestSentBatcherSkipsATaskHandedBackBeforeTheFlush(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	b := &domain.SentBatcher{Store: e.store, Every: time.Hour, Log: discardLog}
	e.tasks.Marks = b
	tk, _, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err)
	e.clock.Advance(10 * time.Millisecond)
	c, err := e.store.Claim(context.Background(), tk.ID, "w", e.clock.Now(), e.clock.Now().Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, e.store.Release(context.Background(), domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: c.Attempts}, "shut down", e.clock.Now()))
	e.clock.Advance(50 * time.Millisecond)
	b.Flush(context.Background())
	require.Nil(t, e.store.task(tk.ID).IntentSentAt, "no intent is in flight: it must look unsent")
}
