package domain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Limits bound what one tenant may do. Zero means no limit.
type Limits struct {
	// MaxActive bounds waiting plus running tasks.
	MaxActive int64
	// CreatesPerMinute is the refill rate (and burst) of the tenant's
	// create token bucket.
	CreatesPerMinute int64
	// MaxRows bounds the rows of one export.
	MaxRows int64
	// MaxFileBytes bounds the size of one export's file.
	MaxFileBytes int64
}

// TenantLimits is one tenant's overrides of the default limits; a nil
// field keeps the default.
type TenantLimits struct {
	Tenant           string
	MaxActive        *int64
	CreatesPerMinute *int64
	MaxRows          *int64
	MaxFileBytes     *int64
	UpdatedAt        time.Time
}

// Apply returns the defaults with o's overrides.
func (o *TenantLimits) Apply(def Limits) Limits {
	if o == nil {
		return def
	}
	pick := func(p *int64, d int64) int64 {
		if p != nil {
			return *p
		}
		return d
	}
	return Limits{
		MaxActive: pick(o.MaxActive, def.MaxActive), CreatesPerMinute: pick(o.CreatesPerMinute, def.CreatesPerMinute),
		MaxRows: pick(o.MaxRows, def.MaxRows), MaxFileBytes: pick(o.MaxFileBytes, def.MaxFileBytes),
	}
}

// TenantStore persists tenants' limit overrides and counts their work.
type TenantStore interface {
	// SetTenant creates or replaces a tenant's overrides.
	SetTenant(ctx context.Context, t TenantLimits) error
	// Tenant returns a tenant's overrides; ErrNotFound when it has none.
	Tenant(ctx context.Context, name string) (*TenantLimits, error)
	Tenants(ctx context.Context) ([]*TenantLimits, error)
	// CountActive counts a tenant's waiting and running tasks, FAILED
	// ones awaiting an automatic retry included.
	CountActive(ctx context.Context, tenant string) (int64, error)
}

// Tenants applies the per-tenant limits. Overrides are cached for
// CacheTTL, which bounds how long a change takes to reach a replica. The
// create rate is a token bucket per tenant in each replica's memory.
type Tenants struct {
	Store    TenantStore
	Defaults Limits
	CacheTTL time.Duration
	Now      Clock

	mu      sync.Mutex
	cache   map[string]cachedLimits
	buckets map[string]*bucket
}

type cachedLimits struct {
	limits  Limits
	fetched time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// Limits returns a tenant's limits.
func (t *Tenants) Limits(ctx context.Context, tenant string) (Limits, error) {
	now := t.Now()
	t.mu.Lock()
	c, ok := t.cache[tenant]
	t.mu.Unlock()
	if ok && now.Sub(c.fetched) < t.CacheTTL {
		return c.limits, nil
	}
	o, err := t.Store.Tenant(ctx, tenant)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Limits{}, fmt.Errorf("read limits of tenant %s: %w", tenant, err)
	}
	lim := o.Apply(t.Defaults)
	t.mu.Lock()
	if t.cache == nil || len(t.cache) >= maxCachedKeys {
		t.cache = map[string]cachedLimits{}
	}
	t.cache[tenant] = cachedLimits{limits: lim, fetched: now}
	t.mu.Unlock()
	return lim, nil
}

// activeRetryAfter is what a client over its active-task limit is told
// to wait: about a running export's heartbeat, as a task finishing frees
// a place at any moment.
const activeRetryAfter = 5 * time.Second

// Admit decides whether the actor's tenant may create one more task now,
// taking a token from its bucket when it may. It returns the tenant's
// limits for the create to check further.
func (t *Tenants) Admit(ctx context.Context, a Actor) (Limits, error) {
	lim, err := t.Limits(ctx, a.Tenant)
	if err != nil {
		return lim, err
	}
	if lim.MaxActive > 0 {
		n, err := t.Store.CountActive(ctx, a.Tenant)
		if err != nil {
			return lim, fmt.Errorf("count active tasks of tenant %s: %w", a.Tenant, err)
		}
		if n >= lim.MaxActive {
			return lim, &LimitError{
				Message:    fmt.Sprintf("tenant %s has %d active tasks, its limit (max-active) is %d; wait for one to finish", a.Tenant, n, lim.MaxActive),
				RetryAfter: activeRetryAfter,
			}
		}
	}
	if wait := t.take(a.Tenant, lim.CreatesPerMinute); wait > 0 {
		return lim, &LimitError{
			Message:    fmt.Sprintf("tenant %s is over its limit of %d creates per minute", a.Tenant, lim.CreatesPerMinute),
			RetryAfter: wait,
		}
	}
	return lim, nil
}

// take takes one token from the tenant's bucket, or returns how long
// until one is there.
func (t *Tenants) take(tenant string, perMinute int64) time.Duration {
	if perMinute <= 0 {
		return 0
	}
	now := t.Now()
	rate := float64(perMinute) / 60 // tokens per second
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buckets == nil {
		t.buckets = map[string]*bucket{}
	}
	b, ok := t.buckets[tenant]
	if !ok {
		b = &bucket{tokens: float64(perMinute), at: now}
		t.buckets[tenant] = b
	}
	b.tokens = math.Min(float64(perMinute), b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}
