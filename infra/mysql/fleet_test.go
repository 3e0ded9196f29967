package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
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
