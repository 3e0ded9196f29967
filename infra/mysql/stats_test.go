package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
)

func TestStats(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		st, err := s.Stats(ctx)
		require.NoError(t, err)
		require.Len(t, st.ByStatus, len(domain.Statuses), "every status is present, also at zero")
		require.True(t, st.OldestWaiting.IsZero())

		older := newTask("older")
		older.CreatedAt, older.UpdatedAt = t0.Add(-time.Hour), t0.Add(-time.Hour)
		_, err = s.Create(ctx, older)
		require.NoError(t, err)
		_, err = s.Create(ctx, newTask("newer"))
		require.NoError(t, err)
		claimed(t, s, "w")

		st, err = s.Stats(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(2), st.ByStatus[domain.StatusNotExecuted])
		require.Equal(t, int64(1), st.ByStatus[domain.StatusExecuting])
		require.Equal(t, int64(0), st.ByStatus[domain.StatusSuccess])
		require.True(t, st.OldestWaiting.Equal(t0.Add(-time.Hour)), "oldest waiting is %s", st.OldestWaiting)
	})
}
