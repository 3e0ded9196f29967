package domain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// discardingFiles is a store that tracks unfinished files by name, as the
// bucket's multipart uploads are.
type discardingFiles struct {
	*fakeFiles
	mu        sync.Mutex
	discarded []string
}

func (d *discardingFiles) DiscardPending(_ context.Context, name string) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.discarded = append(d.discarded, name)
	return 1, nil
}

// When the scheduler takes an attempt from a dead worker, or retries a
// failed one, what that attempt left is dropped at once: its unfinished
// upload and a file it committed but never recorded.
func TestSweepDiscardsTheFilesOfEndedAttempts(t *testing.T) {
	t.Parallel()
	e := newSchedEnv()
	files := &discardingFiles{fakeFiles: e.files}
	e.sched.Files = files
	rescued := e.put(runningUntil(t0.Add(-time.Second), 2))
	live := e.put(runningUntil(t0.Add(time.Minute), 1))
	retried := e.put(failedAt(ptr(t0.Add(-time.Second))))
	// The dead worker of the rescued attempt had committed its file.
	task, err := e.store.Get(context.Background(), rescued)
	require.NoError(t, err)
	p, err := e.files.Create(domain.FileName(task))
	require.NoError(t, err)
	_, err = p.Commit()
	require.NoError(t, err)

	e.sweep(t)

	name := func(id int64, attempt int) string {
		return domain.FileName(&domain.Task{ID: id, Attempts: attempt, Format: domain.FormatXLSX})
	}
	require.ElementsMatch(t, []string{name(rescued, 2), name(retried, 1)}, files.discarded)
	require.NotContains(t, files.discarded, name(live, 1), "a live attempt keeps its upload")
	require.Equal(t, []string{name(rescued, 2)}, e.files.state().Removed)
}
