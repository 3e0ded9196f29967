package domain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

type fixedLimits domain.Limits

func (l fixedLimits) Limits(context.Context, string) (domain.Limits, error) {
	return domain.Limits(l), nil
}

func TestRunRowLimitFailsPermanently(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(10))
	e.runner.Limits = fixedLimits{MaxRows: 7}
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.True(t, got.Permanent)
	require.Nil(t, got.NextAttemptAt, "no retry can fix it")
	require.Contains(t, got.Error, "more than 7 rows")
	require.Contains(t, got.Error, "DC_MAX_ROWS")
	require.Empty(t, e.files.state().Committed)

	ok := newRunnerEnv(newOrders(7))
	ok.runner.Limits = fixedLimits{MaxRows: 7}
	task = ok.seed(nil)
	ok.run(t, context.Background(), task)
	require.Equal(t, domain.StatusSuccess, ok.store.task(task.ID).Status, "exactly the limit is fine")
}

func TestRunByteLimitFailsPermanently(t *testing.T) {
	t.Parallel()
	e := newRunnerEnv(newOrders(50))
	e.runner.Limits = fixedLimits{MaxFileBytes: 100}
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.True(t, got.Permanent)
	require.Contains(t, got.Error, "past 100 bytes")
	require.Contains(t, got.Error, "DC_MAX_FILE_BYTES")
	require.Empty(t, e.files.state().Committed)
}

type memKeys struct {
	mu      sync.Mutex
	keys    []*domain.APIKey
	lookups int
}

func (m *memKeys) CreateKey(_ context.Context, k *domain.APIKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k.ID = int64(len(m.keys) + 1)
	c := *k
	m.keys = append(m.keys, &c)
	return nil
}

func (m *memKeys) KeyByHash(_ context.Context, hash string) (*domain.APIKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	for _, k := range m.keys {
		if k.Hash == hash {
			c := *k
			return &c, nil
		}
	}
	return nil, domain.ErrNotFound
}

func (m *memKeys) ListKeys(context.Context) ([]*domain.APIKey, error) { return m.keys, nil }

func (m *memKeys) RevokeKey(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[id-1].RevokedAt = &at
	return nil
}

func (m *memKeys) TouchKey(_ context.Context, id int64, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[id-1].LastUsedAt = &at
	return nil
}

func TestKeysCacheBoundsRevocation(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	store := &memKeys{}
	keys := &domain.Keys{Store: store, Now: clock.Now, CacheTTL: 2 * time.Second}
	ctx := context.Background()
	secret, k, err := keys.Create(ctx, "acme", "svc", nil)
	require.NoError(t, err)
	require.NotContains(t, store.keys[0].Hash, secret[4:], "the secret is not stored")
	for range 3 {
		a, err := keys.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, "acme", a.Tenant)
	}
	require.Equal(t, 1, store.lookups, "checks within the TTL are cached")
	require.NoError(t, keys.Revoke(ctx, k.ID))
	clock.Advance(2 * time.Second)
	_, err = keys.Authenticate(ctx, secret)
	require.ErrorIs(t, err, domain.ErrUnauthenticated, "a revocation is felt once the cache TTL passed")

	for _, bad := range []string{"", "dck_", "dck_short", secret + "x", "xck_" + secret[4:]} {
		_, err := keys.Authenticate(ctx, bad)
		require.ErrorIs(t, err, domain.ErrUnauthenticated, bad)
	}
	_, _, err = keys.Create(ctx, "Bad Tenant", "svc", nil)
	require.Error(t, err)
}

type memTenants struct{ active int64 }

func (m *memTenants) SetTenant(context.Context, domain.TenantLimits) error { return nil }
func (m *memTenants) Tenant(context.Context, string) (*domain.TenantLimits, error) {
	return nil, domain.ErrNotFound
}
func (m *memTenants) Tenants(context.Context) ([]*domain.TenantLimits, error) { return nil, nil }
func (m *memTenants) CountActive(context.Context, string) (int64, error)      { return m.active, nil }

func TestTenantsTokenBucket(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	tn := &domain.Tenants{Store: &memTenants{}, Now: clock.Now, CacheTTL: time.Second,
		Defaults: domain.Limits{CreatesPerMinute: 60}}
	a := domain.Actor{Tenant: "acme"}
	for range 60 {
		_, err := tn.Admit(context.Background(), a)
		require.NoError(t, err)
	}
	_, err := tn.Admit(context.Background(), a)
	var le *domain.LimitError
	require.ErrorAs(t, err, &le)
	require.Equal(t, time.Second, le.RetryAfter)
	_, err = tn.Admit(context.Background(), domain.Actor{Tenant: "globex"})
	require.NoError(t, err, "buckets are per tenant")
	clock.Advance(time.Second)
	_, err = tn.Admit(context.Background(), a)
	require.NoError(t, err, "a token per second at 60 a minute")
}

func TestTenantsMaxActive(t *testing.T) {
	t.Parallel()
	store := &memTenants{active: 3}
	tn := &domain.Tenants{Store: store, Now: time.Now, Defaults: domain.Limits{MaxActive: 3}}
	_, err := tn.Admit(context.Background(), domain.Actor{Tenant: "acme"})
	require.Equal(t, domain.KindLimited, domain.KindOf(err))
	require.ErrorContains(t, err, "max-active")
	store.active = 2
	_, err = tn.Admit(context.Background(), domain.Actor{Tenant: "acme"})
	require.NoError(t, err)
}
