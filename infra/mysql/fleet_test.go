package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

// A graceful hand-back gives back the attempt its claim counted, and is
// refused for a task whose cancel was requested (it must end CANCELLED,
// not run again).
func TestReleaseGivesBackTheAttemptAndKeepsACancel(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w1")
		require.NoError(t, s.Release(ctx, o, "worker w1 shut down during attempt 1", t0.Add(time.Second)))
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		require.Equal(t, 0, got.Attempts)
		require.Nil(t, got.IntentSentAt)

		c, err := s.Claim(ctx, o.TaskID, "w2", t0.Add(2*time.Second), t0.Add(time.Minute))
		require.NoError(t, err)
		require.Equal(t, 1, c.Attempts, "the next claim is attempt 1 again")
		o2 := domain.Owner{TaskID: o.TaskID, Worker: "w2", Attempt: 1}
		_, err = s.Cancel(ctx, o.TaskID, t0.Add(3*time.Second))
		require.NoError(t, err)
		require.ErrorIs(t, s.Release(ctx, o2, "shut down", t0.Add(4*time.Second)), domain.ErrLostRace)
		require.NoError(t, s.CancelRunning(ctx, o2, t0.Add(4*time.Second)))
		got, err = s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusCancelled, got.Status)
	})
}

// A rescue to FAILED carries the retry's due time, so the automatic retry
// applies the backoff.
func TestRescueToFailedKeepsTheBackoff(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w1")
		due := t0.Add(3 * time.Minute)
		require.NoError(t, s.Rescue(ctx, o, domain.StatusFailed, domain.Failure{Message: "lease lapsed", NextAttemptAt: &due}, t0.Add(2*time.Minute)))
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusFailed, got.Status)
		require.False(t, got.Permanent)
		require.NotNil(t, got.NextAttemptAt)
		require.True(t, got.NextAttemptAt.Equal(due))
		ts, err := s.DueRetries(ctx, t0.Add(150*time.Second), 10)
		require.NoError(t, err)
		require.Empty(t, ts, "not before its backoff")
		ts, err = s.DueRetries(ctx, due, 10)
		require.NoError(t, err)
		require.Len(t, ts, 1)
	})
}

// A mark of an intent sent before the task was claimed and handed back is
// skipped: that intent is spent, and the task must look unsent so the
// scheduler sends it again.
func TestMarkSentSkipsATaskChangedAfterTheSend(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w")
		require.NoError(t, s.Release(ctx, o, "shut down", t0.Add(2*time.Second)))
		sentAt := t0.Add(time.Second) // the intent went out before the hand-back
		require.NoError(t, s.MarkSentMany(ctx, []domain.SentMark{{TaskID: o.TaskID, At: sentAt}}))
		require.ErrorIs(t, s.MarkSent(ctx, o.TaskID, sentAt), domain.ErrLostRace)
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Nil(t, got.IntentSentAt)
		// A send after the hand-back is recorded.
		require.NoError(t, s.MarkSentMany(ctx, []domain.SentMark{{TaskID: o.TaskID, At: t0.Add(3 * time.Second)}}))
		got, err = s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.NotNil(t, got.IntentSentAt)
	})
}

// Leases are written by a worker and judged by a dc-api replica's
// scheduler, two machines. Each store tells the database's time, so a
// worker whose clock is 60 s behind and a replica 60 s ahead agree: the
// worker's live lease does not look lapsed, and it lapses when it should.
func TestLeasesOnTheDatabaseClockSurviveSkew(t *testing.T) {
	t.Parallel()
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		t.Skip("needs DC_MYSQL_DSN (the embedded SQLite store is one process on one clock)")
	}
	ctx := context.Background()
	worker, err := mysql.OpenMySQL(ctx, dsn, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = worker.Close() })
	replica, err := mysql.OpenMySQL(ctx, dsn, quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = replica.Close() })
	require.NoError(t, mysql.SkewLocalClock(worker, -60*time.Second))
	require.NoError(t, mysql.SkewLocalClock(replica, 60*time.Second))
	require.WithinDuration(t, worker.Now(), replica.Now(), 2*time.Second, "both tell the database's time")
	require.WithinDuration(t, time.Now(), worker.Now(), 5*time.Second, "this machine is the database's")

	tk, err := worker.Create(ctx, newTask("skew"))
	require.NoError(t, err)
	now := worker.Now()
	_, err = worker.Claim(ctx, tk.ID, "w", now, now.Add(10*time.Second))
	require.NoError(t, err)
	exp, err := replica.ExpiredLeases(ctx, replica.Now(), 10)
	require.NoError(t, err)
	require.NotContains(t, taskIDs(exp), tk.ID, "a live lease does not look lapsed to a replica ahead")
	exp, err = replica.ExpiredLeases(ctx, replica.Now().Add(15*time.Second), 10)
	require.NoError(t, err)
	require.Contains(t, taskIDs(exp), tk.ID, "and lapses when its time comes")
}

// Waiting lists the oldest waiting tasks only.
func TestWaitingListsTheOldestWaiting(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		var ids []int64
		for range 4 {
			tk, err := s.Create(ctx, newTask("w"))
			require.NoError(t, err)
			ids = append(ids, tk.ID)
		}
		_, err := s.Claim(ctx, ids[0], "w", t0, t0.Add(time.Minute))
		require.NoError(t, err)
		got, err := s.Waiting(ctx, 2)
		require.NoError(t, err)
		require.Equal(t, ids[1:3], got)
	})
}
