package domain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

type runnerEnv struct {
	store  *fakeStore
	files  *fakeFiles
	sheets *fakeSheets
	clock  *fakeClock
	runner *domain.Runner
}

// newRunnerEnv runs "orders" tasks from prov, 3 rows a batch, as worker
// w1 with 3 attempts a task. Heartbeats are off (hourly) unless a test
// shortens HeartbeatEvery.
func newRunnerEnv(prov domain.Provider) *runnerEnv {
	e := &runnerEnv{store: newFakeStore(), files: newFakeFiles(), sheets: &fakeSheets{perSheet: 3}, clock: newFakeClock()}
	e.runner = &domain.Runner{
		Store:     e.store,
		Providers: domain.Registry{"orders": prov},
		Files:     e.files,
		Writers: map[domain.Format]domain.SheetWriterFactory{
			domain.FormatXLSX: e.sheets.factory(), domain.FormatCSV: e.sheets.factory(),
		},
		Retry:          domain.RetryPolicy{MaxAttempts: 3, Backoff: 30 * time.Second, MaxBackoff: time.Hour, Jitter: fixedJitter(0.5)},
		Worker:         "w1",
		BatchSize:      3,
		LeaseTTL:       time.Minute,
		HeartbeatEvery: time.Hour,
		Now:            e.clock.Now,
		Log:            discardLog,
	}
	return e
}

// seed stores a waiting "orders" task whose intent was sent; edit may
// change it first.
func (e *runnerEnv) seed(edit func(*domain.Task)) *domain.Task {
	t := &domain.Task{
		Name: "orders", Type: "orders", Format: domain.FormatXLSX,
		Params:       json.RawMessage(`{"region":"eu"}`),
		Columns:      defaultOrderColumns(),
		Status:       domain.StatusNotExecuted,
		RowsTotal:    -1,
		IntentSentAt: ptr(t0.Add(-time.Minute)),
		CreatedAt:    t0.Add(-time.Minute), UpdatedAt: t0.Add(-time.Minute),
	}
	if edit != nil {
		edit(t)
	}
	t.ID = e.store.put(t)
	return e.store.task(t.ID)
}

func (e *runnerEnv) run(t *testing.T, ctx context.Context, task *domain.Task) {
	t.Helper()
	require.NoError(t, e.runner.Run(ctx, domain.Intent{TaskID: task.ID, Type: task.Type}))
}

// orderRows makes n rows in ordersFields order.
func orderRows(n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{int64(100 + i), fmt.Sprintf("customer %d", i), domain.Decimal(fmt.Sprintf("%d.50", i)), nil}
	}
	return rows
}

func newOrders(n int) *fakeProvider {
	return &fakeProvider{fields: ordersFields, rows: orderRows(n)}
}

// eventually polls cond for up to two seconds.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

func TestRunSucceeds(t *testing.T) {
	t.Parallel()
	prov := newOrders(7)
	e := newRunnerEnv(prov)
	// Columns in another order than the provider's fields, one left out.
	cols := []domain.Column{
		{Field: "amount", Header: "Amount", Format: "0.00"},
		{Field: "id", Header: "Order ID", Width: 10},
		{Field: "customer", Header: "Who"},
	}
	task := e.seed(func(t *domain.Task) { t.Columns = cols })
	e.run(t, context.Background(), task)

	got := e.store.task(task.ID)
	name := fmt.Sprintf("task-%d-1.xlsx", task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.Equal(t, 1, got.Attempts)
	require.Equal(t, "w1", got.WorkerID)
	require.Equal(t, int64(7), got.RowsWritten)
	require.Empty(t, got.Error)
	require.Nil(t, got.LeaseUntil)
	require.Equal(t, t0, *got.StartedAt)
	require.Equal(t, t0, *got.FinishedAt)
	require.Equal(t, []string{"claim", "succeed"}, e.store.eventNames(task.ID))

	sheetCols, rows := e.sheets.written()
	require.Equal(t, []domain.SheetColumn{
		{Column: cols[0], Kind: domain.KindDecimal},
		{Column: cols[1], Kind: domain.KindInt},
		{Column: cols[2], Kind: domain.KindString},
	}, sheetCols)
	require.Len(t, rows, 7)
	var lines []string
	for i, r := range rows {
		require.Equal(t, []any{domain.Decimal(fmt.Sprintf("%d.50", i)), int64(100 + i), fmt.Sprintf("customer %d", i)}, r)
		lines = append(lines, fmt.Sprintf("%d.50|%d|customer %d", i, 100+i, i))
	}

	fs := e.files.state()
	require.Empty(t, fs.Pending)
	require.Empty(t, fs.Aborted)
	require.Equal(t, []string{name}, fs.Created)
	require.Len(t, fs.Committed, 1)
	content := fs.Committed[name]
	require.Equal(t, strings.Join(lines, "\n")+"\n", string(content))
	require.Equal(t, &domain.FileInfo{Name: name, Size: int64(len(content)), Rows: 7, Sheets: 3}, got.File)

	calls := prov.fetchCalls()
	require.Len(t, calls, 3)
	for i, c := range calls {
		require.Equal(t, []string{"", "3", "6"}[i], c.Cursor)
		require.Equal(t, 3, c.Limit)
		require.Equal(t, task.ID, c.TaskID)
		require.Equal(t, 1, c.Attempt)
		require.Equal(t, map[string]any{"region": "eu"}, c.Params)
	}
}

func TestRunEmptyExportAndCSV(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(0))
	task := e.seed(func(t *domain.Task) { t.Format = domain.FormatCSV; t.Attempts = 1 })
	e.run(t, context.Background(), task)

	got := e.store.task(task.ID)
	name := fmt.Sprintf("task-%d-2.csv", task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.Equal(t, &domain.FileInfo{Name: name, Size: 0, Rows: 0, Sheets: 1}, got.File)
	require.Contains(t, e.files.state().Committed, name)
}

func TestFileName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "task-12-3.csv", domain.FileName(&domain.Task{ID: 12, Attempts: 3, Format: domain.FormatCSV}))
	require.Equal(t, "task-1-1.xlsx", domain.FileName(&domain.Task{ID: 1, Attempts: 1, Format: domain.FormatXLSX}))
}

func TestRunDropsIntentForTaskNotWaiting(t *testing.T) {
	t.Parallel()
	for _, s := range []domain.Status{executing, succeeded, failed, cancelled} {
		t.Run(string(s), func(t *testing.T) {
			t.Parallel()
			prov := newOrders(3)
			e := newRunnerEnv(prov)
			task := e.seed(func(t *domain.Task) {
				t.Status, t.Attempts, t.WorkerID = s, 1, "w0"
				t.LeaseUntil = ptr(t0.Add(time.Minute))
			})
			e.run(t, context.Background(), task)
			require.Equal(t, task, e.store.task(task.ID), "untouched")
			require.Empty(t, e.store.eventLog())
			require.Empty(t, e.files.state().Created)
			require.Empty(t, prov.fetchCalls())
		})
	}
	t.Run("unknown task", func(t *testing.T) {
		t.Parallel()
		e := newRunnerEnv(newOrders(3))
		require.NoError(t, e.runner.Run(context.Background(), domain.Intent{TaskID: 404, Type: "orders"}))
		require.Empty(t, e.files.state().Created)
	})
}

func TestRunClaimStoreError(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(3))
	task := e.seed(nil)
	e.store.claimErr = errors.New("connection refused")
	err := e.runner.Run(context.Background(), domain.Intent{TaskID: task.ID, Type: "orders"})
	require.ErrorContains(t, err, "connection refused", "worth redelivering the intent")
	require.Equal(t, notExecuted, e.store.task(task.ID).Status)
	require.Empty(t, e.files.state().Created)
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	transient := ptr(t0.Add(30 * time.Second)) // attempt 1, jitter 0.5
	tests := []struct {
		name      string
		setup     func(e *runnerEnv, p *fakeProvider)
		task      func(*domain.Task)
		msg       string
		permanent bool
		file      bool // a temp file was started and must be aborted
		writer    bool // a writer was started and must be closed
	}{
		{
			name:  "provider error",
			setup: func(_ *runnerEnv, p *fakeProvider) { p.errAt, p.err = 2, errors.New("db timeout") },
			msg:   "fetch rows after row 3: db timeout", file: true, writer: true,
		},
		{
			name:  "permanent provider error",
			setup: func(_ *runnerEnv, p *fakeProvider) { p.errAt, p.err = 1, domain.Permanent(errors.New("403 forbidden")) },
			msg:   "fetch rows after row 0: 403 forbidden", permanent: true, file: true, writer: true,
		},
		{
			name:  "row with too few values",
			setup: func(_ *runnerEnv, p *fakeProvider) { p.rows[4] = []any{int64(1), "x", domain.Decimal("1")} },
			msg:   `provider "orders" returned a row of 3 values, want 4`, permanent: true, file: true, writer: true,
		},
		{
			name:  "row with too many values",
			setup: func(_ *runnerEnv, p *fakeProvider) { p.rows[0] = append(p.rows[0], "extra") },
			msg:   `provider "orders" returned a row of 5 values, want 4`, permanent: true, file: true, writer: true,
		},
		{
			name: "cursor never advances",
			setup: func(_ *runnerEnv, p *fakeProvider) {
				p.fetch = func(context.Context, domain.FetchRequest) (domain.Batch, error) {
					return domain.Batch{Rows: orderRows(1), NextCursor: "page-2"}, nil
				}
			},
			msg: `provider "orders" did not advance its cursor past "page-2"`, permanent: true, file: true, writer: true,
		},
		{
			name: "no cursor at all",
			setup: func(_ *runnerEnv, p *fakeProvider) {
				p.fetch = func(context.Context, domain.FetchRequest) (domain.Batch, error) {
					return domain.Batch{Rows: orderRows(2)}, nil
				}
			},
			msg: `provider "orders" returned an empty cursor before the last batch`, permanent: true, file: true, writer: true,
		},
		{
			name:  "writer fails on a row",
			setup: func(e *runnerEnv, _ *fakeProvider) { e.sheets.failAt = 5 },
			msg:   "write row 5: disk full", file: true, writer: true,
		},
		{
			name:  "writer cannot start",
			setup: func(e *runnerEnv, _ *fakeProvider) { e.sheets.startErr = errors.New("no temp dir") },
			msg:   "start xlsx file: no temp dir", file: true,
		},
		{
			name:  "writer cannot finish",
			setup: func(e *runnerEnv, _ *fakeProvider) { e.sheets.closeErr = errors.New("zip error") },
			msg:   "finish xlsx file: zip error", file: true, writer: true,
		},
		{
			name:  "file cannot be stored",
			setup: func(e *runnerEnv, _ *fakeProvider) { e.files.commitErr = errors.New("rename: EXDEV") },
			msg:   "store file: rename: EXDEV", file: true, writer: true,
		},
		{
			name:  "file cannot be created",
			setup: func(e *runnerEnv, _ *fakeProvider) { e.files.createErr = errors.New("volume read-only") },
			msg:   "create file: volume read-only",
		},
		{
			name: "unknown type",
			task: func(t *domain.Task) { t.Type = "invoices" },
			msg:  `unknown export type "invoices"`, permanent: true,
		},
		{
			name: "column no longer a field",
			task: func(t *domain.Task) { t.Columns = []domain.Column{{Field: "id"}, {Field: "price"}} },
			msg:  `column "price" is not a field of the provider`, permanent: true,
		},
		{
			name: "no writer for the format",
			task: func(t *domain.Task) { t.Format = "ods" },
			msg:  `no writer for format "ods"`, permanent: true,
		},
		{
			name: "stored params not an object",
			task: func(t *domain.Task) { t.Params = json.RawMessage(`[1]`) },
			msg:  "params must be a JSON object", permanent: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prov := newOrders(7)
			e := newRunnerEnv(prov)
			if tc.setup != nil {
				tc.setup(e, prov)
			}
			task := e.seed(tc.task)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			e.run(t, ctx, task)
			require.NoError(t, ctx.Err(), "the run must end on its own")

			got := e.store.task(task.ID)
			require.Equal(t, domain.StatusFailed, got.Status)
			require.Equal(t, tc.msg, got.Error)
			require.Equal(t, tc.permanent, got.Permanent)
			if tc.permanent {
				require.Nil(t, got.NextAttemptAt)
			} else {
				require.Equal(t, transient, got.NextAttemptAt)
			}
			require.Nil(t, got.LeaseUntil)
			require.Nil(t, got.File)
			require.Equal(t, t0, *got.FinishedAt)
			require.Equal(t, []string{"claim", "fail"}, e.store.eventNames(task.ID))

			fs := e.files.state()
			require.Empty(t, fs.Committed)
			require.Empty(t, fs.Pending)
			if tc.file {
				require.Equal(t, []string{domain.FileName(got)}, fs.Aborted)
			} else {
				require.Empty(t, fs.Created)
			}
			e.sheets.mu.Lock()
			closes, aborts := e.sheets.closes, e.sheets.aborts
			e.sheets.mu.Unlock()
			if tc.writer {
				require.Equal(t, 1, closes+aborts, "the writer is released exactly once")
			} else {
				require.Zero(t, closes+aborts)
			}
		})
	}
}

func TestRunFailureRetrySchedule(t *testing.T) {
	t.Parallel()
	// MaxAttempts 3, Backoff 30s, jitter 0.5: attempt n waits 30s·2^(n-1);
	// the third attempt is the last.
	tests := []struct {
		before int // attempts before this run
		next   *time.Time
	}{
		{0, ptr(t0.Add(30 * time.Second))},
		{1, ptr(t0.Add(60 * time.Second))},
		{2, nil},
		{5, nil},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.before), func(t *testing.T) {
			t.Parallel()
			prov := newOrders(7)
			prov.errAt, prov.err = 1, errors.New("upstream 503")
			e := newRunnerEnv(prov)
			task := e.seed(func(t *domain.Task) { t.Attempts = tc.before })
			e.run(t, context.Background(), task)
			got := e.store.task(task.ID)
			require.Equal(t, domain.StatusFailed, got.Status)
			require.Equal(t, tc.before+1, got.Attempts)
			require.Equal(t, tc.before+1, prov.fetchCalls()[0].Attempt)
			require.False(t, got.Permanent, "out of attempts is not permanent")
			require.Equal(t, tc.next, got.NextAttemptAt)
			require.Equal(t, []string{fmt.Sprintf("task-%d-%d.xlsx", task.ID, tc.before+1)}, e.files.state().Aborted)
		})
	}
}

func TestRunFailureNotRecorded(t *testing.T) {
	t.Parallel()
	prov := newOrders(7)
	prov.errAt, prov.err = 1, errors.New("upstream 503")
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	e.store.failErr = errors.New("db gone")
	err := e.runner.Run(context.Background(), domain.Intent{TaskID: task.ID, Type: "orders"})
	require.ErrorContains(t, err, "record outcome")
	require.ErrorContains(t, err, "db gone")
}

func TestRunCancelRequestedWhileRunning(t *testing.T) {
	t.Parallel()
	prov := newOrders(30)
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = 10 * time.Millisecond
	users := &domain.Tasks{Store: e.store, Sender: &fakeSender{}, Providers: e.runner.Providers, Now: e.clock.Now, Log: discardLog}
	task := e.seed(nil)
	var cancelErr error
	var seen *domain.Task
	prov.beforeFetch = func(ctx context.Context, call int) error {
		if call < 3 {
			return nil
		}
		// The user cancels; this batch takes until the runner gives up.
		seen, cancelErr = users.Cancel(context.Background(), acme, task.ID)
		return waitCtx(ctx)
	}
	start := time.Now()
	e.run(t, context.Background(), task)
	require.Less(t, time.Since(start), 2*time.Second, "the cancel is noticed at the next heartbeat")

	require.NoError(t, cancelErr)
	require.Equal(t, executing, seen.Status, "a running task is only flagged")
	require.True(t, seen.CancelRequested)

	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusCancelled, got.Status)
	require.False(t, got.CancelRequested)
	require.Nil(t, got.LeaseUntil)
	require.Nil(t, got.File)
	require.Empty(t, got.Error)
	require.Equal(t, []string{"claim", "cancel_request", "cancel_running"}, e.store.eventNames(task.ID))
	fs := e.files.state()
	require.Empty(t, fs.Committed)
	require.Equal(t, []string{domain.FileName(got)}, fs.Aborted)
	require.Len(t, prov.fetchCalls(), 3, "no batch after the cancel")
}

func TestRunCancelRequestedTooLateToStop(t *testing.T) {
	t.Parallel()
	// No heartbeat comes before the export ends: the file is done, so the
	// task succeeds and the flag is cleared.
	prov := newOrders(7)
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	prov.beforeFetch = func(_ context.Context, call int) error {
		if call == 2 {
			_, err := e.store.Cancel(context.Background(), task.ID, t0)
			return err
		}
		return nil
	}
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.False(t, got.CancelRequested)
}

func TestRunLeaseLost(t *testing.T) {
	t.Parallel()
	tests := map[string]func(s *fakeStore, id int64){
		"another worker claimed it": func(s *fakeStore, id int64) {
			s.edit(id, func(t *domain.Task) { t.WorkerID, t.Attempts = "w2", t.Attempts+1 })
		},
		"rescued back to the queue": func(s *fakeStore, id int64) {
			s.edit(id, func(t *domain.Task) { t.Status, t.LeaseUntil = notExecuted, nil })
		},
		"deleted": func(s *fakeStore, id int64) { s.remove(id) },
	}
	for name, takeAway := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			prov := newOrders(30)
			e := newRunnerEnv(prov)
			e.runner.HeartbeatEvery = 10 * time.Millisecond
			task := e.seed(nil)
			var before *domain.Task
			prov.beforeFetch = func(ctx context.Context, call int) error {
				if call < 2 {
					return nil
				}
				takeAway(e.store, task.ID)
				before = e.store.task(task.ID)
				return waitCtx(ctx)
			}
			start := time.Now()
			e.run(t, context.Background(), task)
			require.Less(t, time.Since(start), 2*time.Second)

			require.Equal(t, before, e.store.task(task.ID), "this worker records nothing more")
			require.Equal(t, []string{"claim"}, e.store.eventNames(task.ID))
			fs := e.files.state()
			require.Empty(t, fs.Committed)
			require.Equal(t, []string{fmt.Sprintf("task-%d-1.xlsx", task.ID)}, fs.Aborted)
		})
	}
}

func TestRunShutdownReleasesTask(t *testing.T) {
	t.Parallel()
	prov := newOrders(30)
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	require.NotNil(t, task.IntentSentAt)
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	prov.beforeFetch = func(ctx context.Context, call int) error {
		if call == 2 {
			shutdown()
			return waitCtx(ctx)
		}
		return nil
	}
	e.run(t, ctx, task)

	got := e.store.task(task.ID)
	require.Equal(t, notExecuted, got.Status)
	require.Nil(t, got.IntentSentAt, "its intent must be sent again")
	require.Nil(t, got.LeaseUntil)
	require.Equal(t, 0, got.Attempts, "a graceful hand-back does not use up an attempt")
	require.Equal(t, "worker w1 shut down during attempt 1", got.Error)
	require.Equal(t, []string{"claim", "release"}, e.store.eventNames(task.ID))
	fs := e.files.state()
	require.Empty(t, fs.Committed)
	require.Equal(t, []string{fmt.Sprintf("task-%d-1.xlsx", task.ID)}, fs.Aborted)
}

func TestRunShutdownBeforeFirstBatch(t *testing.T) {
	t.Parallel()
	prov := newOrders(3)
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	ctx, shutdown := context.WithCancel(context.Background())
	shutdown()
	// The claim itself sees the dead context in the fake store, as a SQL
	// driver would: nothing happens and the intent stays with the broker.
	err := e.runner.Run(ctx, domain.Intent{TaskID: task.ID, Type: "orders"})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, notExecuted, e.store.task(task.ID).Status)
	require.Empty(t, prov.fetchCalls())
}

func TestRunSucceedLosesRace(t *testing.T) {
	t.Parallel()
	prov := newOrders(7)
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	prov.beforeFetch = func(_ context.Context, call int) error {
		if call == 3 { // the last batch: the scheduler rescued the task meanwhile
			e.store.edit(task.ID, func(t *domain.Task) { t.Status, t.LeaseUntil = notExecuted, nil })
		}
		return nil
	}
	e.run(t, context.Background(), task)

	name := fmt.Sprintf("task-%d-1.xlsx", task.ID)
	fs := e.files.state()
	require.Empty(t, fs.Committed, "the committed file is removed")
	require.Equal(t, []string{name}, fs.Removed)
	require.Empty(t, fs.Aborted)
	got := e.store.task(task.ID)
	require.Equal(t, notExecuted, got.Status)
	require.Nil(t, got.File)
	require.Equal(t, []string{"claim"}, e.store.eventNames(task.ID))
}

func TestRunHeartbeatReportsProgressAndTotal(t *testing.T) {
	t.Parallel()
	base := newOrders(7)
	prov := countingProvider{fakeProvider: base, n: 7}
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = 5 * time.Millisecond
	task := e.seed(nil)
	seenBeat := func(ok func(domain.Progress) bool) bool {
		return eventually(func() bool {
			for _, p := range e.store.heartbeatLog() {
				if ok(p) {
					return true
				}
			}
			return false
		})
	}
	var sawTotal, sawRows bool
	base.beforeFetch = func(_ context.Context, call int) error {
		switch call {
		case 1:
			sawTotal = seenBeat(func(p domain.Progress) bool { return p.RowsTotal == 7 })
		case 2:
			sawRows = seenBeat(func(p domain.Progress) bool { return p.RowsWritten == 3 })
		}
		return nil
	}
	e.run(t, context.Background(), task)
	require.True(t, sawTotal, "the provider's count reaches the store by heartbeat")
	require.True(t, sawRows, "rows written reach the store by heartbeat")

	beats := e.store.heartbeatLog()
	for _, p := range beats {
		require.Contains(t, []int64{-1, 7}, p.RowsTotal, "unknown until counted, then the count")
		require.Equal(t, t0.Add(time.Minute), p.LeaseUntil, "the lease is renewed for LeaseTTL")
	}
	require.Equal(t, int64(7), beats[len(beats)-1].RowsTotal)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.Equal(t, int64(7), got.RowsTotal)
	require.Equal(t, int64(7), got.RowsWritten)
}

// A count taken at create moments ago is the first attempt's total: the
// database is not asked to count the same rows again. An old one, or a
// later attempt, is counted anew.
func TestRunUsesTheCountTakenAtCreate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		age       time.Duration
		attempts  int
		wantCount bool
	}{
		{name: "fresh first attempt", age: 10 * time.Second, wantCount: false},
		{name: "waited in the queue", age: 2 * time.Minute, wantCount: true},
		{name: "second attempt", age: 10 * time.Second, attempts: 1, wantCount: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			base := newOrders(7)
			e := newRunnerEnv(countingProvider{fakeProvider: base, n: 99, calls: &calls})
			e.runner.HeartbeatEvery = 5 * time.Millisecond
			task := e.seed(func(t *domain.Task) {
				t.RowsTotal, t.Attempts, t.CreatedAt = 7, tc.attempts, t0.Add(-tc.age)
			})
			base.beforeFetch = func(_ context.Context, call int) error {
				if call == 2 {
					eventually(func() bool { return len(e.store.heartbeatLog()) > 0 })
				}
				return nil
			}
			e.run(t, context.Background(), task)
			require.Equal(t, domain.StatusSuccess, e.store.task(task.ID).Status)
			beats := e.store.heartbeatLog()
			require.NotEmpty(t, beats)
			if tc.wantCount {
				require.EqualValues(t, 1, calls.Load())
				for _, p := range beats {
					require.Contains(t, []int64{-1, 99}, p.RowsTotal, "the old total is not shown as this attempt's")
				}
				return
			}
			require.Zero(t, calls.Load(), "no second count")
			for _, p := range beats {
				require.EqualValues(t, 7, p.RowsTotal, "the count from create, from the first heartbeat")
			}
		})
	}
}

func TestRunCountFailureIsNotFatal(t *testing.T) {
	t.Parallel()
	base := newOrders(4)
	prov := countingProvider{fakeProvider: base, err: errors.New("count timeout")}
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = 5 * time.Millisecond
	task := e.seed(nil)
	var beat bool
	base.beforeFetch = func(_ context.Context, call int) error {
		if call == 1 {
			beat = eventually(func() bool { return len(e.store.heartbeatLog()) > 0 })
		}
		return nil
	}
	e.run(t, context.Background(), task)
	require.True(t, beat)
	require.Equal(t, int64(-1), e.store.heartbeatLog()[0].RowsTotal, "no total known")
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.Equal(t, int64(4), got.File.Rows)
}

func TestRunSurvivesHeartbeatErrors(t *testing.T) {
	t.Parallel()
	prov := newOrders(7)
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = 2 * time.Millisecond
	e.store.heartbeatErr = errors.New("deadlock found")
	task := e.seed(nil)
	var beats bool
	prov.beforeFetch = func(_ context.Context, call int) error {
		if call == 2 {
			beats = eventually(func() bool { return e.store.heartbeatCount() >= 3 })
		}
		return nil
	}
	e.run(t, context.Background(), task)
	require.True(t, beats)
	require.Equal(t, domain.StatusSuccess, e.store.task(task.ID).Status, "a database blip does not stop the export")
}

func TestRunRetriesRecordingTheOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		label  string
		setup  func(p *fakeProvider)
		status domain.Status
	}{
		{"succeed", func(*fakeProvider) {}, domain.StatusSuccess},
		{"fail", func(p *fakeProvider) { p.errAt, p.err = 1, errors.New("upstream 503") }, domain.StatusFailed},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			t.Parallel()
			prov := newOrders(7)
			tc.setup(prov)
			e := newRunnerEnv(prov)
			e.runner.FinishRetryFor = time.Second
			e.store.flaky[tc.label] = 1 // the database restarts as the run ends
			task := e.seed(nil)
			e.run(t, context.Background(), task)
			got := e.store.task(task.ID)
			require.Equal(t, tc.status, got.Status)
			require.Equal(t, []string{"claim", tc.label}, e.store.eventNames(task.ID))
		})
	}
}

func TestRunGivesUpRecordingTheOutcome(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(7))
	e.store.flaky["succeed"] = 100
	task := e.seed(nil)
	err := e.runner.Run(context.Background(), domain.Intent{TaskID: task.ID, Type: "orders"})
	require.ErrorIs(t, err, errBadConn, "FinishRetryFor zero: one try")
	require.ErrorContains(t, err, "record outcome")
	require.Equal(t, executing, e.store.task(task.ID).Status, "the lease will lapse and the scheduler rescue it")
}

// With FinishRetryFor, a Succeed whose reply was lost (the UPDATE
// committed, the connection dropped before the answer) is tried again;
// the second try finds the task SUCCESS already, gets ErrLostRace, takes
// it for "another worker took the task" and removes the file the
// successful task points to. Fix in Runner.record, before removing:
//
//	 		if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
//	+			if cur, gerr := r.Store.Get(ctx, o.TaskID); gerr == nil &&
//	+				cur.Status == StatusSuccess && cur.File != nil && cur.File.Name == file.Name {
//	+				return nil // an earlier try went through; only its answer was lost
//	+			}
//	 			log.Warn("task taken from this worker before it finished; file discarded")
func TestRunSucceedReplyLostKeepsTheFile(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(7))
	e.runner.FinishRetryFor = time.Second
	e.store.lostReply["succeed"] = 1
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	fs := e.files.state()
	require.Empty(t, fs.Removed, "the file of a successful task must stay")
	require.Contains(t, fs.Committed, got.File.Name)
}

// A provider that panics fails its task for good instead of leaving it
// EXECUTING under a heartbeat that never stops.
func TestRunProviderPanicFailsTheTask(t *testing.T) {
	t.Parallel()
	prov := &fakeProvider{fields: ordersFields, fetch: func(context.Context, domain.FetchRequest) (domain.Batch, error) {
		panic("provider bug") // as a nil map write or a bad index would
	}}
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = time.Millisecond
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.True(t, got.Permanent)
	require.Nil(t, got.NextAttemptAt)
	require.Contains(t, got.Error, "export panicked")
	require.Len(t, e.files.state().Aborted, 1, "the temp file is removed")
}

// Regression: a Succeed whose reply was lost, a retried Succeed that then
// loses the race (the first one went through) and a failing Get used to
// delete the committed file of a SUCCESS row (download → 410). The file
// stays as long as the runner cannot tell.
func TestRunSucceedLostReplyAndFailingGetKeepsTheFile(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(7))
	e.runner.FinishRetryFor = 50 * time.Millisecond
	e.store.lostReply["succeed"] = 1
	e.store.getErr = errBadConn
	task := e.seed(nil)
	err := e.runner.Run(context.Background(), domain.Intent{TaskID: task.ID, Type: task.Type})
	require.Error(t, err, "the outcome could not be confirmed")
	e.store.getErr = nil
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	fs := e.files.state()
	require.Empty(t, fs.Removed, "the file a SUCCESS row points to must stay")
	require.Contains(t, fs.Committed, got.File.Name)
}

// Same, with the database answering again within FinishRetryFor: the
// runner confirms the success and reports nothing.
func TestRunSucceedLostReplyGetRecovers(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(7))
	e.runner.FinishRetryFor = 5 * time.Second
	e.store.lostReply["succeed"] = 1
	e.store.getErr = errBadConn
	task := e.seed(nil)
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.store.mu.Lock()
		e.store.getErr = nil
		e.store.mu.Unlock()
	}()
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status)
	require.Empty(t, e.files.state().Removed)
}

// Regression: a cancel requested shortly before a SIGTERM hand-back was
// lost (Release reset it and the task ran again). It ends CANCELLED.
func TestRunShutdownWithCancelRequestedEndsCancelled(t *testing.T) {
	t.Parallel()
	prov := newOrders(30)
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()
	prov.beforeFetch = func(ctx context.Context, call int) error {
		if call == 2 {
			// The user cancels; before the next heartbeat sees it, SIGTERM.
			_, err := e.store.Cancel(context.Background(), task.ID, t0)
			require.NoError(t, err)
			shutdown()
			return waitCtx(ctx)
		}
		return nil
	}
	e.run(t, ctx, task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusCancelled, got.Status)
	require.False(t, got.CancelRequested)
	require.Equal(t, []string{"claim", "cancel_request", "cancel_running"}, e.store.eventNames(task.ID))
}

// Regression: a provider that hangs and ignores its context kept its task
// EXECUTING for ever under a renewing heartbeat. DC_STALL_TIMEOUT fails
// the attempt (to be retried) and frees the slot.
func TestRunStalledProviderFailsTheAttempt(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	prov := &fakeProvider{fields: ordersFields, fetch: func(context.Context, domain.FetchRequest) (domain.Batch, error) {
		<-release // hangs, deaf to ctx
		return domain.Batch{Done: true}, nil
	}}
	e := newRunnerEnv(prov)
	e.runner.HeartbeatEvery = time.Millisecond
	e.runner.StallTimeout = 50 * time.Millisecond
	e.runner.StopWait = 20 * time.Millisecond
	task := e.seed(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.run(t, context.Background(), task)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run still waiting on a hung provider")
	}
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.False(t, got.Permanent)
	require.NotNil(t, got.NextAttemptAt, "a stalled attempt is retried")
	require.Contains(t, got.Error, "DC_STALL_TIMEOUT")
}

// A provider that is slow but moves (a batch now and then, each well
// within the stall timeout) is not stalled.
func TestRunSlowProviderIsNotStalled(t *testing.T) {
	t.Parallel()
	prov := newOrders(9)
	prov.beforeFetch = func(ctx context.Context, call int) error {
		time.Sleep(30 * time.Millisecond)
		return nil
	}
	e := newRunnerEnv(prov)
	e.runner.StallTimeout = 200 * time.Millisecond
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	require.Equal(t, domain.StatusSuccess, e.store.task(task.ID).Status)
}
