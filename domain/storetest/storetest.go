// Package storetest is the conformance suite of domain's task store: the
// behaviour the Runner, the Scheduler and the use cases rely on, checked
// through the ports only. The SQL store (SQLite and MySQL) and the domain
// tests' in-memory fake both run it, so the fake cannot drift from the
// real store the domain suites stand in for. Part of it drives a real
// Runner and Scheduler over the store under test.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// Store is what the suite exercises.
type Store interface {
	domain.TaskStore
	domain.SweepStore
	domain.WaitingLister
	domain.ChangeStore
}

// T0 is the suite's start of time; stores are handed explicit times.
var T0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

// Run runs every conformance test on stores open makes, a fresh empty one
// per test.
func Run(t *testing.T, open func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"ClaimIsConditional", claimIsConditional},
		{"ClaimKeepsTheCountFromCreate", claimKeepsCount},
		{"OwnerConditionalUpdates", ownerConditionalUpdates},
		{"ReleaseGivesBackTheAttemptAndKeepsACancel", releaseKeepsCancel},
		{"CancelWaitingRunningAndFinal", cancelWaitingRunningAndFinal},
		{"RetryDueAndManual", retryDueAndManual},
		{"MarkSentConditions", markSentConditions},
		{"SweepQueries", sweepQueries},
		{"RescueIsConditional", rescueIsConditional},
		{"WaitingOldestFirst", waitingOldestFirst},
		{"ChangedSinceOldestChangeFirst", changedSince},
		{"RunnerSucceeds", runnerSucceeds},
		{"RunnerShutdownHandsBack", runnerShutdownHandsBack},
		{"SchedulerRescuesWithBackoffThenRetries", schedulerRescuesWithBackoff},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func newTask(name string) *domain.Task {
	return &domain.Task{
		Name: name, Type: "rows", Format: domain.FormatCSV, Params: json.RawMessage(`{"n":5}`),
		Columns: []domain.Column{{Field: "n", Header: "N"}},
		Status:  domain.StatusNotExecuted, RowsTotal: -1, CreatedAt: T0, UpdatedAt: T0,
	}
}

func create(t *testing.T, s Store) int64 {
	t.Helper()
	tk, err := s.Create(ctx, newTask("t"))
	require.NoError(t, err)
	require.Positive(t, tk.ID)
	return tk.ID
}

func get(t *testing.T, s Store, id int64) *domain.Task {
	t.Helper()
	tk, err := s.Get(ctx, id)
	require.NoError(t, err)
	return tk
}

// claim claims id for worker at T0+at with a one-minute lease.
func claim(t *testing.T, s Store, id int64, worker string, at time.Duration) domain.Owner {
	t.Helper()
	tk, err := s.Claim(ctx, id, worker, T0.Add(at), T0.Add(at+time.Minute))
	require.NoError(t, err)
	require.Equal(t, domain.StatusExecuting, tk.Status)
	require.Equal(t, worker, tk.WorkerID)
	return domain.Owner{TaskID: id, Worker: worker, Attempt: tk.Attempts}
}

func ids(ts []*domain.Task) []int64 {
	out := make([]int64, len(ts))
	for i, tk := range ts {
		out[i] = tk.ID
	}
	return out
}

func claimIsConditional(t *testing.T, s Store) {
	id := create(t, s)
	o := claim(t, s, id, "w1", 0)
	require.Equal(t, 1, o.Attempt)
	tk := get(t, s, id)
	require.True(t, tk.LeaseUntil.Equal(T0.Add(time.Minute)))
	require.NotNil(t, tk.StartedAt)
	_, err := s.Claim(ctx, id, "w2", T0, T0.Add(time.Minute))
	require.ErrorIs(t, err, domain.ErrLostRace, "one winner")
	_, err = s.Claim(ctx, 987654, "w2", T0, T0.Add(time.Minute))
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = s.Get(ctx, 987654)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

// The total counted at create stays through the claim, for the first
// attempt's progress (Runner.countedAtCreate); a requeue forgets it.
func claimKeepsCount(t *testing.T, s Store) {
	nt := newTask("counted")
	nt.RowsTotal = 1234
	tk, err := s.Create(ctx, nt)
	require.NoError(t, err)
	require.EqualValues(t, 1234, get(t, s, tk.ID).RowsTotal)
	o := claim(t, s, tk.ID, "w1", 0)
	require.EqualValues(t, 1234, get(t, s, tk.ID).RowsTotal)
	require.NoError(t, s.Release(ctx, o, "shutting down", T0.Add(time.Second)))
	require.EqualValues(t, -1, get(t, s, tk.ID).RowsTotal)
}

func ownerConditionalUpdates(t *testing.T, s Store) {
	id := create(t, s)
	me := claim(t, s, id, "w1", 0)
	for _, o := range []domain.Owner{{TaskID: id, Worker: "w2", Attempt: 1}, {TaskID: id, Worker: "w1", Attempt: 0}} {
		_, err := s.Heartbeat(ctx, o, domain.Progress{RowsWritten: 1, LeaseUntil: T0.Add(time.Hour)}, T0)
		require.ErrorIs(t, err, domain.ErrLostRace)
		require.ErrorIs(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f"}, T0), domain.ErrLostRace)
		require.ErrorIs(t, s.Fail(ctx, o, domain.Failure{Message: "x"}, T0), domain.ErrLostRace)
		require.ErrorIs(t, s.Release(ctx, o, "x", T0), domain.ErrLostRace)
		require.ErrorIs(t, s.CancelRunning(ctx, o, T0), domain.ErrLostRace)
	}
	cancel, err := s.Heartbeat(ctx, me, domain.Progress{RowsWritten: 3, RowsTotal: 5, LeaseUntil: T0.Add(2 * time.Minute)}, T0.Add(time.Second))
	require.NoError(t, err)
	require.False(t, cancel)
	tk := get(t, s, id)
	require.Equal(t, int64(3), tk.RowsWritten)
	require.True(t, tk.LeaseUntil.Equal(T0.Add(2*time.Minute)))

	_, err = s.Cancel(ctx, id, T0.Add(2*time.Second))
	require.NoError(t, err)
	cancel, err = s.Heartbeat(ctx, me, domain.Progress{RowsWritten: 4, LeaseUntil: T0.Add(3 * time.Minute)}, T0.Add(3*time.Second))
	require.NoError(t, err)
	require.True(t, cancel, "a cancel request reaches the owner")

	require.NoError(t, s.Succeed(ctx, me, domain.FileInfo{Name: "f.csv", Size: 10, Rows: 5, Sheets: 1}, T0.Add(4*time.Second)))
	tk = get(t, s, id)
	require.Equal(t, domain.StatusSuccess, tk.Status)
	require.Equal(t, "f.csv", tk.File.Name)
	require.Nil(t, tk.LeaseUntil)
	require.False(t, tk.CancelRequested)
	require.ErrorIs(t, s.Succeed(ctx, me, domain.FileInfo{Name: "f.csv"}, T0.Add(5*time.Second)), domain.ErrLostRace, "once")
}

func releaseKeepsCancel(t *testing.T, s Store) {
	id := create(t, s)
	o := claim(t, s, id, "w1", 0)
	require.NoError(t, s.Release(ctx, o, "shut down", T0.Add(time.Second)))
	tk := get(t, s, id)
	require.Equal(t, domain.StatusNotExecuted, tk.Status)
	require.Equal(t, 0, tk.Attempts, "a hand-back gives back its attempt")
	require.Nil(t, tk.IntentSentAt, "its intent must be sent again")
	require.Nil(t, tk.LeaseUntil)
	require.Equal(t, "shut down", tk.Error)

	o = claim(t, s, id, "w2", 2*time.Second)
	require.Equal(t, 1, o.Attempt)
	_, err := s.Cancel(ctx, id, T0.Add(3*time.Second))
	require.NoError(t, err)
	require.ErrorIs(t, s.Release(ctx, o, "shut down", T0.Add(4*time.Second)), domain.ErrLostRace, "a cancelled task must not run again")
	require.NoError(t, s.CancelRunning(ctx, o, T0.Add(4*time.Second)))
	require.Equal(t, domain.StatusCancelled, get(t, s, id).Status)
}

func cancelWaitingRunningAndFinal(t *testing.T, s Store) {
	waiting := create(t, s)
	tk, err := s.Cancel(ctx, waiting, T0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, domain.StatusCancelled, tk.Status)

	running := create(t, s)
	claim(t, s, running, "w", 0)
	tk, err = s.Cancel(ctx, running, T0.Add(time.Second))
	require.NoError(t, err)
	require.Equal(t, domain.StatusExecuting, tk.Status)
	require.True(t, tk.CancelRequested)

	retrying := create(t, s)
	o := claim(t, s, retrying, "w", 0)
	next := T0.Add(time.Hour)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "503", NextAttemptAt: &next}, T0.Add(time.Second)))
	tk, err = s.Cancel(ctx, retrying, T0.Add(2*time.Second))
	require.NoError(t, err)
	require.Equal(t, domain.StatusCancelled, tk.Status, "a FAILED task awaiting its retry is waiting")
	require.Nil(t, tk.NextAttemptAt)

	final := create(t, s)
	o = claim(t, s, final, "w", 0)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "bad", Permanent: true}, T0.Add(time.Second)))
	_, err = s.Cancel(ctx, final, T0.Add(2*time.Second))
	require.ErrorIs(t, err, domain.ErrLostRace)
	_, err = s.Cancel(ctx, 987654, T0)
	require.ErrorIs(t, err, domain.ErrNotFound)
}

func retryDueAndManual(t *testing.T, s Store) {
	id := create(t, s)
	o := claim(t, s, id, "w", 0)
	next := T0.Add(time.Minute)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "503", NextAttemptAt: &next}, T0.Add(time.Second)))
	require.ErrorIs(t, s.Retry(ctx, id, true, T0.Add(30*time.Second)), domain.ErrLostRace, "not due yet")
	require.NoError(t, s.Retry(ctx, id, true, T0.Add(time.Minute)))
	tk := get(t, s, id)
	require.Equal(t, domain.StatusNotExecuted, tk.Status)
	require.Equal(t, "503", tk.Error, "the automatic retry keeps the last error visible")
	require.Nil(t, tk.IntentSentAt)
	require.Nil(t, tk.NextAttemptAt)

	o = claim(t, s, id, "w", 2*time.Minute)
	require.Equal(t, 2, o.Attempt)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "bad", Permanent: true}, T0.Add(3*time.Minute)))
	require.ErrorIs(t, s.Retry(ctx, id, true, T0.Add(time.Hour)), domain.ErrLostRace, "a permanent failure is not due")
	require.NoError(t, s.Retry(ctx, id, false, T0.Add(time.Hour)), "a user may retry it")
	tk = get(t, s, id)
	require.Equal(t, domain.StatusNotExecuted, tk.Status)
	require.False(t, tk.Permanent)
	require.ErrorIs(t, s.Retry(ctx, id, false, T0.Add(time.Hour)), domain.ErrLostRace, "only FAILED or CANCELLED")
}

func markSentConditions(t *testing.T, s Store) {
	a, b, c := create(t, s), create(t, s), create(t, s)
	require.NoError(t, s.MarkSent(ctx, a, T0.Add(time.Second)))
	require.True(t, get(t, s, a).IntentSentAt.Equal(T0.Add(time.Second)))
	claim(t, s, b, "w", 0)
	require.ErrorIs(t, s.MarkSent(ctx, b, T0.Add(time.Second)), domain.ErrLostRace, "not waiting")
	require.ErrorIs(t, s.MarkSent(ctx, 987654, T0), domain.ErrNotFound)

	// c is handed back after its intent went out: that intent is spent.
	oc := claim(t, s, c, "w", 0)
	require.NoError(t, s.Release(ctx, oc, "shut down", T0.Add(2*time.Second)))
	marks := []domain.SentMark{{TaskID: b, At: T0.Add(time.Second)}, {TaskID: c, At: T0.Add(time.Second)}, {TaskID: 987654, At: T0}}
	require.NoError(t, s.MarkSentMany(ctx, marks))
	require.NoError(t, s.MarkSentMany(ctx, nil))
	require.Nil(t, get(t, s, b).IntentSentAt)
	require.Nil(t, get(t, s, c).IntentSentAt, "a task changed after the send stays unsent")
	require.NoError(t, s.MarkSentMany(ctx, []domain.SentMark{{TaskID: c, At: T0.Add(3 * time.Second)}}))
	require.True(t, get(t, s, c).IntentSentAt.Equal(T0.Add(3*time.Second)))
}

func sweepQueries(t *testing.T, s Store) {
	never := create(t, s)
	sent := create(t, s)
	require.NoError(t, s.MarkSent(ctx, sent, T0.Add(time.Second)))
	fresh, err := s.Create(ctx, func() *domain.Task { tk := newTask("fresh"); tk.UpdatedAt = T0.Add(time.Hour); return tk }())
	require.NoError(t, err)

	got, err := s.Unsent(ctx, T0.Add(time.Minute), time.Time{}, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{never}, ids(got), "zero sentBefore: only the never-sent, old enough")
	got, err = s.Unsent(ctx, T0.Add(2*time.Hour), T0.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{never, sent, fresh.ID}, ids(got))
	got, err = s.Unsent(ctx, T0.Add(2*time.Hour), T0.Add(time.Minute), 2)
	require.NoError(t, err)
	require.Len(t, got, 2, "bounded")

	late, early := create(t, s), create(t, s)
	claim(t, s, late, "w", 10*time.Second) // lease T0+70s
	claim(t, s, early, "w", 0)             // lease T0+60s
	exp, err := s.ExpiredLeases(ctx, T0.Add(65*time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{early}, ids(exp))
	exp, err = s.ExpiredLeases(ctx, T0.Add(80*time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{early, late}, ids(exp), "oldest lease first")

	f1, f2 := create(t, s), create(t, s)
	for i, id := range []int64{f1, f2} {
		o := claim(t, s, id, "w", 0)
		next := T0.Add(time.Duration(2-i) * time.Minute)
		require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "x", NextAttemptAt: &next}, T0))
	}
	due, err := s.DueRetries(ctx, T0.Add(90*time.Second), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{f2}, ids(due))
	due, err = s.DueRetries(ctx, T0.Add(2*time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []int64{f2, f1}, ids(due), "soonest due first")
}

func rescueIsConditional(t *testing.T, s Store) {
	id := create(t, s)
	o := claim(t, s, id, "w1", 0)
	f := domain.Failure{Message: "lease lapsed", NextAttemptAt: ptr(T0.Add(3 * time.Minute))}
	require.ErrorIs(t, s.Rescue(ctx, o, domain.StatusFailed, f, T0.Add(30*time.Second)), domain.ErrLostRace, "lease still held")
	require.NoError(t, s.Rescue(ctx, o, domain.StatusFailed, f, T0.Add(2*time.Minute)))
	require.ErrorIs(t, s.Rescue(ctx, o, domain.StatusFailed, f, T0.Add(2*time.Minute)), domain.ErrLostRace, "once")
	tk := get(t, s, id)
	require.Equal(t, domain.StatusFailed, tk.Status)
	require.Equal(t, "lease lapsed", tk.Error)
	require.False(t, tk.Permanent)
	require.True(t, tk.NextAttemptAt.Equal(T0.Add(3*time.Minute)))
	require.ErrorIs(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f"}, T0), domain.ErrLostRace, "the old owner cannot finish")

	c := create(t, s)
	oc := claim(t, s, c, "w1", 0)
	_, err := s.Cancel(ctx, c, T0.Add(time.Second))
	require.NoError(t, err)
	require.NoError(t, s.Rescue(ctx, oc, domain.StatusCancelled, domain.Failure{Message: "lapsed"}, T0.Add(2*time.Minute)))
	require.Equal(t, domain.StatusCancelled, get(t, s, c).Status)
}

func waitingOldestFirst(t *testing.T, s Store) {
	a, b, c := create(t, s), create(t, s), create(t, s)
	claim(t, s, a, "w", 0)
	got, err := s.Waiting(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{b, c}, got)
	got, err = s.Waiting(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, []int64{b}, got)
}

// changedSince: the change feed's query sees every status change and
// heartbeat by its UpdatedAt, oldest first, from a time on, bounded.
func changedSince(t *testing.T, s Store) {
	a, b, c := create(t, s), create(t, s), create(t, s)
	got, err := s.ChangedSince(ctx, T0, 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{a, b, c}, ids(got), "all created at T0: ties by id")
	got, err = s.ChangedSince(ctx, T0.Add(time.Microsecond), 0, 10) // the SQL stores keep microseconds
	require.NoError(t, err)
	require.Empty(t, got, "nothing changed after T0")

	o := claim(t, s, b, "w", 2*time.Second)
	_, err = s.Heartbeat(ctx, o, domain.Progress{RowsWritten: 3, RowsTotal: 5, LeaseUntil: T0.Add(time.Hour)}, T0.Add(4*time.Second))
	require.NoError(t, err)
	_, err = s.Cancel(ctx, a, T0.Add(3*time.Second))
	require.NoError(t, err)
	got, err = s.ChangedSince(ctx, T0.Add(time.Second), 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{a, b}, ids(got), "the cancel at +3s, then the heartbeat at +4s")
	require.Equal(t, int64(3), got[1].RowsWritten)
	require.True(t, got[1].UpdatedAt.Equal(T0.Add(4*time.Second)))
	got, err = s.ChangedSince(ctx, T0.Add(3500*time.Millisecond), 0, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{b}, ids(got))
	got, err = s.ChangedSince(ctx, T0, 0, 2)
	require.NoError(t, err)
	require.Equal(t, []int64{c, a}, ids(got), "bounded, oldest change first")
	got, err = s.ChangedSince(ctx, T0, a, 10)
	require.NoError(t, err)
	require.Equal(t, []int64{c, a, b}, ids(got), "keyset: after (T0, a) comes c at T0, then the later changes")
}

func ptr[T any](v T) *T { return &v }

// runnerEnv is a Runner over the store under test, with a provider of n
// rows (one a batch) and in-memory files.
type runnerEnv struct {
	runner *domain.Runner
	files  *memFiles
	prov   *rowsProvider
}

func newRunner(s Store, rows int) *runnerEnv {
	e := &runnerEnv{files: &memFiles{committed: map[string]int{}}, prov: &rowsProvider{rows: rows}}
	var mu sync.Mutex
	now := T0
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond) // every reading a little later
		return now
	}
	e.runner = &domain.Runner{
		Store: s, Providers: domain.Registry{"rows": e.prov}, Files: e.files,
		Writers: map[domain.Format]domain.SheetWriterFactory{domain.FormatCSV: newCountingWriter},
		Retry:   domain.RetryPolicy{MaxAttempts: 3, Backoff: time.Minute, Jitter: func() float64 { return 0.5 }},
		Worker:  "w1", BatchSize: 1, LeaseTTL: time.Minute, HeartbeatEvery: time.Hour,
		Now: clock, Log: slog.New(slog.DiscardHandler),
	}
	return e
}

func runnerSucceeds(t *testing.T, s Store) {
	e := newRunner(s, 4)
	id := create(t, s)
	require.NoError(t, e.runner.Run(ctx, domain.Intent{TaskID: id, Type: "rows"}))
	tk := get(t, s, id)
	require.Equal(t, domain.StatusSuccess, tk.Status)
	require.Equal(t, 1, tk.Attempts)
	require.Equal(t, int64(4), tk.File.Rows)
	require.Equal(t, 4, e.files.committed[tk.File.Name])
	// A duplicate intent is dropped.
	require.NoError(t, e.runner.Run(ctx, domain.Intent{TaskID: id, Type: "rows"}))
	require.Equal(t, 1, get(t, s, id).Attempts)
}

func runnerShutdownHandsBack(t *testing.T, s Store) {
	e := newRunner(s, 10)
	id := create(t, s)
	runCtx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	e.prov.onFetch = func(ctx context.Context, call int) error {
		if call == 3 {
			shutdown()
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	require.NoError(t, e.runner.Run(runCtx, domain.Intent{TaskID: id, Type: "rows"}))
	tk := get(t, s, id)
	require.Equal(t, domain.StatusNotExecuted, tk.Status)
	require.Equal(t, 0, tk.Attempts, "a graceful hand-back does not use up an attempt")
	require.Nil(t, tk.IntentSentAt)
	require.Empty(t, e.files.committed)
}

func schedulerRescuesWithBackoff(t *testing.T, s Store) {
	id := create(t, s)
	claim(t, s, id, "w-dead", 0) // lease until T0+1m
	sent := &recordingSender{}
	now := T0.Add(2 * time.Minute)
	sched := &domain.Scheduler{
		Store: s, Sender: sent, Retry: domain.RetryPolicy{MaxAttempts: 3, Backoff: time.Minute, Jitter: func() float64 { return 0.5 }},
		UnsentAfter: 2 * time.Second, Batch: 10, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler),
	}
	require.NoError(t, sched.Sweep(ctx))
	tk := get(t, s, id)
	require.Equal(t, domain.StatusFailed, tk.Status)
	require.NotNil(t, tk.NextAttemptAt)
	require.True(t, tk.NextAttemptAt.Equal(now.Add(time.Minute)), "backoff applied: %v", tk.NextAttemptAt)
	require.Empty(t, sent.ids(), "not re-sent at once")

	now = now.Add(61 * time.Second)
	require.NoError(t, sched.Sweep(ctx))
	require.Equal(t, domain.StatusNotExecuted, get(t, s, id).Status)
	require.Equal(t, []int64{id}, sent.ids(), "retried after the backoff")
	require.NotNil(t, get(t, s, id).IntentSentAt)
}

type recordingSender struct {
	mu   sync.Mutex
	sent []int64
}

func (r *recordingSender) Send(_ context.Context, in domain.Intent) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, in.TaskID)
	return nil
}

func (r *recordingSender) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.sent...)
}

// rowsProvider yields rows one int field each, one per batch.
type rowsProvider struct {
	rows    int
	mu      sync.Mutex
	calls   int
	onFetch func(ctx context.Context, call int) error
}

func (p *rowsProvider) Fields() []domain.Field {
	return []domain.Field{{Name: "n", Header: "N", Kind: domain.KindInt}}
}

func (p *rowsProvider) Validate(map[string]any) error { return nil }

func (p *rowsProvider) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	p.mu.Lock()
	p.calls++
	call, hook := p.calls, p.onFetch
	p.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, call); err != nil {
			return domain.Batch{}, err
		}
	}
	var after int
	if req.Cursor != "" {
		if _, err := fmt.Sscan(req.Cursor, &after); err != nil {
			return domain.Batch{}, domain.Permanent(err)
		}
	}
	if after >= p.rows {
		return domain.Batch{Done: true}, nil
	}
	next := after + 1
	return domain.Batch{Rows: [][]any{{int64(next)}}, NextCursor: fmt.Sprint(next), Done: next == p.rows}, nil
}

// countingWriter counts rows and writes one line each.
type countingWriter struct{ w io.Writer }

func newCountingWriter(w io.Writer, _ []domain.SheetColumn) (domain.SheetWriter, error) {
	return &countingWriter{w: w}, nil
}

func (c *countingWriter) WriteRow(v []any) error { _, err := fmt.Fprintln(c.w, v...); return err }
func (c *countingWriter) Close() (int, error)    { return 1, nil }
func (c *countingWriter) Abort() error           { return nil }

// memFiles is an in-memory FileStore; committed maps names to lines.
type memFiles struct {
	mu        sync.Mutex
	committed map[string]int
}

type memPending struct {
	f    *memFiles
	name string
	buf  strings.Builder
}

func (f *memFiles) Create(name string) (domain.PendingFile, error) {
	return &memPending{f: f, name: name}, nil
}

func (p *memPending) Write(b []byte) (int, error) { return p.buf.Write(b) }

func (p *memPending) Commit() (int64, error) {
	p.f.mu.Lock()
	defer p.f.mu.Unlock()
	p.f.committed[p.name] = strings.Count(p.buf.String(), "\n")
	return int64(p.buf.Len()), nil
}

func (p *memPending) Abort() error { return nil }

func (f *memFiles) Open(string) (io.ReadSeekCloser, time.Time, error) {
	return nil, time.Time{}, errors.New("not kept")
}

func (f *memFiles) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.committed, name)
	return nil
}

func (f *memFiles) RemoveStaleTemp(time.Duration) (int, error) { return 0, nil }
