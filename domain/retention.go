package domain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"
)

// RetentionStore is what retention reads and changes.
type RetentionStore interface {
	// ExpiredFiles lists SUCCESS tasks finished before the given time whose
	// file is still kept, oldest first.
	ExpiredFiles(ctx context.Context, finishedBefore time.Time, limit int) ([]*Task, error)
	// MarkFileRemoved records that the file of the task's attempt is gone.
	MarkFileRemoved(ctx context.Context, id int64, attempt int, at time.Time) error
	// OldTasks lists finished tasks (SUCCESS, CANCELLED, FAILED for good)
	// created before the given time, oldest first.
	OldTasks(ctx context.Context, createdBefore time.Time, limit int) ([]*Task, error)
	// DeleteFinished deletes a task row unless it started again meanwhile;
	// it reports whether it did.
	DeleteFinished(ctx context.Context, id int64) (bool, error)
	// ReferencedFiles returns which of the names a task's kept file holds.
	ReferencedFiles(ctx context.Context, names []string) (map[string]bool, error)
}

// FileLister lists the finished files of a store last modified before a
// time (temporary files are not listed).
type FileLister interface {
	FilesBefore(before time.Time) ([]string, error)
}

// orphanScanEvery is how often the volume is listed for orphaned files:
// a listing reads every name, so it is not done on every sweep.
const orphanScanEvery = 10 * time.Minute

// Retention deletes what is kept no longer: files FileTTL after their task
// finished, task rows (and files) TaskTTL after they were created, and
// files no task references (a run whose outcome was never recorded)
// OrphanGrace after they were written. Every pass handles at most Batch
// of each, so one sweep stays short however much is due.
type Retention struct {
	Store RetentionStore
	Files FileStore
	// Lister finds orphaned files; nil skips that job.
	Lister      FileLister
	FileTTL     time.Duration
	TaskTTL     time.Duration
	OrphanGrace time.Duration
	Batch       int
	Now         Clock
	Log         *slog.Logger

	lastOrphanScan time.Time
}

// Sweep runs one pass of each job and returns their errors joined.
func (r *Retention) Sweep(ctx context.Context) error {
	return errors.Join(r.expireFiles(ctx), r.deleteOldTasks(ctx), r.removeOrphans(ctx))
}

func (r *Retention) remove(name string) error {
	if err := r.Files.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func (r *Retention) expireFiles(ctx context.Context) error {
	if r.FileTTL <= 0 {
		return nil
	}
	now := r.Now()
	ts, err := r.Store.ExpiredFiles(ctx, now.Add(-r.FileTTL), r.Batch)
	if err != nil {
		return fmt.Errorf("list expired files: %w", err)
	}
	for _, t := range ts {
		// Marked first: a download that sees the mark answers 410 rather
		// than failing halfway through a file being removed.
		if err := r.Store.MarkFileRemoved(ctx, t.ID, t.Attempts, now); err != nil {
			if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
				continue
			}
			return fmt.Errorf("mark file of task %d removed: %w", t.ID, err)
		}
		if err := r.remove(t.File.Name); err != nil {
			return fmt.Errorf("remove file of task %d: %w", t.ID, err)
		}
		r.Log.Info("file expired and removed", "task_id", t.ID, "file", t.File.Name)
	}
	return nil
}

func (r *Retention) deleteOldTasks(ctx context.Context) error {
	if r.TaskTTL <= 0 {
		return nil
	}
	ts, err := r.Store.OldTasks(ctx, r.Now().Add(-r.TaskTTL), r.Batch)
	if err != nil {
		return fmt.Errorf("list old tasks: %w", err)
	}
	for _, t := range ts {
		ok, err := r.Store.DeleteFinished(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("delete task %d: %w", t.ID, err)
		}
		if !ok {
			continue
		}
		if t.File != nil && t.File.RemovedAt == nil {
			if err := r.remove(t.File.Name); err != nil {
				return fmt.Errorf("remove file of deleted task %d: %w", t.ID, err)
			}
		}
		r.Log.Info("old task deleted", "task_id", t.ID, "created_at", t.CreatedAt)
	}
	return nil
}

func (r *Retention) removeOrphans(ctx context.Context) error {
	now := r.Now()
	if r.Lister == nil || r.OrphanGrace <= 0 || now.Sub(r.lastOrphanScan) < min(orphanScanEvery, r.OrphanGrace) {
		return nil
	}
	r.lastOrphanScan = now
	names, err := r.Lister.FilesBefore(now.Add(-r.OrphanGrace))
	if err != nil {
		return fmt.Errorf("list files: %w", err)
	}
	removed := 0
	for len(names) > 0 && removed < r.Batch {
		chunk := names[:min(len(names), 500)]
		names = names[len(chunk):]
		refs, err := r.Store.ReferencedFiles(ctx, chunk)
		if err != nil {
			return fmt.Errorf("look up files: %w", err)
		}
		for _, n := range chunk {
			if refs[n] || removed >= r.Batch {
				continue
			}
			if err := r.remove(n); err != nil {
				return fmt.Errorf("remove orphaned file %s: %w", n, err)
			}
			removed++
			r.Log.Info("orphaned file removed", "file", n)
		}
	}
	return nil
}
