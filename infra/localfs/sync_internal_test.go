package localfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Regression: Commit synced the file but not the directory holding the
// rename, so a machine crash could lose a file its task row calls
// SUCCESS. The directory is synced after the rename, and a failed sync
// fails the commit.
func TestCommitSyncsTheDirectoryAfterTheRename(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	require.NoError(t, err)
	orig := syncDir
	t.Cleanup(func() { syncDir = orig })
	var synced []string
	syncDir = func(d string) error {
		_, err := os.Stat(filepath.Join(d, "a.csv"))
		require.NoError(t, err, "synced after the rename")
		synced = append(synced, d)
		return orig(d)
	}
	p, err := s.Create("a.csv")
	require.NoError(t, err)
	_, err = p.Write([]byte("x\n"))
	require.NoError(t, err)
	_, err = p.Commit()
	require.NoError(t, err)
	require.Equal(t, []string{dir}, synced)

	syncDir = func(string) error { return errors.New("EIO") }
	p, err = s.Create("b.csv")
	require.NoError(t, err)
	_, err = p.Commit()
	require.ErrorContains(t, err, "sync directory")
}
