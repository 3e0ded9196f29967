// Package filestoretest is the behaviour every domain.FileStore shares
// (the local volume, the bucket), as one suite each store's tests run.
package filestoretest

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// Run runs the suite on stores from open; each subtest gets a fresh, empty
// store. big is the size of the large file written in pieces (it should
// span several of the store's write buffers or upload parts).
func Run(t *testing.T, big int, open func(t *testing.T) domain.FileStore) {
	t.Run("CommitIsAtomic", func(t *testing.T) {
		s := open(t)
		p, err := s.Create("task-1-1.csv")
		require.NoError(t, err)
		_, err = p.Write([]byte("hello"))
		require.NoError(t, err)
		_, _, err = s.Open("task-1-1.csv")
		require.ErrorIs(t, err, fs.ErrNotExist, "invisible until committed")
		size, err := p.Commit()
		require.NoError(t, err)
		require.Equal(t, int64(5), size)
		_, err = p.Commit()
		require.Error(t, err, "only once")
		require.NoError(t, p.Abort(), "abort after commit is a no-op")
		require.Equal(t, "hello", read(t, s, "task-1-1.csv"))
	})
	t.Run("BigFileInPieces", func(t *testing.T) {
		s := open(t)
		want := make([]byte, big)
		_, _ = rand.Read(want)
		p, err := s.Create("task-2-1.xlsx")
		require.NoError(t, err)
		for rest := want; len(rest) > 0; {
			n := min(len(rest), 64<<10+7) // pieces that do not divide a part
			k, err := p.Write(rest[:n])
			require.NoError(t, err)
			require.Equal(t, n, k)
			rest = rest[n:]
		}
		_, _, err = s.Open("task-2-1.xlsx")
		require.ErrorIs(t, err, fs.ErrNotExist, "no half file under the final name")
		size, err := p.Commit()
		require.NoError(t, err)
		require.Equal(t, int64(big), size)
		f, mod, err := s.Open("task-2-1.xlsx")
		require.NoError(t, err)
		defer f.Close()
		require.WithinDuration(t, time.Now(), mod, time.Hour)
		got, err := io.ReadAll(f)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got), "content read back")
		// Ranges, as http.ServeContent asks for them.
		end, err := f.Seek(0, io.SeekEnd)
		require.NoError(t, err)
		require.Equal(t, int64(big), end)
		_, err = f.Seek(int64(big/2), io.SeekStart)
		require.NoError(t, err)
		part := make([]byte, 1000)
		_, err = io.ReadFull(f, part)
		require.NoError(t, err)
		require.Equal(t, want[big/2:big/2+1000], part)
		_, err = f.Seek(10, io.SeekStart)
		require.NoError(t, err)
		_, err = io.ReadFull(f, part[:10])
		require.NoError(t, err)
		require.Equal(t, want[10:20], part[:10])
	})
	t.Run("AbortLeavesNothing", func(t *testing.T) {
		s := open(t)
		p, err := s.Create("task-3-1.csv")
		require.NoError(t, err)
		_, err = p.Write(make([]byte, big))
		require.NoError(t, err)
		require.NoError(t, p.Abort())
		require.NoError(t, p.Abort(), "twice is fine")
		_, err = p.Commit()
		require.Error(t, err, "no commit after abort")
		_, _, err = s.Open("task-3-1.csv")
		require.ErrorIs(t, err, fs.ErrNotExist)
		n, err := s.RemoveStaleTemp(0)
		require.NoError(t, err)
		require.Zero(t, n, "the abort left no temporary file")
	})
	t.Run("RemoveIsIdempotent", func(t *testing.T) {
		s := open(t)
		p, err := s.Create("task-4-1.csv")
		require.NoError(t, err)
		_, err = p.Commit()
		require.NoError(t, err)
		require.Equal(t, "", read(t, s, "task-4-1.csv"), "an empty file is a file")
		require.NoError(t, s.Remove("task-4-1.csv"))
		_, _, err = s.Open("task-4-1.csv")
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.NoError(t, s.Remove("task-4-1.csv"), "removing a missing file is fine")
	})
	t.Run("StaleTempIsRemoved", func(t *testing.T) {
		s := open(t)
		p, err := s.Create("task-5-1.csv")
		require.NoError(t, err)
		_, err = p.Write(make([]byte, big)) // a writer that then died
		require.NoError(t, err)
		n, err := s.RemoveStaleTemp(time.Hour)
		require.NoError(t, err)
		require.Zero(t, n, "a fresh temporary file is kept")
		time.Sleep(1100 * time.Millisecond) // past the stores' timestamp resolution
		n, err = s.RemoveStaleTemp(time.Second)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		_, err = p.Commit()
		require.Error(t, err, "the removed file cannot be committed")
		_, _, err = s.Open("task-5-1.csv")
		require.ErrorIs(t, err, fs.ErrNotExist)
	})
	t.Run("NamesCannotEscape", func(t *testing.T) {
		s := open(t)
		for _, name := range []string{"", "../x", "a/b", `a\b`, ".tmp", ".hidden"} {
			_, err := s.Create(name)
			require.Error(t, err, name)
			_, _, err = s.Open(name)
			require.Error(t, err, name)
			require.Error(t, s.Remove(name), name)
		}
	})
}

func read(t *testing.T, s domain.FileStore, name string) string {
	t.Helper()
	f, _, err := s.Open(name)
	require.NoError(t, err)
	defer f.Close()
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	return string(b)
}
