package mysql

import (
	"context"
	"time"
)

// SkewLocalClock makes s believe its machine's clock is off by skew, and
// re-measures the database's clock with it.
func SkewLocalClock(s *Store, skew time.Duration) error {
	s.clock.local = func() time.Time { return time.Now().Add(skew) }
	return s.syncClock(context.Background())
}
