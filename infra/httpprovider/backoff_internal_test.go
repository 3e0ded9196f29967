package httpprovider

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		base     time.Duration
		try      int
		after    time.Duration
		min, max time.Duration
	}{
		{name: "first retry", base: 200 * time.Millisecond, try: 0, min: 100 * time.Millisecond, max: 200 * time.Millisecond},
		{name: "third retry doubles twice", base: 200 * time.Millisecond, try: 2, min: 400 * time.Millisecond, max: 800 * time.Millisecond},
		{name: "capped", base: 200 * time.Millisecond, try: 9, min: MaxBackoff / 2, max: MaxBackoff},
		{name: "huge try does not overflow", base: 200 * time.Millisecond, try: 1000, min: MaxBackoff / 2, max: MaxBackoff},
		{name: "retry-after raises the wait", base: 200 * time.Millisecond, try: 0, after: 3 * time.Second, min: 3 * time.Second, max: 3 * time.Second},
		{name: "retry-after is capped", base: 200 * time.Millisecond, try: 0, after: time.Hour, min: MaxBackoff, max: MaxBackoff},
		{name: "a longer backoff raises the cap", base: time.Minute, try: 3, min: 30 * time.Second, max: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &Provider{set: settings{backoff: tt.base}}
			for range 100 {
				d := p.backoff(tt.try, tt.after)
				require.GreaterOrEqual(t, d, tt.min)
				require.LessOrEqual(t, d, tt.max)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
	}{
		{in: "", want: 0},
		{in: "3", want: 3 * time.Second},
		{in: " 3 ", want: 3 * time.Second},
		{in: "0", want: 0},
		{in: "-5", want: 0},
		{in: "99999999999999999999", want: 0},
		{in: "86400", want: MaxBackoff + time.Second},
		{in: "Wed, 21 Oct 2026 07:28:00 GMT", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, retryAfter(tt.in))
		})
	}
}
