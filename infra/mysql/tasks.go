package mysql

import (
	"context"
	"errors"
	"fmt"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/downloadcenter/dc/domain"
)

// Create stores a new task. A reused idempotency key returns the task
// that holds it and domain.ErrDuplicateKey.
func (s *Store) Create(ctx context.Context, t *domain.Task) (*domain.Task, error) {
	if t.IdempotencyKey != "" {
		if old, err := s.byKey(ctx, t.Tenant, t.IdempotencyKey); err == nil {
			return old, domain.ErrDuplicateKey
		} else if !errors.Is(err, domain.ErrNotFound) {
			return nil, err
		}
	}
	r, err := toRow(t)
	if err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		// Two creates with one key raced: the unique index let one in.
		if t.IdempotencyKey != "" {
			if old, kerr := s.byKey(ctx, t.Tenant, t.IdempotencyKey); kerr == nil {
				return old, domain.ErrDuplicateKey
			}
		}
		return nil, fmt.Errorf("insert task: %w", err)
	}
	return fromRow(r)
}

func (s *Store) byKey(ctx context.Context, tenant, key string) (*domain.Task, error) {
	var r taskRow
	err := s.db.WithContext(ctx).Where("tenant = ? AND idempotency_key = ?", tenant, key).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("find task by idempotency key: %w", err)
	}
	return fromRow(&r)
}

// Get returns one task.
func (s *Store) Get(ctx context.Context, id int64) (*domain.Task, error) {
	var r taskRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("select task: %w", err)
	}
	return fromRow(&r)
}

// List returns tasks newest first, continuing below q.BeforeID.
func (s *Store) List(ctx context.Context, q domain.ListQuery) ([]*domain.Task, error) {
	db := s.db.WithContext(ctx).Model(&taskRow{}).Where("tenant = ?", q.Tenant)
	if q.Owner != "" {
		db = db.Where("owner = ?", q.Owner)
	}
	if q.Status != "" {
		db = db.Where("status = ?", string(q.Status))
	}
	if q.Type != "" {
		db = db.Where("type = ?", q.Type)
	}
	if q.BeforeID > 0 {
		db = db.Where("id < ?", q.BeforeID)
	}
	return s.find(db.Order("id DESC").Limit(q.Limit))
}

func (s *Store) find(db *gorm.DB) ([]*domain.Task, error) {
	var rows []taskRow
	if err := db.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("select tasks: %w", err)
	}
	out := make([]*domain.Task, len(rows))
	for i := range rows {
		t, err := fromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// apply runs one transition as a single conditional UPDATE. cond narrows
// the WHERE clause further (the owner, a due time). No row changed means
// the task is gone or no longer where the transition starts.
func (s *Store) apply(ctx context.Context, id int64, tr domain.Transition, cond func(*gorm.DB) *gorm.DB, set map[string]any, now time.Time) error {
	set["status"] = string(tr.To)
	set["updated_at"] = now.UTC()
	where := func(db *gorm.DB) *gorm.DB {
		db = db.Where("id = ? AND status IN ?", id, statuses(tr.From))
		if cond != nil {
			db = cond(db)
		}
		return db
	}
	var n int64
	var err error
	if mayFinish(tr.To) {
		// The outbox rows of the event this may cause go in the same
		// transaction as the change: recorded if and only if it is.
		n, err = s.updateReporting(ctx, id, where, set, now)
	} else {
		n, err = s.update(ctx, where, set)
	}
	if err != nil {
		return fmt.Errorf("%s task %d: %w", tr.Name, id, err)
	}
	if n == 0 {
		return s.missing(ctx, id)
	}
	return nil
}

// update runs one UPDATE of tasks, again when InnoDB picked it as a
// deadlock victim: conditional updates racing for one row (claims of a
// duplicated intent, a cancel beside a heartbeat) can deadlock on the
// row's secondary-index entries, and re-running is the documented cure.
// The statement is conditional, so re-running it is safe.
func (s *Store) update(ctx context.Context, where func(*gorm.DB) *gorm.DB, set map[string]any) (int64, error) {
	for attempt := 1; ; attempt++ {
		res := where(s.db.WithContext(ctx).Model(&taskRow{})).Updates(set)
		if res.Error == nil || !isDeadlock(res.Error) || attempt == maxDeadlockRetries {
			return res.RowsAffected, res.Error
		}
		select {
		case <-ctx.Done():
			return 0, res.Error
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

// updateReporting is update in a transaction that also writes the outbox
// rows (webhooks.go) of the event the change causes, if any.
func (s *Store) updateReporting(ctx context.Context, id int64, where func(*gorm.DB) *gorm.DB, set map[string]any, now time.Time) (int64, error) {
	for attempt := 1; ; attempt++ {
		var n int64
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			res := where(tx.Model(&taskRow{})).Updates(set)
			if res.Error != nil {
				return res.Error
			}
			if n = res.RowsAffected; n == 0 {
				return nil
			}
			return writeOutbox(tx, id, now)
		})
		if err == nil || !isDeadlock(err) || attempt == maxDeadlockRetries {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(time.Duration(attempt*attempt) * 5 * time.Millisecond):
		}
	}
}

// mayFinish reports whether a transition to status to can leave a task
// done (and so cause an event).
func mayFinish(to domain.Status) bool {
	return to == domain.StatusSuccess || to == domain.StatusFailed || to == domain.StatusCancelled
}

// maxDeadlockRetries bounds the re-runs of a deadlocked update.
const maxDeadlockRetries = 5

// isDeadlock reports MySQL's ER_LOCK_DEADLOCK.
func isDeadlock(err error) bool {
	var me *mysqldriver.MySQLError
	return errors.As(err, &me) && me.Number == 1213
}

// missing tells a vanished task from one that moved on.
func (s *Store) missing(ctx context.Context, id int64) error {
	var n int64
	if err := s.db.WithContext(ctx).Model(&taskRow{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return fmt.Errorf("look up task %d: %w", id, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return domain.ErrLostRace
}

// owned narrows an update to the attempt o holds.
func owned(o domain.Owner) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("worker_id = ? AND attempts = ?", o.Worker, o.Attempt)
	}
}

// Claim takes a waiting task for worker.
func (s *Store) Claim(ctx context.Context, id int64, worker string, now, leaseUntil time.Time) (*domain.Task, error) {
	err := s.apply(ctx, id, domain.Claim, nil, map[string]any{
		"attempts": gorm.Expr("attempts + 1"), "worker_id": worker, "lease_until": leaseUntil.UTC(),
		"started_at": now.UTC(), "finished_at": nil, "cancel_requested": false, "next_attempt_at": nil,
		"rows_written": 0, // rows_total stays: the count taken at create, or the last attempt's
	}, now)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Heartbeat saves progress and renews the lease. The common case is one
// UPDATE; only when it misses is the row read to tell a cancel request
// from a lost task.
func (s *Store) Heartbeat(ctx context.Context, o domain.Owner, p domain.Progress, now time.Time) (bool, error) {
	n, err := s.update(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ? AND status = ? AND worker_id = ? AND attempts = ? AND cancel_requested = ?",
			o.TaskID, string(domain.StatusExecuting), o.Worker, o.Attempt, false)
	}, map[string]any{
		"rows_written": p.RowsWritten, "rows_total": p.RowsTotal,
		"lease_until": p.LeaseUntil.UTC(), "updated_at": now.UTC(),
	})
	if err != nil {
		return false, fmt.Errorf("heartbeat task %d: %w", o.TaskID, err)
	}
	if n == 1 {
		return false, nil
	}
	t, err := s.Get(ctx, o.TaskID)
	if err != nil {
		return false, err
	}
	if t.Status == domain.StatusExecuting && t.WorkerID == o.Worker && t.Attempts == o.Attempt && t.CancelRequested {
		return true, nil
	}
	return false, domain.ErrLostRace
}

// Succeed records the finished file.
func (s *Store) Succeed(ctx context.Context, o domain.Owner, f domain.FileInfo, now time.Time) error {
	return s.apply(ctx, o.TaskID, domain.Succeed, owned(o), map[string]any{
		"file_name": f.Name, "file_size": f.Size, "file_rows": f.Rows, "file_sheets": f.Sheets, "file_removed_at": nil,
		"rows_written": f.Rows, "rows_total": f.Rows, "finished_at": now.UTC(), "lease_until": nil, "error": "",
		"permanent": false, "next_attempt_at": nil, "cancel_requested": false,
	}, now)
}

// Fail records a failed attempt.
func (s *Store) Fail(ctx context.Context, o domain.Owner, f domain.Failure, now time.Time) error {
	return s.apply(ctx, o.TaskID, domain.Fail, owned(o), map[string]any{
		"error": truncate(f.Message), "permanent": f.Permanent, "next_attempt_at": utc(f.NextAttemptAt),
		"finished_at": now.UTC(), "lease_until": nil,
	}, now)
}

// CancelRunning records that the owner stopped at a user's request.
func (s *Store) CancelRunning(ctx context.Context, o domain.Owner, now time.Time) error {
	return s.apply(ctx, o.TaskID, domain.CancelRunning, owned(o), map[string]any{
		"finished_at": now.UTC(), "lease_until": nil, "cancel_requested": false,
	}, now)
}

// Release hands the owner's task back to the queue.
// It refuses a task whose cancel was requested, which must end CANCELLED,
// and gives back the attempt its claim counted.
func (s *Store) Release(ctx context.Context, o domain.Owner, reason string, now time.Time) error {
	set := requeued(reason)
	set["attempts"] = gorm.Expr("attempts - 1")
	cond := func(db *gorm.DB) *gorm.DB { return owned(o)(db).Where("cancel_requested = ?", false) }
	return s.apply(ctx, o.TaskID, domain.Release, cond, set, now)
}

// requeued is what a task going back to the queue has reset.
func requeued(reason string) map[string]any {
	return map[string]any{
		"error": truncate(reason), "permanent": false, "lease_until": nil, "intent_sent_at": nil, "cancel_requested": false,
		"next_attempt_at": nil, "finished_at": nil, "rows_written": 0, "rows_total": -1,
	}
}

// Cancel cancels a waiting task (queued, or FAILED awaiting its automatic
// retry), or flags a running one for its worker.
func (s *Store) Cancel(ctx context.Context, id int64, now time.Time) (*domain.Task, error) {
	waiting := func(db *gorm.DB) *gorm.DB {
		return db.Where("status = ? OR next_attempt_at IS NOT NULL", string(domain.StatusNotExecuted))
	}
	err := s.apply(ctx, id, domain.CancelWaiting, waiting, map[string]any{"finished_at": now.UTC(), "next_attempt_at": nil}, now)
	if errors.Is(err, domain.ErrLostRace) {
		n, uerr := s.update(ctx, func(db *gorm.DB) *gorm.DB {
			return db.Where("id = ? AND status = ?", id, string(domain.StatusExecuting))
		}, map[string]any{"cancel_requested": true, "updated_at": now.UTC()})
		switch {
		case uerr != nil:
			err = fmt.Errorf("request cancel of task %d: %w", id, uerr)
		case n == 1:
			err = nil
		}
	}
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

// Retry sends a failed or cancelled task back to the queue.
func (s *Store) Retry(ctx context.Context, id int64, dueOnly bool, now time.Time) error {
	var cond func(*gorm.DB) *gorm.DB
	set := requeued("")
	if dueOnly {
		cond = func(db *gorm.DB) *gorm.DB {
			return db.Where("status = ? AND next_attempt_at <= ?", string(domain.StatusFailed), now.UTC())
		}
		delete(set, "error") // keep the last error visible while it waits
	}
	return s.apply(ctx, id, domain.Retry, cond, set, now)
}

// Remake sends a SUCCESS task whose file is gone back to the queue.
func (s *Store) Remake(ctx context.Context, id int64, now time.Time) error {
	set := requeued("")
	set["file_name"], set["file_removed_at"] = nil, nil
	return s.apply(ctx, id, domain.Remake, nil, set, now)
}

// MarkSent records that a waiting task's intent went out.
func (s *Store) MarkSent(ctx context.Context, id int64, at time.Time) error {
	n, err := s.update(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Where("id = ? AND status = ? AND updated_at <= ?", id, string(domain.StatusNotExecuted), at.UTC())
	}, map[string]any{"intent_sent_at": at.UTC()})
	if err != nil {
		return fmt.Errorf("mark intent of task %d sent: %w", id, err)
	}
	if n == 0 {
		return s.missing(ctx, id)
	}
	return nil
}

// MarkSentMany records that the intents of many waiting tasks went out,
// each only if the task was not changed after its intent was sent. The
// marks are grouped by send time (a batch holds few distinct ones), one
// UPDATE each.
func (s *Store) MarkSentMany(ctx context.Context, marks []domain.SentMark) error {
	byTime := map[time.Time][]int64{}
	var order []time.Time
	for _, m := range marks {
		at := m.At.UTC().Truncate(time.Microsecond)
		if _, ok := byTime[at]; !ok {
			order = append(order, at)
		}
		byTime[at] = append(byTime[at], m.TaskID)
	}
	for _, at := range order {
		ids := byTime[at]
		_, err := s.update(ctx, func(db *gorm.DB) *gorm.DB {
			return db.Where("id IN ? AND status = ? AND updated_at <= ?", ids, string(domain.StatusNotExecuted), at)
		}, map[string]any{"intent_sent_at": at})
		if err != nil {
			return fmt.Errorf("mark %d intents sent: %w", len(marks), err)
		}
	}
	return nil
}

// DueRetries lists failed tasks whose next attempt is due, oldest due first.
func (s *Store) DueRetries(ctx context.Context, now time.Time, limit int) ([]*domain.Task, error) {
	return s.find(s.db.WithContext(ctx).
		Where("status = ? AND next_attempt_at <= ?", string(domain.StatusFailed), now.UTC()).
		Order("next_attempt_at").Limit(limit))
}

// ExpiredLeases lists running tasks whose lease lapsed.
func (s *Store) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*domain.Task, error) {
	return s.find(s.db.WithContext(ctx).
		Where("status = ? AND lease_until < ?", string(domain.StatusExecuting), now.UTC()).
		Order("lease_until").Limit(limit))
}

// Unsent lists waiting tasks whose intent is missing or stale. The
// scheduler's form (zero sentBefore) reads idx_tasks_status_sent: only
// the never-sent rows, in id order, however long the backlog.
func (s *Store) Unsent(ctx context.Context, updatedBefore, sentBefore time.Time, limit int) ([]*domain.Task, error) {
	if sentBefore.IsZero() {
		return s.find(s.db.WithContext(ctx).
			Where("status = ? AND intent_sent_at IS NULL AND updated_at < ?", string(domain.StatusNotExecuted), updatedBefore.UTC()).
			Order("id").Limit(limit))
	}
	return s.find(s.db.WithContext(ctx).
		Where("status = ? AND updated_at < ? AND (intent_sent_at IS NULL OR intent_sent_at < ?)",
			string(domain.StatusNotExecuted), updatedBefore.UTC(), sentBefore.UTC()).
		Order("id").Limit(limit))
}

// Rescue takes a task from an owner whose lease lapsed.
func (s *Store) Rescue(ctx context.Context, o domain.Owner, to domain.Status, f domain.Failure, now time.Time) error {
	message := f.Message
	cond := func(db *gorm.DB) *gorm.DB {
		return owned(o)(db).Where("lease_until < ?", now.UTC())
	}
	switch to {
	case domain.StatusNotExecuted:
		return s.apply(ctx, o.TaskID, domain.Release, cond, requeued(message), now)
	case domain.StatusFailed:
		return s.apply(ctx, o.TaskID, domain.Fail, cond, map[string]any{
			"error": truncate(message), "permanent": false, "finished_at": now.UTC(), "lease_until": nil,
			"next_attempt_at": utc(f.NextAttemptAt),
		}, now)
	case domain.StatusCancelled:
		return s.apply(ctx, o.TaskID, domain.CancelRunning, cond, map[string]any{
			"finished_at": now.UTC(), "lease_until": nil, "cancel_requested": false,
		}, now)
	}
	return fmt.Errorf("rescue task %d: cannot move it to %s", o.TaskID, to)
}

func truncate(s string) string { return truncateAt(s, maxErrorLen) }

// truncateAt cuts s to at most n bytes, then an ellipsis.
func truncateAt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the column holds valid UTF-8.
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i] + "…"
}

// Waiting lists the ids of the oldest waiting tasks, from
// idx_tasks_status_id: what an idle worker claims from.
func (s *Store) Waiting(ctx context.Context, limit int) ([]int64, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Model(&taskRow{}).
		Where("status = ?", string(domain.StatusNotExecuted)).
		Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("list waiting tasks: %w", err)
	}
	return ids, nil
}

// ChangedSince lists tasks changed after (since, afterID), oldest change
// first, from idx_tasks_updated: what each replica's change feed polls.
func (s *Store) ChangedSince(ctx context.Context, since time.Time, afterID int64, limit int) ([]*domain.Task, error) {
	at := since.UTC()
	return s.find(s.db.WithContext(ctx).
		Where("updated_at > ? OR (updated_at = ? AND id > ?)", at, at, afterID).
		Order("updated_at, id").Limit(limit))
}
