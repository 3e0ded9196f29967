package domain_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

type schedEnv struct {
	store  *fakeStore
	sender *fakeSender
	files  *fakeFiles
	clock  *fakeClock
	sched  *domain.Scheduler
}

func newSchedEnv() *schedEnv {
	e := &schedEnv{store: newFakeStore(), sender: &fakeSender{}, files: newFakeFiles(), clock: newFakeClock()}
	e.sched = e.scheduler()
	return e
}

// scheduler is one replica over the env's store, sender and files.
func (e *schedEnv) scheduler() *domain.Scheduler {
	return &domain.Scheduler{
		Store: e.store, Sender: e.sender, Files: e.files,
		Retry:       domain.RetryPolicy{MaxAttempts: 3, Backoff: 30 * time.Second, MaxBackoff: time.Hour},
		UnsentAfter: 2 * time.Second, TempMaxAge: 6 * time.Hour,
		Batch: 100, Now: e.clock.Now, Log: discardLog,
	}
}

func (e *schedEnv) put(edit func(*domain.Task)) int64 {
	t := &domain.Task{
		Name: "x", Type: "orders", Format: domain.FormatXLSX, Status: notExecuted, RowsTotal: -1,
		CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour), IntentSentAt: ptr(t0.Add(-time.Hour)),
	}
	edit(t)
	return e.store.put(t)
}

func failedAt(next *time.Time) func(*domain.Task) {
	return func(t *domain.Task) {
		t.Status, t.Attempts, t.WorkerID, t.Error, t.NextAttemptAt = failed, 1, "w1", "upstream 503", next
		t.Permanent = next == nil
	}
}

func runningUntil(lease time.Time, attempts int) func(*domain.Task) {
	return func(t *domain.Task) {
		t.Status, t.Attempts, t.WorkerID, t.LeaseUntil = executing, attempts, "w-dead", &lease
	}
}

func waitingSince(updated time.Time, sent *time.Time) func(*domain.Task) {
	return func(t *domain.Task) { t.UpdatedAt, t.IntentSentAt = updated, sent }
}

func (e *schedEnv) sweep(t *testing.T) {
	t.Helper()
	require.NoError(t, e.sched.Sweep(context.Background()))
}

func TestSweepRetriesDueFailures(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	due := e.put(failedAt(ptr(t0.Add(-time.Second))))
	dueNow := e.put(failedAt(ptr(t0)))
	notYet := e.put(failedAt(ptr(t0.Add(time.Second))))
	permanent := e.put(failedAt(nil))
	cancelledTask := e.put(func(t *domain.Task) {
		t.Status, t.NextAttemptAt = cancelled, ptr(t0.Add(-time.Hour))
	})
	e.sweep(t)

	for _, id := range []int64{due, dueNow} {
		got := e.store.task(id)
		require.Equal(t, notExecuted, got.Status, id)
		require.Nil(t, got.NextAttemptAt)
		require.Equal(t, ptr(t0), got.IntentSentAt, "sent and recorded")
		require.Equal(t, 1, got.Attempts, "the claim counts the next attempt")
		require.Equal(t, []string{"retry_due"}, e.store.eventNames(id))
	}
	for _, id := range []int64{notYet, permanent, cancelledTask} {
		require.Empty(t, e.store.eventNames(id), id)
	}
	require.Equal(t, failed, e.store.task(notYet).Status)
	require.Equal(t, map[int64]int{due: 1, dueNow: 1}, e.sender.perTask())
	for _, in := range e.sender.intents() {
		require.Equal(t, "orders", in.Type)
	}

	// Nothing is due any more.
	e.sweep(t)
	require.Equal(t, map[int64]int{due: 1, dueNow: 1}, e.sender.perTask())

	// Until the clock reaches the next one.
	e.clock.Advance(time.Second)
	e.sweep(t)
	require.Equal(t, map[int64]int{due: 1, dueNow: 1, notYet: 1}, e.sender.perTask())
}

// A lapsed lease FAILS the attempt with the retry backoff, as any failed
// attempt: a task that crashed its worker (OOM, a fatal error) was
// requeued and re-sent at once, taking worker after worker down.
func TestSweepRescuesExpiredLeases(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	first := e.put(runningUntil(t0.Add(-time.Second), 1))
	second := e.put(runningUntil(t0.Add(-time.Minute), 2))
	last := e.put(runningUntil(t0.Add(-time.Second), 3))
	leaseNow := e.put(runningUntil(t0, 1))
	alive := e.put(runningUntil(t0.Add(30*time.Second), 1))
	e.sweep(t)

	for _, id := range []int64{first, second} {
		got := e.store.task(id)
		require.Equal(t, failed, got.Status, id)
		require.False(t, got.Permanent)
		require.Nil(t, got.LeaseUntil)
		require.NotNil(t, got.NextAttemptAt, "retried after the backoff")
		back := 30 * time.Second << (got.Attempts - 1)
		require.WithinRange(t, *got.NextAttemptAt, t0.Add(back*8/10), t0.Add(back*12/10), "attempt %d", got.Attempts)
		require.Equal(t, fmt.Sprintf("worker w-dead stopped renewing its lease during attempt %d", got.Attempts), got.Error)
		require.Equal(t, []string{"rescue:fail"}, e.store.eventNames(id))
	}
	got := e.store.task(last)
	require.Equal(t, failed, got.Status, "no attempts left")
	require.Equal(t, "worker w-dead stopped renewing its lease during attempt 3", got.Error)
	require.Nil(t, got.NextAttemptAt, "not retried automatically")
	require.Nil(t, got.LeaseUntil)
	require.Equal(t, []string{"rescue:fail"}, e.store.eventNames(last))

	for _, id := range []int64{leaseNow, alive} {
		require.Equal(t, executing, e.store.task(id).Status, "the lease has not lapsed")
		require.Empty(t, e.store.eventNames(id))
	}
	require.Empty(t, e.sender.perTask(), "nothing is re-sent before its backoff")

	// Within the backoff nothing happens; after it, the rescued tasks are
	// retried once; the exhausted one never.
	e.clock.Advance(10 * time.Second)
	e.sweep(t)
	require.Empty(t, e.sender.perTask())
	e.clock.Advance(time.Hour)
	e.sweep(t)
	require.Equal(t, []string{"rescue:fail"}, e.store.eventNames(last))
	require.Equal(t, []string{"rescue:fail", "retry_due"}, e.store.eventNames(first))
	require.Equal(t, 1, e.sender.perTask()[first])
	require.Equal(t, 1, e.sender.perTask()[second])
}

// A user asked to cancel a running task and its worker died before it
// saw the request. The scheduler requeues the task like any other, the
// store clears the flag (a requeued task starts afresh) and the task runs
// again although the user cancelled it. Fix in Scheduler.rescue:
//
//   - requeue := t.Attempts < s.Retry.MaxAttempts
//   - requeue := t.Attempts < s.Retry.MaxAttempts && !t.CancelRequested
//
// (better still, a Rescue that can end in CANCELLED: that needs the port
// to say so, since Transition "cancel_running" is the owner's).
func TestSweepDoesNotRequeueTaskWhoseCancelWasRequested(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	id := e.put(func(t *domain.Task) {
		runningUntil(t0.Add(-time.Second), 1)(t)
		t.CancelRequested = true
	})
	e.sweep(t)
	require.NotEqual(t, notExecuted, e.store.task(id).Status, "must not run again")
	require.Empty(t, e.sender.intents())
}

func TestSweepResendsUnsentIntents(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	lost := e.put(waitingSince(t0.Add(-3*time.Second), nil))
	justCreated := e.put(waitingSince(t0.Add(-time.Second), nil))
	boundary := e.put(waitingSince(t0.Add(-2*time.Second), nil))
	staleSend := e.put(waitingSince(t0.Add(-11*time.Minute), ptr(t0.Add(-11*time.Minute))))
	recentSend := e.put(waitingSince(t0.Add(-9*time.Minute), ptr(t0.Add(-9*time.Minute))))
	running := e.put(func(t *domain.Task) {
		runningUntil(t0.Add(time.Hour), 1)(t)
		t.IntentSentAt = nil
	})
	e.sweep(t)

	// Regression: a waiting task whose intent is in flight (sent, not yet
	// claimed) was sent again every 10 minutes: duplicates under a backlog.
	require.Equal(t, map[int64]int{lost: 1}, e.sender.perTask())
	require.Equal(t, ptr(t0), e.store.task(lost).IntentSentAt)
	require.Equal(t, ptr(t0.Add(-11*time.Minute)), e.store.task(staleSend).IntentSentAt, "its intent is in flight")
	require.Nil(t, e.store.task(justCreated).IntentSentAt, "its create may still be sending it")
	require.Nil(t, e.store.task(boundary).IntentSentAt)
	require.Equal(t, ptr(t0.Add(-9*time.Minute)), e.store.task(recentSend).IntentSentAt)
	require.Nil(t, e.store.task(running).IntentSentAt)
	require.Empty(t, e.store.eventLog(), "sending is not a transition")

	// Sent once, not again at the next sweep; the others are due by then.
	e.clock.Advance(2 * time.Hour)
	e.sweep(t)
	require.Equal(t, map[int64]int{lost: 1, justCreated: 1, boundary: 1}, e.sender.perTask())
}

func TestSweepCleansStaleTempFiles(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.files.staleN = 2
	e.sweep(t)
	e.sweep(t)
	require.Equal(t, []time.Duration{6 * time.Hour, 6 * time.Hour}, e.files.state().Stale)

	e.files.staleErr = errors.New("permission denied")
	err := e.sched.Sweep(context.Background())
	require.ErrorContains(t, err, "remove stale temp files: permission denied")

	e.sched.Files = nil
	e.sweep(t)
}

func TestSweepGoesOnAfterAFailedJob(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	due := e.put(failedAt(ptr(t0.Add(-time.Second))))
	expired := e.put(runningUntil(t0.Add(-time.Second), 1))
	lost := e.put(waitingSince(t0.Add(-time.Minute), nil))

	e.store.dueErr = errors.New("due: deadlock")
	err := e.sched.Sweep(context.Background())
	require.ErrorContains(t, err, "list due retries: due: deadlock")
	require.Equal(t, failed, e.store.task(due).Status)
	require.Equal(t, []string{"rescue:fail"}, e.store.eventNames(expired), "the rescue ran")
	require.Equal(t, map[int64]int{lost: 1}, e.sender.perTask(), "the resend ran")
	require.Len(t, e.files.state().Stale, 1, "the clean-up ran")

	e.store.expiredErr = errors.New("expired: timeout")
	e.store.unsentErr = errors.New("unsent: timeout")
	e.files.staleErr = errors.New("stale: EIO")
	err = e.sched.Sweep(context.Background())
	for _, msg := range []string{"list due retries", "list expired leases", "list unsent tasks", "remove stale temp files"} {
		require.ErrorContains(t, err, msg)
	}
}

func TestSweepRetryStoreError(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.put(failedAt(ptr(t0.Add(-time.Second))))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := e.sched.Sweep(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, e.sender.intents())
}

// Two replicas sweep one store at once, many times over: thanks to the
// conditional updates every due retry and every rescue happens once, and
// each requeued task's intent goes out once.
func TestSweepConcurrentReplicas(t *testing.T) {
	t.Parallel()
	const rounds, due, expired, exhausted = 30, 15, 15, 5
	for round := range rounds {
		e := newSchedEnv()
		e.store.yield = true
		var retried, requeued, failedIDs []int64
		for range due {
			retried = append(retried, e.put(failedAt(ptr(t0.Add(-time.Second)))))
		}
		for range expired {
			requeued = append(requeued, e.put(runningUntil(t0.Add(-time.Second), 1)))
		}
		for range exhausted {
			failedIDs = append(failedIDs, e.put(runningUntil(t0.Add(-time.Second), 3)))
		}
		replicas := []*domain.Scheduler{e.scheduler(), e.scheduler(), e.scheduler()}
		var wg sync.WaitGroup
		errs := make(chan error, len(replicas)*3)
		for _, s := range replicas {
			wg.Go(func() {
				for range 3 {
					errs <- s.Sweep(context.Background())
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		events := map[int64][]string{}
		for _, ev := range e.store.eventLog() {
			events[ev.ID] = append(events[ev.ID], ev.Name)
		}
		want := map[int64][]string{}
		wantSent := map[int64]int{}
		for _, id := range retried {
			want[id] = []string{"retry_due"}
			wantSent[id] = 1
		}
		for _, id := range requeued {
			want[id] = []string{"rescue:fail"} // due again after the backoff
		}
		for _, id := range failedIDs {
			want[id] = []string{"rescue:fail"}
		}
		require.Equal(t, want, events, "round %d: each task moved once", round)
		require.Equal(t, wantSent, e.sender.perTask(), "round %d: each intent sent once", round)
	}
}

func TestSweepFailingSenderIsRetriedLater(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	due := e.put(failedAt(ptr(t0.Add(-time.Second))))
	due2 := e.put(failedAt(ptr(t0.Add(-2 * time.Second))))
	e.sender.fail(errors.New("broker down"))

	lost := e.put(waitingSince(t0.Add(-time.Minute), nil))
	e.sweep(t) // a send failure is logged, not returned
	for _, id := range []int64{due, due2} {
		got := e.store.task(id)
		require.Equal(t, notExecuted, got.Status, "the moves happen all the same")
		require.Nil(t, got.IntentSentAt, "not confirmed sent")
	}
	require.Equal(t, 1, e.sender.sendAttempts(), "after one failure the sweep stops sending")

	// Right after, the requeued tasks are too fresh to resend; the old one
	// is tried again at every sweep.
	e.sweep(t)
	require.Equal(t, 2, e.sender.sendAttempts())
	require.Empty(t, e.sender.intents())

	// Once UnsentAfter has passed, the next sweep sends them.
	e.clock.Advance(3 * time.Second)
	e.sender.fail(nil)
	e.sweep(t)
	require.Equal(t, map[int64]int{due: 1, due2: 1, lost: 1}, e.sender.perTask())
	for _, id := range []int64{due, due2, lost} {
		require.Equal(t, ptr(t0.Add(3*time.Second)), e.store.task(id).IntentSentAt)
	}
	require.Equal(t, []string{"retry_due"}, e.store.eventNames(due), "still one retry")
	require.Equal(t, []string{"retry_due"}, e.store.eventNames(due2), "still one retry")
}

func TestSweepMarkSentFailure(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	lost := e.put(waitingSince(t0.Add(-time.Minute), nil))
	e.store.markSentErr = errors.New("db blip")
	e.sweep(t)
	require.Equal(t, map[int64]int{lost: 1}, e.sender.perTask(), "sent")
	require.Nil(t, e.store.task(lost).IntentSentAt, "but not recorded: it is sent again later")
}

func TestSchedulerRun(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.sched.Run(ctx, time.Millisecond)
	}()
	require.True(t, eventually(func() bool { return len(e.files.state().Stale) >= 3 }), "it sweeps at once, then every interval")
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestResendWaiting(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 3, 6, 8} {
		t.Run(fmt.Sprint(n, " waiting"), func(t *testing.T) {
			t.Parallel()
			e := newSchedEnv()
			e.sched.Batch = 3
			want := map[int64]int{}
			for i := range n {
				switch i % 3 {
				case 0: // never sent
					want[e.put(waitingSince(t0.Add(-time.Minute), nil))] = 1
				case 1: // sent by the previous process a moment ago
					want[e.put(waitingSince(t0.Add(-time.Minute), ptr(t0.Add(-time.Second))))] = 1
				case 2: // created just now
					want[e.put(waitingSince(t0, nil))] = 1
				}
			}
			e.put(runningUntil(t0.Add(time.Minute), 1))
			e.put(failedAt(ptr(t0.Add(-time.Minute))))
			e.put(func(t *domain.Task) { t.Status = succeeded })

			require.NoError(t, e.sched.ResendWaiting(context.Background()))
			if n == 0 {
				require.Empty(t, e.sender.intents())
			} else {
				require.Equal(t, want, e.sender.perTask(), "every waiting task once")
			}
			for id := range want {
				require.Equal(t, ptr(t0), e.store.task(id).IntentSentAt)
			}
			e.store.mu.Lock()
			calls := e.store.unsentCall
			e.store.mu.Unlock()
			require.Equal(t, n/3+1, calls, "pages of Batch, until a short page")
			require.Empty(t, e.store.eventLog(), "nothing moved: the failed task waits for the sweep")
		})
	}
}

func TestResendWaitingStopsWhenTheQueueRefuses(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.sched.Batch = 2
	var ids []int64
	for range 5 {
		ids = append(ids, e.put(waitingSince(t0.Add(-time.Minute), nil)))
	}
	e.sender.fail(errors.New("queue closed"))
	require.NoError(t, e.sched.ResendWaiting(context.Background()), "the sweep retries later")
	require.Equal(t, 1, e.sender.sendAttempts(), "no point trying the others")
	for _, id := range ids {
		require.Nil(t, e.store.task(id).IntentSentAt)
	}
}

func TestResendWaitingStoreError(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.store.unsentErr = errors.New("no db")
	require.ErrorContains(t, e.sched.ResendWaiting(context.Background()), "list waiting tasks: no db")
}

// A task that leaves the queue between its send and MarkSent (a worker
// claimed it, a user cancelled it) was sent all the same: ResendWaiting
// goes on with the others.
func TestResendWaitingWhenTasksAreClaimedAsSent(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.sched.Batch = 2
	want := map[int64]int{}
	for range 5 {
		want[e.put(waitingSince(t0.Add(-time.Minute), ptr(t0.Add(-time.Second))))] = 1
	}
	// A worker claims each task as soon as its intent is out.
	e.sender.onSend = func(in domain.Intent) {
		_, _ = e.store.Claim(context.Background(), in.TaskID, "w1", t0, t0.Add(time.Minute))
	}
	require.NoError(t, e.sched.ResendWaiting(context.Background()))
	require.Equal(t, want, e.sender.perTask(), "every waiting task is sent")
}

// When MarkSent fails, the task is listed again: ResendWaiting says so
// instead of sending it in a loop.
func TestResendWaitingMarkSentFailure(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.sched.Batch = 2
	for range 5 {
		e.put(waitingSince(t0.Add(-time.Minute), nil))
	}
	e.store.markSentErr = errors.New("db blip")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.sched.ResendWaiting(ctx)
	require.NoError(t, ctx.Err(), "it must not loop")
	require.ErrorContains(t, err, "task 1 was not recorded as sent")
	require.Equal(t, map[int64]int{1: 1, 2: 1}, e.sender.perTask(), "each sent once")
}

// ResendWaiting takes a page starting at or below the last id it sent for
// "MarkSent failed" and gives up with an error. But an older task can
// join the waiting ones while it pages: a user retries task 1 (failed in
// the previous process) and its own send is still under way, or was
// skipped because the queue failed moments ago. The tasks after the page
// are then never resent at start. Fix: remember what was tried and fail
// only on a page with nothing new:
//
//   - var last int64
//   - tried := map[int64]bool{}
//     for {
//     ts, err := s.Store.Unsent(ctx, start.Add(time.Second), start, s.Batch)
//     ...
//   - if len(ts) > 0 && ts[0].ID <= last {
//   - return fmt.Errorf(...)
//   - }
//   - fresh := 0
//     for _, t := range ts {
//   - last = t.ID
//   - if tried[t.ID] {
//   - continue
//   - }
//   - tried[t.ID], fresh = true, fresh+1
//     if !emit(ctx, s.Store, s.Sender, s.Now, s.Log, t) {
//     return nil
//     }
//     }
//     if len(ts) < s.Batch {
//     return nil
//     }
//   - if fresh == 0 {
//   - return fmt.Errorf("resend waiting tasks: task %d was not recorded as sent", ts[0].ID)
//   - }
//     }
func TestResendWaitingWhenAnOlderTaskJoins(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.sched.Batch = 2
	old := e.put(failedAt(ptr(t0.Add(time.Hour))))
	want := map[int64]int{}
	for range 5 {
		want[e.put(waitingSince(t0.Add(-time.Minute), ptr(t0.Add(-time.Second))))] = 1
	}
	e.sender.onSend = func(in domain.Intent) {
		if in.TaskID == old+1 { // meanwhile a user retries the old task
			require.NoError(t, e.store.Retry(context.Background(), old, false, t0))
		}
	}
	require.NoError(t, e.sched.ResendWaiting(context.Background()))
	for id := range want {
		require.Equal(t, 1, e.sender.perTask()[id], "task %d", id)
	}
}

func TestSweepMoveStoreErrors(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	due := e.put(failedAt(ptr(t0.Add(-time.Second))))
	expired := e.put(runningUntil(t0.Add(-time.Second), 1))
	e.store.flaky["retry_due"] = 1
	e.store.flaky["rescue:fail"] = 1
	err := e.sched.Sweep(context.Background())
	require.ErrorIs(t, err, errBadConn)
	require.ErrorContains(t, err, fmt.Sprintf("retry task %d", due))
	require.ErrorContains(t, err, fmt.Sprintf("rescue task %d", expired))
	require.Empty(t, e.sender.intents())

	e.sweep(t) // the next sweep does both
	require.Equal(t, map[int64]int{due: 1}, e.sender.perTask())
	require.Equal(t, []string{"rescue:fail"}, e.store.eventNames(expired))
}

// Regression: a database that stopped answering stalled a sweep (and so
// the scheduler) for as long as the connection hung. A sweep has a
// deadline; the next sweep starts afresh.
func TestSweepHasADeadline(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	e.sched.SweepTimeout = 50 * time.Millisecond
	e.store.hangDue = true
	start := time.Now()
	err := e.sched.Sweep(context.Background())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}
