package domain_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func fixedJitter(j float64) func() float64 { return func() float64 { return j } }

func TestNextAttempt(t *testing.T) {
	t.Parallel()
	const never = time.Duration(-1)
	// The delay is 30s·2^(n-1) times 0.8 + 0.4·jitter: 0.8× at jitter 0,
	// 1× at 0.5, 1.1996× at 0.999. Attempt 5 of 5 is the last.
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{1, 0, 24 * time.Second},
		{1, 0.5, 30 * time.Second},
		{1, 0.999, 35988 * time.Millisecond},
		{2, 0, 48 * time.Second},
		{2, 0.5, 60 * time.Second},
		{2, 0.999, 71976 * time.Millisecond},
		{3, 0, 96 * time.Second},
		{3, 0.5, 120 * time.Second},
		{3, 0.999, 143952 * time.Millisecond},
		{4, 0, 192 * time.Second},
		{4, 0.5, 240 * time.Second},
		{4, 0.999, 287904 * time.Millisecond},
		{5, 0, never},
		{5, 0.5, never},
		{5, 0.999, never},
		{6, 0, never},
		{6, 0.5, never},
		{6, 0.999, never},
	}
	for _, tc := range tests {
		p := domain.RetryPolicy{MaxAttempts: 5, Backoff: 30 * time.Second, MaxBackoff: time.Hour, Jitter: fixedJitter(tc.jitter)}
		got := p.NextAttempt(tc.attempt, false, t0)
		if tc.want == never {
			require.Nil(t, got, "attempt %d jitter %v", tc.attempt, tc.jitter)
			continue
		}
		require.NotNil(t, got, "attempt %d jitter %v", tc.attempt, tc.jitter)
		require.Equal(t, tc.want, got.Sub(t0), "attempt %d jitter %v", tc.attempt, tc.jitter)
		require.Nil(t, p.NextAttempt(tc.attempt, true, t0), "permanent: attempt %d", tc.attempt)
	}
}

func TestNextAttemptCappedAtMaxBackoff(t *testing.T) {
	t.Parallel()
	// With 20 attempts the doubling reaches the cap: 30s·2^6 = 32m is
	// under an hour, 30s·2^7 = 64m is over. The jitter applies after the
	// cap, so a capped delay lies in [48m, 72m).
	tests := []struct {
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{7, 0.5, 32 * time.Minute},
		{8, 0, 48 * time.Minute},
		{8, 0.5, time.Hour},
		{8, 0.999, 71*time.Minute + 58560*time.Millisecond},
		{19, 0.5, time.Hour},
		{19, 0, 48 * time.Minute},
	}
	for _, tc := range tests {
		p := domain.RetryPolicy{MaxAttempts: 20, Backoff: 30 * time.Second, MaxBackoff: time.Hour, Jitter: fixedJitter(tc.jitter)}
		got := p.NextAttempt(tc.attempt, false, t0)
		require.NotNil(t, got)
		require.Equal(t, tc.want, got.Sub(t0), "attempt %d jitter %v", tc.attempt, tc.jitter)
	}
	p := domain.RetryPolicy{MaxAttempts: 20, Backoff: 30 * time.Second, MaxBackoff: time.Hour, Jitter: fixedJitter(0.5)}
	require.Nil(t, p.NextAttempt(20, false, t0))
}

func TestNextAttemptEdges(t *testing.T) {
	t.Parallel()
	t.Run("no cap", func(t *testing.T) {
		t.Parallel()
		p := domain.RetryPolicy{MaxAttempts: 10, Backoff: time.Second, Jitter: fixedJitter(0.5)}
		require.Equal(t, 256*time.Second, p.NextAttempt(9, false, t0).Sub(t0))
	})
	t.Run("no attempts at all", func(t *testing.T) {
		t.Parallel()
		p := domain.RetryPolicy{Backoff: time.Second, Jitter: fixedJitter(0.5)}
		require.Nil(t, p.NextAttempt(1, false, t0))
	})
	t.Run("default jitter stays within 20%", func(t *testing.T) {
		t.Parallel()
		p := domain.RetryPolicy{MaxAttempts: 5, Backoff: 10 * time.Second, MaxBackoff: time.Hour}
		for range 200 {
			d := p.NextAttempt(2, false, t0).Sub(t0)
			require.GreaterOrEqual(t, d, 16*time.Second)
			require.Less(t, d, 24*time.Second)
		}
	})
}
