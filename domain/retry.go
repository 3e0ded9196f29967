package domain

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy decides whether and when a failed attempt is retried.
type RetryPolicy struct {
	// MaxAttempts is how many attempts a task gets in all.
	MaxAttempts int
	// Backoff is the wait after the first failure; it doubles with each
	// further attempt, up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Jitter returns a number in [0,1); nil means math/rand.
	Jitter func() float64
}

// NextAttempt returns when attempt n's failure should be retried, or nil
// when the task has had all its attempts or the error is permanent.
// The delay is Backoff·2^(n-1), capped, with ±20% jitter so tasks that
// failed together do not come back together.
func (p RetryPolicy) NextAttempt(attempt int, permanent bool, now time.Time) *time.Time {
	if permanent || attempt >= p.MaxAttempts {
		return nil
	}
	d := p.Backoff
	// Capped doubling; without MaxBackoff, a day stops d overflowing.
	limit := p.MaxBackoff
	if limit <= 0 {
		limit = 24 * time.Hour
	}
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	j := p.Jitter
	if j == nil {
		j = rand.Float64
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*j()))
	at := now.Add(d)
	return &at
}
