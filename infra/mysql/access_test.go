package mysql_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
)

func TestTenantScopedListsAndIdempotency(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		mk := func(tenant, owner, key string) *domain.Task {
			tk := newTask(tenant + "/" + owner)
			tk.Tenant, tk.Owner, tk.IdempotencyKey, tk.RequestHash = tenant, owner, key, "h"
			got, err := s.Create(ctx, tk)
			require.NoError(t, err)
			return got
		}
		a1 := mk("acme", "alice", "k")
		mk("acme", "bob", "")
		g := mk("globex", "alice", "k") // the same key in another tenant is another task
		require.NotEqual(t, a1.ID, g.ID)
		dup := newTask("again")
		dup.Tenant, dup.IdempotencyKey = "acme", "k"
		old, err := s.Create(ctx, dup)
		require.ErrorIs(t, err, domain.ErrDuplicateKey)
		require.Equal(t, a1.ID, old.ID)

		ts, err := s.List(ctx, domain.ListQuery{Tenant: "acme", Limit: 10})
		require.NoError(t, err)
		require.Len(t, ts, 2)
		ts, err = s.List(ctx, domain.ListQuery{Tenant: "acme", Owner: "alice", Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []int64{a1.ID}, taskIDs(ts))
		require.Equal(t, "alice", ts[0].Owner)
		require.Equal(t, "acme", ts[0].Tenant)
		n, err := s.CountActive(ctx, "acme")
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
	})
}

func TestKeysAndTenants(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		keys := &domain.Keys{Store: s, Now: func() time.Time { return time.Now().UTC() }, CacheTTL: 0}
		secret, k, err := keys.Create(ctx, "acme", "billing", nil)
		require.NoError(t, err)
		require.True(t, domain.WellFormedKey(secret))
		a, err := keys.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, domain.Actor{Tenant: "acme", KeyID: k.ID, Scopes: domain.DefaultScopes}, a)
		all, err := keys.List(ctx)
		require.NoError(t, err)
		require.Len(t, all, 1)
		require.Equal(t, domain.HashKey(secret), all[0].Hash, "only the hash is stored")
		require.NotNil(t, all[0].LastUsedAt)
		require.NoError(t, keys.Revoke(ctx, k.ID))
		_, err = keys.Authenticate(ctx, secret)
		require.ErrorIs(t, err, domain.ErrUnauthenticated)
		require.Equal(t, domain.KindNotFound, domain.KindOf(keys.Revoke(ctx, k.ID+100)))

		_, err = s.Tenant(ctx, "acme")
		require.ErrorIs(t, err, domain.ErrNotFound)
		two := int64(2)
		require.NoError(t, s.SetTenant(ctx, domain.TenantLimits{Tenant: "acme", MaxActive: &two, UpdatedAt: t0}))
		rows := int64(10)
		require.NoError(t, s.SetTenant(ctx, domain.TenantLimits{Tenant: "acme", MaxActive: &two, MaxRows: &rows, UpdatedAt: t0}))
		got, err := s.Tenant(ctx, "acme")
		require.NoError(t, err)
		require.Equal(t, domain.Limits{MaxActive: 2, CreatesPerMinute: 600, MaxRows: 10, MaxFileBytes: 5},
			got.Apply(domain.Limits{MaxActive: 100, CreatesPerMinute: 600, MaxRows: 1000, MaxFileBytes: 5}))
		list, err := s.Tenants(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1)
	})
}

func TestRetentionQueries(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, s *mysql.Store) {
		ctx := context.Background()
		o := claimed(t, s, "w")
		f := domain.FileInfo{Name: domain.FileName(&domain.Task{ID: o.TaskID, Attempts: 1, Format: domain.FormatCSV}), Size: 3}
		require.NoError(t, s.Succeed(ctx, o, f, t0.Add(time.Minute)))
		running := claimed(t, s, "w")

		ts, err := s.ExpiredFiles(ctx, t0.Add(2*time.Minute), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{o.TaskID}, taskIDs(ts))
		refs, err := s.ReferencedFiles(ctx, []string{f.Name, "task-999-1.csv"})
		require.NoError(t, err)
		require.Equal(t, map[string]bool{f.Name: true}, refs)

		require.NoError(t, s.MarkFileRemoved(ctx, o.TaskID, 1, t0.Add(3*time.Minute)))
		require.ErrorIs(t, s.MarkFileRemoved(ctx, o.TaskID, 1, t0.Add(3*time.Minute)), domain.ErrLostRace)
		ts, err = s.ExpiredFiles(ctx, t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, ts)
		got, err := s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.NotNil(t, got.File.RemovedAt)
		refs, err = s.ReferencedFiles(ctx, []string{f.Name})
		require.NoError(t, err)
		require.Empty(t, refs)

		// Remake sends it back; its next success keeps the new file.
		require.NoError(t, s.Remake(ctx, o.TaskID, t0.Add(4*time.Minute)))
		got, err = s.Get(ctx, o.TaskID)
		require.NoError(t, err)
		require.Equal(t, domain.StatusNotExecuted, got.Status)
		require.Nil(t, got.File)

		old, err := s.OldTasks(ctx, t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Empty(t, old, "neither a waiting nor a running task is old")
		require.NoError(t, s.Rescue(ctx, running, domain.StatusFailed, domain.Failure{Message: "gone"}, t0.Add(2*time.Minute)))
		old, err = s.OldTasks(ctx, t0.Add(time.Hour), 10)
		require.NoError(t, err)
		require.Equal(t, []int64{running.TaskID}, taskIDs(old))
		ok, err := s.DeleteFinished(ctx, running.TaskID)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = s.DeleteFinished(ctx, o.TaskID)
		require.NoError(t, err)
		require.False(t, ok, "a waiting task is never deleted")
		_, err = s.Get(ctx, running.TaskID)
		require.ErrorIs(t, err, domain.ErrNotFound)
	})
}
