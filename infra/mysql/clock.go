package mysql

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// clockResyncEvery is how often a MySQL store re-measures its offset to
// the database's clock.
const clockResyncEvery = time.Minute

// dbClock tells the database's time from the local clock and a measured
// offset. Lease and due times are written by one machine and compared by
// another (a worker renews lease_until, a dc-api replica's scheduler
// decides it lapsed); with every process on the database's clock, skew
// between machines cannot lapse a live lease or run a retry early.
type dbClock struct {
	local    func() time.Time
	offset   atomic.Int64 // database minus local, in ns
	syncedAt atomic.Int64 // local unix ns of the last measurement
	syncing  atomic.Bool
}

// Now is the database's current time, in UTC. The embedded SQLite store
// is one process on one clock: the local time.
func (s *Store) Now() time.Time {
	c := s.clock
	if c == nil {
		return time.Now().UTC()
	}
	now := c.local()
	if now.UnixNano()-c.syncedAt.Load() > int64(clockResyncEvery) && c.syncing.CompareAndSwap(false, true) {
		go func() {
			defer c.syncing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.syncClock(ctx) // on failure the last offset stays
		}()
	}
	return now.Add(time.Duration(c.offset.Load())).UTC()
}

// syncClock measures the offset of the database's clock, taking the
// local time half way through the round trip.
func (s *Store) syncClock(ctx context.Context) error {
	c := s.clock
	before := c.local()
	var db time.Time
	if err := s.db.WithContext(ctx).Raw("SELECT UTC_TIMESTAMP(6)").Scan(&db).Error; err != nil {
		return fmt.Errorf("read the database clock: %w", err)
	}
	after := c.local()
	mid := before.Add(after.Sub(before) / 2)
	c.offset.Store(int64(db.Sub(mid)))
	c.syncedAt.Store(after.UnixNano())
	return nil
}
