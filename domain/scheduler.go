package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// SchedulerStore is what the scheduler reads and changes.
type SchedulerStore interface {
	SweepStore
	Retry(ctx context.Context, id int64, dueOnly bool, now time.Time) error
	MarkSent(ctx context.Context, id int64, at time.Time) error
}

// Scheduler is the seed's scheduled job, made safe to run in any number of
// replicas at once: each action is a conditional update, so when two
// replicas pick the same task one wins and the other changes nothing.
type Scheduler struct {
	Store  SchedulerStore
	Sender IntentSender
	Files  FileStore
	Retry  RetryPolicy
	// UnsentAfter is how long a task may wait with no confirmed intent
	// before it is sent again (the create or retry that should have sent
	// it died, or the broker was down).
	UnsentAfter time.Duration
	// TempMaxAge is the age after which a temporary file is an orphan.
	TempMaxAge time.Duration
	// Retention deletes expired files and tasks; nil keeps everything.
	Retention *Retention
	// Batch bounds how many tasks one sweep handles of each kind.
	Batch int
	// SweepTimeout bounds one sweep, so a database that stops answering
	// (a half-open connection) cannot stall the scheduler; zero means one
	// minute.
	SweepTimeout time.Duration
	Now          Clock
	Log          *slog.Logger
	// Stats, when set with Observe, is read once per sweep for the backlog
	// gauges: one query per interval per replica.
	Stats StatsStore
	// Observe hears rescues, failed sends and the stats; nil means none.
	Observe SchedulerObserver

	// queueDown is set when a send fails during a sweep: the rest of the
	// sweep sends nothing, instead of waiting out one timeout per task.
	// Sweeps of one Scheduler never overlap (Run calls them in turn), so it
	// needs no lock.
	queueDown bool
}

// Run sweeps every interval until ctx ends.
func (s *Scheduler) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("scheduler sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep runs one pass of every job: due retries, lapsed leases, unsent
// intents and orphaned temp files. It goes on after a failed job and
// returns the errors joined.
func (s *Scheduler) Sweep(ctx context.Context) error {
	timeout := s.SweepTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	s.queueDown = false
	errs := errors.Join(s.retryDue(ctx), s.rescue(ctx), s.resend(ctx), s.cleanTemp())
	if s.Retention != nil {
		errs = errors.Join(errs, s.Retention.Sweep(ctx))
	}
	return errors.Join(errs, s.observeStats(ctx))
}

func (s *Scheduler) observeStats(ctx context.Context) error {
	if s.Stats == nil || s.Observe == nil {
		return nil
	}
	st, err := s.Stats.Stats(ctx)
	if err != nil {
		return fmt.Errorf("read task stats: %w", err)
	}
	s.Observe.TaskStats(st)
	return nil
}

// send emits t's intent unless the queue already failed in this sweep;
// an unsent task is picked up by a later sweep.
func (s *Scheduler) send(ctx context.Context, t *Task) {
	if s.queueDown {
		return
	}
	if !emit(ctx, s.Store, s.Sender, s.Now, s.Log, t) {
		s.queueDown = true
		if s.Observe != nil {
			s.Observe.IntentSendFailed()
		}
	}
}

func (s *Scheduler) retryDue(ctx context.Context) error {
	now := s.Now()
	ts, err := s.Store.DueRetries(ctx, now, s.Batch)
	if err != nil {
		return fmt.Errorf("list due retries: %w", err)
	}
	for _, t := range ts {
		if err := s.Store.Retry(ctx, t.ID, true, now); err != nil {
			if errors.Is(err, ErrLostRace) {
				continue // another replica, or a user, moved it first
			}
			return fmt.Errorf("retry task %d: %w", t.ID, err)
		}
		s.Log.Info("retrying task", "task_id", t.ID, "attempt", t.Attempts+1)
		s.send(ctx, t)
		// The failed attempt aborted its own upload unless the store was
		// unreachable then.
		s.discardAttemptFiles(ctx, t)
	}
	return nil
}

func (s *Scheduler) rescue(ctx context.Context) error {
	now := s.Now()
	ts, err := s.Store.ExpiredLeases(ctx, now, s.Batch)
	if err != nil {
		return fmt.Errorf("list expired leases: %w", err)
	}
	for _, t := range ts {
		o := Owner{TaskID: t.ID, Worker: t.WorkerID, Attempt: t.Attempts}
		f := Failure{Message: fmt.Sprintf("worker %s stopped renewing its lease during attempt %d", t.WorkerID, t.Attempts)}
		// A task whose cancel the dead worker never saw ends CANCELLED.
		// The rest FAIL with the retry policy's backoff, as any failed
		// attempt: a task that crashes its worker (OOM, a fatal error)
		// must not take worker after worker down at once. One that has had
		// all its attempts stays FAILED.
		to := StatusFailed
		if t.CancelRequested {
			to = StatusCancelled
		} else {
			f.NextAttemptAt = s.Retry.NextAttempt(t.Attempts, false, now)
		}
		if err := s.Store.Rescue(ctx, o, to, f, now); err != nil {
			if errors.Is(err, ErrLostRace) {
				continue
			}
			return fmt.Errorf("rescue task %d: %w", t.ID, err)
		}
		if s.Observe != nil {
			s.Observe.TaskRescued()
		}
		s.Log.Warn("rescued task from lapsed lease", "task_id", t.ID, "attempt", t.Attempts, "worker", t.WorkerID,
			"to", to, "next_attempt_at", f.NextAttemptAt)
		// The dead worker's unfinished upload (S3) or unrecorded file.
		s.discardAttemptFiles(ctx, t)
	}
	return nil
}

func (s *Scheduler) resend(ctx context.Context) error {
	now := s.Now()
	// Only tasks with no intent in flight: never sent, sent unconfirmed,
	// or handed back. A sent intent is not sent again however long it
	// waits: under a backlog that filled the topic with duplicates, and
	// one that is lost (dead-lettered, a broker losing messages) strands
	// nothing, since idle workers claim the oldest waiting task from the
	// database (IdleClaimer). Bounded by Batch per sweep and indexed.
	ts, err := s.Store.Unsent(ctx, now.Add(-s.UnsentAfter), time.Time{}, s.Batch)
	if err != nil {
		return fmt.Errorf("list unsent tasks: %w", err)
	}
	for _, t := range ts {
		s.Log.Info("sending intent again", "task_id", t.ID)
		s.send(ctx, t)
	}
	return nil
}

// ResendWaiting sends the intent of every waiting task again. The
// embedded mode calls it at start: its in-process queue did not survive
// the previous process.
func (s *Scheduler) ResendWaiting(ctx context.Context) error {
	start := s.Now()
	tried := map[int64]bool{}
	for {
		ts, err := s.Store.Unsent(ctx, start.Add(time.Second), start, s.Batch)
		if err != nil {
			return fmt.Errorf("list waiting tasks: %w", err)
		}
		fresh := 0
		for _, t := range ts {
			if tried[t.ID] {
				continue
			}
			tried[t.ID], fresh = true, fresh+1
			if !emit(ctx, s.Store, s.Sender, s.Now, s.Log, t) {
				return nil // the queue refuses: the sweep retries later
			}
		}
		if len(ts) < s.Batch {
			return nil
		}
		if fresh == 0 {
			return fmt.Errorf("resend waiting tasks: task %d was not recorded as sent", ts[0].ID)
		}
	}
}

func (s *Scheduler) cleanTemp() error {
	if s.Files == nil {
		return nil
	}
	n, err := s.Files.RemoveStaleTemp(s.TempMaxAge)
	if err != nil {
		return fmt.Errorf("remove stale temp files: %w", err)
	}
	if n > 0 {
		s.Log.Info("removed orphaned temp files", "count", n)
	}
	return nil
}
