package domain

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// ChangeStore lists the tasks changed since a time: what the change feed
// polls.
type ChangeStore interface {
	// ChangedSince lists tasks changed after the change (since, afterID),
	// oldest change first: UpdatedAt after since, or at since with an id
	// above afterID (afterID 0: every task updated at or after since),
	// ordered by UpdatedAt then id, at most limit of them. Times compare
	// at the store's precision (the SQL stores keep microseconds).
	ChangedSince(ctx context.Context, since time.Time, afterID int64, limit int) ([]*Task, error)
}

// Changes is one replica's feed of task changes for live pages (SSE). It
// polls the database, not an in-process signal, because the change may
// have been made by a worker or by another replica: every dc-api polls on
// its own, once per tick whatever the number of subscribers, and hands
// each changed task to the subscribers whose actor sees it (Actor.Sees:
// the same scoping as every read).
//
// A transaction that commits late may carry an UpdatedAt older than rows
// already seen, so each poll looks Slack back past the newest change seen
// and drops what it already delivered.
type Changes struct {
	Store ChangeStore
	// Now is the clock UpdatedAt is written with (the database's).
	Now   Clock
	Every time.Duration
	// Slack is how far each poll looks back; default 3 s.
	Slack time.Duration
	// Batch bounds one query; default 500.
	Batch int
	// FileTTL fills in when a delivered task's file expires, as reads do.
	FileTTL time.Duration
	Log     *slog.Logger

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	cursor time.Time
	// sent is what was delivered in the look-back window: task id → the
	// UpdatedAt delivered.
	sent map[int64]time.Time
}

// Subscription receives the changes one actor may see.
type Subscription struct {
	actor Actor
	// C carries changed tasks; it is never closed (Unsubscribe stops it).
	C chan *Task
	// Lost is signalled when changes were dropped because C was full:
	// the subscriber should reload what it shows.
	Lost chan struct{}
}

// subscriptionBuffer is how many changes wait for a slow subscriber
// before further ones are dropped (and Lost is signalled).
const subscriptionBuffer = 256

// Subscribe starts delivering the changes a may see; it needs the read
// scope.
func (c *Changes) Subscribe(a Actor) (*Subscription, error) {
	if err := a.require(ScopeRead); err != nil {
		return nil, err
	}
	s := &Subscription{actor: a, C: make(chan *Task, subscriptionBuffer), Lost: make(chan struct{}, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.subs == nil {
		c.subs = map[*Subscription]struct{}{}
	}
	c.subs[s] = struct{}{}
	return s, nil
}

// Unsubscribe stops deliveries to s.
func (c *Changes) Unsubscribe(s *Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.subs, s)
}

// Run polls every Every until ctx ends. It queries nothing while no one
// subscribes.
func (c *Changes) Run(ctx context.Context) {
	t := time.NewTicker(c.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Poll(ctx); err != nil && ctx.Err() == nil {
				c.Log.Warn("poll task changes", "err", err)
			}
		}
	}
}

// Poll delivers the changes since the last poll. The first poll with a
// subscriber starts from now (less Slack): subscribers load what exists
// themselves, and then follow its changes.
func (c *Changes) Poll(ctx context.Context) error {
	c.mu.Lock()
	idle := len(c.subs) == 0
	if idle {
		c.cursor, c.sent = time.Time{}, nil
	}
	start := c.cursor.IsZero()
	if start {
		c.cursor, c.sent = c.Now(), map[int64]time.Time{}
	}
	cursor := c.cursor
	c.mu.Unlock()
	if idle {
		return nil
	}
	slack, batch := c.Slack, c.Batch
	if slack <= 0 {
		slack = 3 * time.Second
	}
	if batch <= 0 {
		batch = 500
	}
	since, afterID := cursor.Add(-slack), int64(0)
	// A full batch means more changed than one query holds: continue after
	// its last change, a few times at most per tick.
	for range 10 {
		ts, err := c.Store.ChangedSince(ctx, since, afterID, batch)
		if err != nil {
			return err
		}
		c.deliver(ts)
		if len(ts) < batch {
			break
		}
		since, afterID = ts[len(ts)-1].UpdatedAt, ts[len(ts)-1].ID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, at := range c.sent {
		if at.Before(c.cursor.Add(-slack)) {
			delete(c.sent, id)
		}
	}
	return nil
}

func (c *Changes) deliver(ts []*Task) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range ts {
		if at, ok := c.sent[t.ID]; ok && t.UpdatedAt.Equal(at) {
			continue
		}
		c.sent[t.ID] = t.UpdatedAt
		if t.UpdatedAt.After(c.cursor) {
			c.cursor = t.UpdatedAt
		}
		for s := range c.subs {
			if !s.actor.Sees(t) {
				continue
			}
			cp := *t
			if t.File != nil {
				f := *t.File
				cp.File = &f
			}
			withFileExpiry(&cp, c.FileTTL)
			select {
			case s.C <- &cp:
			default:
				select {
				case s.Lost <- struct{}{}:
				default:
				}
			}
		}
	}
}
