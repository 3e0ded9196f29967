package domain

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// SentBatcher records sent intents in batches: one UPDATE for every
// intent sent in an interval instead of one per create, which halves the
// database writes on the create path. A mark lost to a crash only means
// the scheduler sends that intent again, and a duplicate intent is
// harmless. Tasks uses it through its MarkSent method; Run flushes.
type SentBatcher struct {
	Store interface {
		MarkSentMany(ctx context.Context, marks []SentMark) error
	}
	// Every is the flush interval; keep it well under the scheduler's
	// UnsentAfter so pending marks do not cause re-sends.
	Every time.Duration
	Log   *slog.Logger

	mu    sync.Mutex
	marks []SentMark
}

// maxPendingMarks bounds the marks kept while the database is down; past
// it, marks are dropped and the scheduler re-sends those intents.
const maxPendingMarks = 100_000

// MarkSent queues the mark; it never blocks on the database. The mark
// keeps its send time: a task handed back after it (within the flush
// interval) has no intent in flight, and the store skips it.
func (b *SentBatcher) MarkSent(_ context.Context, id int64, at time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.marks) < maxPendingMarks {
		b.marks = append(b.marks, SentMark{TaskID: id, At: at})
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes what is left.
func (b *SentBatcher) Run(ctx context.Context) {
	tick := time.NewTicker(b.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Flush(ctx)
			return
		case <-tick.C:
			b.Flush(ctx)
		}
	}
}

// Flush writes the pending marks, in chunks of a size one statement
// handles well. A failure is logged: those tasks are re-sent later. The
// write outlives ctx's cancellation (bounded to 5 s): marks taken from the
// queue must not be lost to a stop arriving mid-flush.
func (b *SentBatcher) Flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b.mu.Lock()
	marks := b.marks
	b.marks = nil
	b.mu.Unlock()
	for len(marks) > 0 {
		n := min(len(marks), 500)
		if err := b.Store.MarkSentMany(ctx, marks[:n]); err != nil {
			b.Log.Warn("record intents sent; the scheduler will send them again", "count", len(marks), "err", err)
			return
		}
		marks = marks[n:]
	}
}
