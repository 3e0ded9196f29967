package domain

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// WaitingLister lists the oldest waiting tasks: the claimer's view of the
// backlog.
type WaitingLister interface {
	// Waiting returns the ids of up to limit NOT_EXECUTED tasks, oldest
	// first.
	Waiting(ctx context.Context, limit int) ([]int64, error)
}

// IdleClaimer keeps a worker's free slots busy from the database: the
// database is the truth of what waits, an intent only a wake-up. A slot
// that frees claims the oldest waiting task at once, and an idle worker
// looks every Every. So every worker of a fleet works while there is
// work, whichever broker queues it was given (a topic's queues cap how
// many consumers get intents at all), an intent held by a busy worker
// waits for nobody, and an intent lost or stranded by a rebalance strands
// no task. It shares Slots with the worker's intent consumer; claims are
// conditional updates, so the two (and other workers) never run a task
// twice.
type IdleClaimer struct {
	Runner *Runner
	Store  WaitingLister
	// Slots is the worker's slot semaphore, shared with its consumer: a
	// send takes a slot, a receive gives it back.
	Slots chan struct{}
	// Every is how often an idle worker looks for waiting tasks.
	Every time.Duration
	// Candidates is how many of the oldest waiting tasks one look tries
	// to claim, in order, so workers racing for the oldest still get one
	// each; zero means 16.
	Candidates int
	Log        *slog.Logger
}

// Run claims and runs tasks until stop ends, then waits for the tasks it
// started; they run with work, which the caller cancels after the grace
// so the runner hands them back.
func (c *IdleClaimer) Run(stop, work context.Context) {
	var running sync.WaitGroup
	defer running.Wait()
	idle := time.NewTimer(0)
	defer idle.Stop()
	// While the database fails, look less often (up to every 5 s) and log
	// once per change instead of at every look.
	backoff := c.Every
	failing := false
	for {
		// Wait out the idle interval, then for a free slot.
		select {
		case <-stop.Done():
			return
		case <-idle.C:
		}
		select {
		case <-stop.Done():
			return
		case c.Slots <- struct{}{}:
		}
		if stop.Err() != nil {
			<-c.Slots
			return
		}
		t, err := c.claimOldest(stop)
		if err != nil && stop.Err() == nil {
			if !failing {
				c.Log.Warn("look for waiting tasks; backing off", "err", err)
			}
			failing, backoff = true, min(2*backoff, max(5*time.Second, c.Every))
		} else if err == nil {
			if failing {
				c.Log.Info("looking for waiting tasks again")
			}
			failing, backoff = false, c.Every
		}
		if t == nil {
			<-c.Slots
			idle.Reset(backoff)
			continue
		}
		running.Go(func() {
			defer func() { <-c.Slots }()
			if err := c.Runner.execute(work, t, ""); err != nil {
				c.Log.Warn("run claimed task", "task_id", t.ID, "err", err)
			}
		})
		// Claimed one: look again as soon as a slot is free.
		idle.Reset(0)
	}
}

// claimOldest claims the oldest waiting task it can, or returns nil.
func (c *IdleClaimer) claimOldest(ctx context.Context) (*Task, error) {
	n := c.Candidates
	if n <= 0 {
		n = 16
	}
	ids, err := c.Store.Waiting(ctx, n)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		t, err := c.Runner.claim(ctx, id)
		switch {
		case err == nil:
			c.Runner.Log.Debug("claimed waiting task from the database", "task_id", id, "worker", c.Runner.Worker)
			return t, nil
		case errors.Is(err, ErrLostRace), errors.Is(err, ErrNotFound):
			continue // another worker was first
		default:
			return nil, err
		}
	}
	return nil, nil
}
