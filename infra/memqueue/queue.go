// Package memqueue is the in-process intent queue of the embedded mode: the
// same asynchronous seam as RocketMQ (the API returns before the export
// runs), with no broker. Intents are lost when the process exits; the
// scheduler sends intents of waiting tasks again, so no task is.
package memqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// ErrClosed is returned by Send after Close.
var ErrClosed = errors.New("memqueue: closed")

// Queue is a bounded in-process queue of intents.
type Queue struct {
	ch         chan domain.Intent
	retryDelay time.Duration
	mu         sync.RWMutex
	closed     bool
}

// New returns a queue holding up to capacity intents; a Send to a full
// queue waits until its context ends. A handler error sends the intent
// again after retryDelay, as a broker's redelivery would.
func New(capacity int, retryDelay time.Duration) *Queue {
	return &Queue{ch: make(chan domain.Intent, capacity), retryDelay: retryDelay}
}

// Send enqueues an intent.
func (q *Queue) Send(ctx context.Context, in domain.Intent) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	select {
	case q.ch <- in:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("enqueue intent for task %d: %w", in.TaskID, ctx.Err())
	}
}

// Close stops accepting intents; Consume loops drain nothing more.
func (q *Queue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
}

// Len reports how many intents wait.
func (q *Queue) Len() int { return len(q.ch) }

// Consume runs slots handlers until stop ends, then waits for running
// handlers to return. Handlers get work, which the caller cancels when a
// shutdown grace period runs out.
func (q *Queue) Consume(stop, work context.Context, slots int, handle func(context.Context, domain.Intent) error, log *slog.Logger) {
	var wg sync.WaitGroup
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop.Done():
					return
				case in := <-q.ch:
					// select picks at random among ready cases: a stop that
					// came with intents queued must still take no more. The
					// intent is sent again at the next start.
					if stop.Err() != nil {
						return
					}
					if err := handle(work, in); err != nil {
						log.Warn("intent handler failed; redelivering", "task_id", in.TaskID, "err", err)
						q.redeliver(stop, in)
					}
				}
			}
		}()
	}
	wg.Wait()
}

func (q *Queue) redeliver(stop context.Context, in domain.Intent) {
	time.AfterFunc(q.retryDelay, func() {
		if stop.Err() != nil {
			return // the scheduler resends it after a restart
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = q.Send(ctx, in)
	})
}
