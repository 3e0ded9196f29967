package localfs_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/localfs"
)

func TestCommitIsAtomicAndAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := localfs.New(dir)
	require.NoError(t, err)

	p, err := s.Create("task-1-1.csv")
	require.NoError(t, err)
	_, err = p.Write([]byte("hello"))
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, "task-1-1.csv"))
	require.ErrorIs(t, err, os.ErrNotExist, "invisible until committed")
	size, err := p.Commit()
	require.NoError(t, err)
	require.Equal(t, int64(5), size)
	_, err = p.Commit()
	require.Error(t, err, "only once")

	f, _, err := s.Open("task-1-1.csv")
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, "hello", string(b))

	q, err := s.Create("task-2-1.xlsx")
	require.NoError(t, err)
	_, err = q.Write([]byte("partial"))
	require.NoError(t, err)
	require.NoError(t, q.Abort())
	tmp, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	require.NoError(t, err)
	require.Empty(t, tmp)
	_, _, err = s.Open("task-2-1.xlsx")
	require.Error(t, err)

	require.NoError(t, s.Remove("task-1-1.csv"))
	require.NoError(t, s.Remove("task-1-1.csv"), "removing a missing file is fine")
}

func TestNamesCannotEscape(t *testing.T) {
	t.Parallel()
	s, err := localfs.New(t.TempDir())
	require.NoError(t, err)
	for _, name := range []string{"", "../x", "a/b", `a\b`, ".tmp", ".hidden"} {
		_, err := s.Create(name)
		require.Error(t, err, name)
		_, _, err = s.Open(name)
		require.Error(t, err, name)
		require.Error(t, s.Remove(name), name)
	}
}

func TestRemoveStaleTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := localfs.New(dir)
	require.NoError(t, err)
	old, err := s.Create("task-1-1.csv")
	require.NoError(t, err)
	_, err = old.Write([]byte("x"))
	require.NoError(t, err)
	fresh, err := s.Create("task-2-1.csv")
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dir, ".tmp"))
	require.NoError(t, err)
	require.Len(t, entries, 2)
	// Age the first temp file as if its writer died two hours ago.
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".part" && e.Name()[:11] == "task-1-1.cs" {
			past := time.Now().Add(-2 * time.Hour)
			require.NoError(t, os.Chtimes(filepath.Join(dir, ".tmp", e.Name()), past, past))
		}
	}
	n, err := s.RemoveStaleTemp(time.Hour)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = fresh.Commit()
	require.NoError(t, err, "the live writer's file survives")
}
