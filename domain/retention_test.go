package domain_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// retentionStore is a RetentionStore over a list of tasks.
type retentionStore struct {
	tasks   map[int64]*domain.Task
	deleted []int64
}

func (s *retentionStore) ExpiredFiles(_ context.Context, before time.Time, limit int) ([]*domain.Task, error) {
	var out []*domain.Task
	for _, t := range s.tasks {
		if t.Status == domain.StatusSuccess && t.File != nil && t.File.RemovedAt == nil && t.FinishedAt.Before(before) && len(out) < limit {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *retentionStore) MarkFileRemoved(_ context.Context, id int64, _ int, at time.Time) error {
	s.tasks[id].File.RemovedAt = &at
	return nil
}

func (s *retentionStore) OldTasks(_ context.Context, before time.Time, limit int) ([]*domain.Task, error) {
	var out []*domain.Task
	for _, t := range s.tasks {
		if t.CreatedAt.Before(before) && t.Status == domain.StatusCancelled && len(out) < limit {
			out = append(out, t)
		}
	}
	return out, nil
}

func (s *retentionStore) DeleteFinished(_ context.Context, id int64) (bool, error) {
	delete(s.tasks, id)
	s.deleted = append(s.deleted, id)
	return true, nil
}

func (s *retentionStore) ReferencedFiles(_ context.Context, names []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range s.tasks {
		for _, n := range names {
			if t.File != nil && t.File.RemovedAt == nil && t.File.Name == n {
				out[n] = true
			}
		}
	}
	return out, nil
}

type listedFiles struct{ f *fakeFiles }

func (l listedFiles) FilesBefore(time.Time) ([]string, error) {
	var out []string
	for n := range l.f.state().Committed {
		out = append(out, n)
	}
	return out, nil
}

func TestRetentionSweep(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	files := newFakeFiles()
	for _, n := range []string{"old.csv", "fresh.csv", "orphan.csv", "cancelled.csv"} {
		pf, err := files.Create(n)
		require.NoError(t, err)
		_, err = pf.Commit()
		require.NoError(t, err)
	}
	long, recent := t0.Add(-2*time.Hour), t0.Add(-time.Minute)
	store := &retentionStore{tasks: map[int64]*domain.Task{
		1: {ID: 1, Status: domain.StatusSuccess, FinishedAt: &long, CreatedAt: long, File: &domain.FileInfo{Name: "old.csv"}},
		2: {ID: 2, Status: domain.StatusSuccess, FinishedAt: &recent, CreatedAt: recent, File: &domain.FileInfo{Name: "fresh.csv"}},
		3: {ID: 3, Status: domain.StatusCancelled, CreatedAt: t0.Add(-48 * time.Hour), File: &domain.FileInfo{Name: "cancelled.csv"}},
	}}
	r := &domain.Retention{Store: store, Files: files, Lister: listedFiles{files}, FileTTL: time.Hour, TaskTTL: 24 * time.Hour,
		OrphanGrace: time.Hour, Batch: 10, Now: clock.Now, Log: discardLog}
	require.NoError(t, r.Sweep(context.Background()))
	left := files.state().Committed
	require.NotContains(t, left, "old.csv", "expired")
	require.NotNil(t, store.tasks[1].File.RemovedAt)
	require.Contains(t, left, "fresh.csv", "not yet expired")
	require.NotContains(t, left, "cancelled.csv", "deleted with its old task")
	require.Equal(t, []int64{3}, store.deleted)
	require.NotContains(t, left, "orphan.csv", "no task references it")
	require.Len(t, left, 1)
}
