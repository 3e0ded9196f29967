// Package localfs is the file store on a local or mounted shared volume
// (an NFS or ReadWriteMany volume in production). Files are written under
// a temporary name in the same file system and renamed into place, so a
// reader never sees half a file.
package localfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/downloadcenter/dc/domain"
)

const tmpDir = ".tmp"

// Store keeps files in one directory.
type Store struct {
	dir string
}

// New opens (creating when missing) the directory.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o755); err != nil {
		return nil, fmt.Errorf("create file store %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// checkName refuses names that could leave the directory.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}

// Create starts a file that appears under name only on Commit.
func (s *Store) Create(name string) (domain.PendingFile, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), name+".*.part")
	if err != nil {
		return nil, fmt.Errorf("create temp file for %s: %w", name, err)
	}
	return &pending{f: f, w: bufio.NewWriterSize(f, 256<<10), final: filepath.Join(s.dir, name)}, nil
}

type pending struct {
	f     *os.File
	w     *bufio.Writer
	final string
	done  bool
}

func (p *pending) Write(b []byte) (int, error) { return p.w.Write(b) }

// syncDir makes a directory's entries durable (a rename is an entry of
// the directory, not of the file); tests substitute a recorder.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit flushes and syncs the file, renames it into place and syncs the
// directory, so a committed file survives a crash of the machine: the
// task row is marked SUCCESS only after Commit returns.
func (p *pending) Commit() (int64, error) {
	if p.done {
		return 0, errors.New("file already committed or aborted")
	}
	p.done = true
	err := p.w.Flush()
	if err == nil {
		err = p.f.Sync()
	}
	var size int64
	if err == nil {
		var st os.FileInfo
		if st, err = p.f.Stat(); err == nil {
			size = st.Size()
		}
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.f.Name(), p.final)
	}
	if err != nil {
		_ = os.Remove(p.f.Name())
		return 0, fmt.Errorf("commit %s: %w", filepath.Base(p.final), err)
	}
	if err := syncDir(filepath.Dir(p.final)); err != nil {
		return 0, fmt.Errorf("commit %s: sync directory: %w", filepath.Base(p.final), err)
	}
	return size, nil
}

// Abort drops the temporary file.
func (p *pending) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	_ = p.f.Close()
	if err := os.Remove(p.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove temp file: %w", err)
	}
	return nil
}

// Open opens a committed file for reading.
func (s *Store) Open(name string) (io.ReadSeekCloser, time.Time, error) {
	if err := checkName(name); err != nil {
		return nil, time.Time{}, err
	}
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("open %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, time.Time{}, fmt.Errorf("stat %s: %w", name, err)
	}
	return f, st.ModTime(), nil
}

// Remove deletes a committed file; a missing one is not an error.
func (s *Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// RemoveStaleTemp deletes temporary files not written to for olderThan:
// a writer still at work touches its file at every buffer flush.
func (s *Store) RemoveStaleTemp(olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, tmpDir))
	if err != nil {
		return 0, fmt.Errorf("list temp files: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || e.IsDir() || info.ModTime().After(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(s.dir, tmpDir, e.Name())); err == nil {
			n++
		}
	}
	return n, nil
}

// FilesBefore lists the finished export files (named task-*.xlsx or
// task-*.csv: nothing else on the volume is ever touched) last modified
// before the time; retention looks for ones no task references.
func (s *Store) FilesBefore(before time.Time) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list files: %w", err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() || checkName(n) != nil || !strings.HasPrefix(n, "task-") ||
			!(strings.HasSuffix(n, ".xlsx") || strings.HasSuffix(n, ".csv")) {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		out = append(out, e.Name())
	}
	return out, nil
}
