package mysql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

var (
	_ domain.TaskStore      = (*mysql.Store)(nil)
	_ domain.SchedulerStore = (*mysql.Store)(nil)
)

var quiet = slog.New(slog.DiscardHandler)

// stores opens a fresh, empty store per dialect: SQLite always, MariaDB or
// MySQL when DC_MYSQL_DSN names one (required when CI=true).
func stores(t *testing.T) map[string]*mysql.Store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*mysql.Store{}
	lite, err := mysql.OpenSQLite(ctx, filepath.Join(t.TempDir(), "dc.db"), quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lite.Close() })
	out["sqlite"] = lite
	if dsn := mysqltest.DSN(t); dsn != "" {
		my, err := mysql.OpenMySQL(ctx, dsn, quiet)
		require.NoError(t, err)
		t.Cleanup(func() { _ = my.Close() })
		out["mysql"] = my
	}
	return out
}

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func newTask(name string) *domain.Task {
	return &domain.Task{
		Name: name, Type: "demo", Format: domain.FormatXLSX, Params: json.RawMessage(`{"rows":10}`),
		Columns: []domain.Column{{Field: "id", Header: "ID", Width: 12}, {Field: "amount", Header: "Amount", Format: "0.00"}},
		Status:  domain.StatusNotExecuted, RowsTotal: -1, CreatedAt: t0, UpdatedAt: t0,
	}
}

// claimed stores a new task and claims it for worker from t0 with a
// one-minute lease, returning the owner of that first attempt.
func claimed(t *testing.T, s *mysql.Store, worker string) domain.Owner {
	t.Helper()
	ctx := context.Background()
	tk, err := s.Create(ctx, newTask("x"))
	require.NoError(t, err)
	_, err = s.Claim(ctx, tk.ID, worker, t0, t0.Add(time.Minute))
	require.NoError(t, err)
	return domain.Owner{TaskID: tk.ID, Worker: worker, Attempt: 1}
}

func eachStore(t *testing.T, fn func(t *testing.T, s *mysql.Store)) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) { fn(t, s) })
	}
}

func TestCreateGetRoundTrip(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		in := newTask("Orders — 十一月")
		got, err := s.Create(ctx, in)
		require.NoError(t, err)
		require.Positive(t, got.ID)
		back, err := s.Get(ctx, got.ID)
		require.NoError(t, err)
		require.Equal(t, in.Name, back.Name)
		require.Equal(t, in.Columns, back.Columns)
		require.JSONEq(t, `{"rows":10}`, string(back.Params))
		require.Equal(t, domain.StatusNotExecuted, back.Status)
		require.Equal(t, int64(-1), back.RowsTotal)
		require.True(t, back.CreatedAt.Equal(t0))
		require.Nil(t, back.File)

		_, err = s.Get(ctx, got.ID+1000)
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		a := newTask("a")
		a.IdempotencyKey, a.RequestHash = "key-1", "h1"
		first, err := s.Create(ctx, a)
		require.NoError(t, err)
		b := newTask("b")
		b.IdempotencyKey, b.RequestHash = "key-1", "h2"
		again, err := s.Create(ctx, b)
		require.ErrorIs(t, err, domain.ErrDuplicateKey)
		require.Equal(t, first.ID, again.ID)
		require.Equal(t, "h1", again.RequestHash)

		// Concurrent creates with one key make exactly one task.
		var wg sync.WaitGroup
		ids := make([]int64, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := newTask("c")
				c.IdempotencyKey = "key-2"
				got, err := s.Create(ctx, c)
				if err == nil || err == domain.ErrDuplicateKey {
					ids[i] = got.ID
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id)
			require.Positive(t, id)
		}
	})
}

func TestListKeyset(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		var ids []int64
		for i := range 7 {
			tk := newTask(fmt.Sprint("t", i))
			if i%2 == 1 {
				tk.Type = "other"
			}
			got, err := s.Create(ctx, tk)
			require.NoError(t, err)
			ids = append(ids, got.ID)
		}
		page1, err := s.List(ctx, domain.ListQuery{Limit: 3})
		require.NoError(t, err)
		require.Equal(t, []int64{ids[6], ids[5], ids[4]}, taskIDs(page1))
		page2, err := s.List(ctx, domain.ListQuery{Limit: 3, BeforeID: ids[4]})
		require.NoError(t, err)
		require.Equal(t, []int64{ids[3], ids[2], ids[1]}, taskIDs(page2))
		other, err := s.List(ctx, domain.ListQuery{Limit: 10, Type: "other"})
		require.NoError(t, err)
		require.Equal(t, []int64{ids[5], ids[3], ids[1]}, taskIDs(other))
		none, err := s.List(ctx, domain.ListQuery{Limit: 10, Status: domain.StatusSuccess})
		require.NoError(t, err)
		require.Empty(t, none)
	})
}

func taskIDs(ts []*domain.Task) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestClaimIsExclusive(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		tk, err := s.Create(ctx, newTask("x"))
		require.NoError(t, err)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Claim(ctx, tk.ID, fmt.Sprint("w", i), t0, t0.Add(time.Minute))
				if err == nil {
					wins.Add(1)
				} else if err != domain.ErrLostRace {
					t.Errorf("claim: %v", err)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int32(1), wins.Load())
		got, err := s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusExecuting, got.Status)
		require.Equal(t, 1, got.Attempts)
		require.NotEmpty(t, got.WorkerID)
		require.True(t, got.LeaseUntil.Equal(t0.Add(time.Minute)))
	})
}

func TestOwnerConditionalUpdates(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		tk, err := s.Create(ctx, newTask("x"))
		require.NoError(t, err)
		c, err := s.Claim(ctx, tk.ID, "w1", t0, t0.Add(time.Minute))
		require.NoError(t, err)
		me := domain.Owner{TaskID: tk.ID, Worker: "w1", Attempt: c.Attempts}
		stranger := domain.Owner{TaskID: tk.ID, Worker: "w2", Attempt: c.Attempts}
		stale := domain.Owner{TaskID: tk.ID, Worker: "w1", Attempt: c.Attempts - 1}

		for _, o := range []domain.Owner{stranger, stale} {
			_, err := s.Heartbeat(ctx, o, domain.Progress{RowsWritten: 5, LeaseUntil: t0.Add(time.Hour)}, t0)
			require.ErrorIs(t, err, domain.ErrLostRace)
			require.ErrorIs(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f"}, t0), domain.ErrLostRace)
			require.ErrorIs(t, s.Fail(ctx, o, domain.Failure{Message: "x"}, t0), domain.ErrLostRace)
			require.ErrorIs(t, s.Release(ctx, o, "x", t0), domain.ErrLostRace)
			require.ErrorIs(t, s.CancelRunning(ctx, o, t0), domain.ErrLostRace)
		}

		cancel, err := s.Heartbeat(ctx, me, domain.Progress{RowsWritten: 5, RowsTotal: 10, LeaseUntil: t0.Add(2 * time.Minute)}, t0.Add(time.Second))
		require.NoError(t, err)
		require.False(t, cancel)
		// The same values twice still count as owning (found rows, not changed rows).
		cancel, err = s.Heartbeat(ctx, me, domain.Progress{RowsWritten: 5, RowsTotal: 10, LeaseUntil: t0.Add(2 * time.Minute)}, t0.Add(time.Second))
		require.NoError(t, err)
		require.False(t, cancel)
		got, err := s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, int64(5), got.RowsWritten)
		require.Equal(t, int64(10), got.RowsTotal)

		// A cancel request reaches the owner through its heartbeat.
		after, err := s.Cancel(ctx, tk.ID, t0.Add(2*time.Second))
		require.NoError(t, err)
		require.Equal(t, domain.StatusExecuting, after.Status)
		require.True(t, after.CancelRequested)
		cancel, err = s.Heartbeat(ctx, me, domain.Progress{RowsWritten: 6, LeaseUntil: t0.Add(2 * time.Minute)}, t0.Add(3*time.Second))
		require.NoError(t, err)
		require.True(t, cancel)
		require.NoError(t, s.CancelRunning(ctx, me, t0.Add(4*time.Second)))
		got, err = s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusCancelled, got.Status)
		require.NotNil(t, got.FinishedAt)
	})
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		tk, err := s.Create(ctx, newTask("x"))
		require.NoError(t, err)
		require.NoError(t, s.MarkSent(ctx, tk.ID, t0))

		// attempt 1 fails, retry due later
		c, err := s.Claim(ctx, tk.ID, "w1", t0, t0.Add(time.Minute))
		require.NoError(t, err)
		o := domain.Owner{TaskID: tk.ID, Worker: "w1", Attempt: c.Attempts}
		require.ErrorIs(t, s.MarkSent(ctx, tk.ID, t0), domain.ErrLostRace, "only a waiting task's intent is recorded")
		next := t0.Add(time.Minute)
		require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "boom", NextAttemptAt: &next}, t0.Add(time.Second)))
		got, err := s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusFailed, got.Status)
		require.Equal(t, "boom", got.Error)
		require.True(t, got.NextAttemptAt.Equal(next))
		require.Nil(t, got.LeaseUntil)

		due, err := s.DueRetries(ctx, t0.Add(30*time.Second), 10)
		require.NoError(t, err)
		require.Empty(t, due)
		require.ErrorIs(t, s.Retry(ctx, tk.ID, true, t0.Add(30*time.Second)), domain.ErrLostRace, "not due yet")
		due, err = s.DueRetries(ctx, t0.Add(2*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{tk.ID}, taskIDs(due))
		require.NoError(t, s.Retry(ctx, tk.ID, true, t0.Add(2*time.Minute)))
		got, err = s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		require.Nil(t, got.IntentSentAt)
		require.Equal(t, "boom", got.Error, "the last error stays visible while the task waits")

		unsent, err := s.Unsent(ctx, t0.Add(3*time.Minute), t0.Add(3*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{tk.ID}, taskIDs(unsent))
		require.NoError(t, s.MarkSent(ctx, tk.ID, t0.Add(2*time.Minute)))
		unsent, err = s.Unsent(ctx, t0.Add(3*time.Minute), t0.Add(time.Minute), 10)
		require.NoError(t, err)
		require.Empty(t, unsent)

		// attempt 2 succeeds
		c, err = s.Claim(ctx, tk.ID, "w2", t0.Add(3*time.Minute), t0.Add(4*time.Minute))
		require.NoError(t, err)
		require.Equal(t, 2, c.Attempts)
		o = domain.Owner{TaskID: tk.ID, Worker: "w2", Attempt: 2}
		require.NoError(t, s.Succeed(ctx, o, domain.FileInfo{Name: "task-1-2.xlsx", Size: 123, Rows: 10, Sheets: 1}, t0.Add(5*time.Minute)))
		got, err = s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusSuccess, got.Status)
		require.Equal(t, &domain.FileInfo{Name: "task-1-2.xlsx", Size: 123, Rows: 10, Sheets: 1}, got.File)
		require.Empty(t, got.Error)
		require.Equal(t, int64(10), got.RowsWritten)

		// terminal: no more moves
		require.ErrorIs(t, s.Retry(ctx, tk.ID, false, t0), domain.ErrLostRace)
		_, err = s.Cancel(ctx, tk.ID, t0)
		require.ErrorIs(t, err, domain.ErrLostRace)
		_, err = s.Claim(ctx, tk.ID, "w3", t0, t0)
		require.ErrorIs(t, err, domain.ErrLostRace)
		_, err = s.Claim(ctx, tk.ID+99, "w3", t0, t0)
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}

func TestCancelAndRetryWaiting(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		tk, err := s.Create(ctx, newTask("x"))
		require.NoError(t, err)
		require.ErrorIs(t, s.Retry(ctx, tk.ID, false, t0), domain.ErrLostRace, "a waiting task cannot be retried")
		got, err := s.Cancel(ctx, tk.ID, t0)
		require.NoError(t, err)
		require.Equal(t, domain.StatusCancelled, got.Status)
		_, err = s.Claim(ctx, tk.ID, "w", t0, t0)
		require.ErrorIs(t, err, domain.ErrLostRace, "a cancelled task is not claimed")
		require.NoError(t, s.Retry(ctx, tk.ID, false, t0))
		got, err = s.Get(ctx, tk.ID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		_, err = s.Cancel(ctx, 987654, t0)
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}

func TestRescue(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w1")

		exp, err := s.ExpiredLeases(ctx, t0.Add(30*time.Second), 10)
		require.NoError(t, err)
		require.Empty(t, exp)
		require.ErrorIs(t, s.Rescue(ctx, o, domain.StatusNotExecuted, domain.Failure{Message: "lost"}, t0.Add(30*time.Second)), domain.ErrLostRace, "lease still held")

		exp, err = s.ExpiredLeases(ctx, t0.Add(2*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{o.TaskID}, taskIDs(exp))
		require.NoError(t, s.Rescue(ctx, o, domain.StatusNotExecuted, domain.Failure{Message: "worker w1 lost"}, t0.Add(2*time.Minute)))
		require.ErrorIs(t, s.Rescue(ctx, o, domain.StatusNotExecuted, domain.Failure{Message: "again"}, t0.Add(2*time.Minute)), domain.ErrLostRace, "only once")
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		require.Equal(t, "worker w1 lost", got.Error)
		// the old owner cannot finish after the rescue
		require.ErrorIs(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f"}, t0), domain.ErrLostRace)

		_, err = s.Claim(ctx, o.TaskID, "w2", t0.Add(3*time.Minute), t0.Add(4*time.Minute))
		require.NoError(t, err)
		o2 := domain.Owner{TaskID: o.TaskID, Worker: "w2", Attempt: 2}
		require.NoError(t, s.Rescue(ctx, o2, domain.StatusFailed, domain.Failure{Message: "gave up"}, t0.Add(5*time.Minute)))
		got, err = s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusFailed, got.Status)
		require.Nil(t, got.NextAttemptAt)
	})
}

func TestLongErrorIsTruncated(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w")
		long := ""
		for len(long) < 10000 {
			long += "错误"
		}
		require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: long}, t0))
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.LessOrEqual(t, len(got.Error), 4010)
		require.Contains(t, got.Error, "错误")
	})
}

func TestMigrationsConcurrentOpen(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		return
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := mysql.OpenMySQL(context.Background(), dsn, quiet)
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestMarkSentMany(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		a, err := s.Create(ctx, newTask("a"))
		require.NoError(t, err)
		b, err := s.Create(ctx, newTask("b"))
		require.NoError(t, err)
		_, err = s.Claim(ctx, b.ID, "w", t0, t0.Add(time.Minute))
		require.NoError(t, err)
		marks := []domain.SentMark{{TaskID: a.ID, At: t0}, {TaskID: b.ID, At: t0}, {TaskID: 999999, At: t0}}
		require.NoError(t, s.MarkSentMany(ctx, marks))
		require.NoError(t, s.MarkSentMany(ctx, nil))
		got, err := s.Get(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, got.IntentSentAt.Equal(t0))
		got, err = s.Get(ctx, b.ID)
		require.NoError(t, err)
		require.Nil(t, got.IntentSentAt, "a claimed task is not marked")
	})
}

func TestCancelFailedAwaitingRetryAndRetryResetsPermanent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		fail := func(next *time.Time, permanent bool) int64 {
			o := claimed(t, s, "w")
			require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "boom", Permanent: permanent, NextAttemptAt: next}, t0))
			return o.TaskID
		}
		next := t0.Add(time.Hour)
		waiting := fail(&next, false)
		got, err := s.Cancel(ctx, waiting, t0)
		require.NoError(t, err, "a task waiting for its automatic retry can be cancelled")
		require.Equal(t, domain.StatusCancelled, got.Status)
		require.Nil(t, got.NextAttemptAt)
		due, err := s.DueRetries(ctx, t0.Add(2*time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, due, "and is not retried")

		final := fail(nil, true)
		_, err = s.Cancel(ctx, final, t0)
		require.ErrorIs(t, err, domain.ErrLostRace, "a finally failed task has nothing to cancel")
		require.NoError(t, s.Retry(ctx, final, false, t0))
		got, err = s.Get(ctx, final)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		require.False(t, got.Permanent, "a retried task carries no stale permanent flag")
		require.Empty(t, got.Error)
	})
}

func TestRescueOfCancelRequestedTaskEndsCancelled(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w")
		_, err := s.Cancel(ctx, o.TaskID, t0)
		require.NoError(t, err)
		require.NoError(t, s.Rescue(ctx, o, domain.StatusCancelled, domain.Failure{Message: "worker w stopped"}, t0.Add(2*time.Minute)))
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusCancelled, got.Status)
		require.False(t, got.CancelRequested)
		require.Error(t, s.Rescue(ctx, o, domain.StatusSuccess, domain.Failure{Message: "x"}, t0.Add(3*time.Minute)))
	})
}
