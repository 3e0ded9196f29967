package domain_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/downloadcenter/dc/domain"
)

var discardLog = slog.New(slog.DiscardHandler)

// t0 is the fake clock's start.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// fakeClock is a domain.Clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeSender records the intents it sends; err makes it refuse them.
type fakeSender struct {
	mu       sync.Mutex
	sent     []domain.Intent
	attempts int
	err      error
	// onSend runs after a successful send (a fast worker, say).
	onSend func(domain.Intent)
}

var _ domain.IntentSender = (*fakeSender)(nil)

func (f *fakeSender) Send(ctx context.Context, in domain.Intent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.attempts++
	err, hook := f.err, f.onSend
	if err == nil {
		f.sent = append(f.sent, in)
	}
	f.mu.Unlock()
	if err != nil {
		return err
	}
	if hook != nil {
		hook(in)
	}
	return nil
}

func (f *fakeSender) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSender) intents() []domain.Intent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sent)
}

// perTask counts the intents sent for each task.
func (f *fakeSender) perTask() map[int64]int {
	out := map[int64]int{}
	for _, in := range f.intents() {
		out[in.TaskID]++
	}
	return out
}

func (f *fakeSender) sendAttempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// fakeFiles is an in-memory domain.FileStore.
type fakeFiles struct {
	mu        sync.Mutex
	pending   map[string]*fakePending
	committed map[string][]byte
	created   []string
	aborted   []string
	removed   []string
	createErr error
	commitErr error
	// RemoveStaleTemp's record and answer.
	staleCalls []time.Duration
	staleN     int
	staleErr   error
}

var _ domain.FileStore = (*fakeFiles)(nil)

func newFakeFiles() *fakeFiles {
	return &fakeFiles{pending: map[string]*fakePending{}, committed: map[string][]byte{}}
}

type fakePending struct {
	fs   *fakeFiles
	name string
	buf  bytes.Buffer
	done bool
}

func (f *fakeFiles) Create(name string) (domain.PendingFile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.createErr != nil {
		return nil, f.createErr
	}
	p := &fakePending{fs: f, name: name}
	f.pending[name] = p
	f.created = append(f.created, name)
	return p, nil
}

func (p *fakePending) Write(b []byte) (int, error) {
	p.fs.mu.Lock()
	defer p.fs.mu.Unlock()
	if p.done {
		return 0, errors.New("write to a finished pending file")
	}
	return p.buf.Write(b)
}

func (p *fakePending) Commit() (int64, error) {
	p.fs.mu.Lock()
	defer p.fs.mu.Unlock()
	if p.done {
		return 0, errors.New("commit of a finished pending file")
	}
	if p.fs.commitErr != nil {
		return 0, p.fs.commitErr
	}
	p.done = true
	delete(p.fs.pending, p.name)
	p.fs.committed[p.name] = bytes.Clone(p.buf.Bytes())
	return int64(p.buf.Len()), nil
}

func (p *fakePending) Abort() error {
	p.fs.mu.Lock()
	defer p.fs.mu.Unlock()
	if p.done {
		return errors.New("abort of a finished pending file")
	}
	p.done = true
	delete(p.fs.pending, p.name)
	p.fs.aborted = append(p.fs.aborted, p.name)
	return nil
}

type nopReadSeeker struct{ *bytes.Reader }

func (nopReadSeeker) Close() error { return nil }

func (f *fakeFiles) Open(name string) (io.ReadSeekCloser, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.committed[name]
	if !ok {
		return nil, time.Time{}, fs.ErrNotExist
	}
	return nopReadSeeker{bytes.NewReader(b)}, t0, nil
}

func (f *fakeFiles) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.committed[name]; !ok {
		return fs.ErrNotExist
	}
	delete(f.committed, name)
	f.removed = append(f.removed, name)
	return nil
}

func (f *fakeFiles) RemoveStaleTemp(olderThan time.Duration) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staleCalls = append(f.staleCalls, olderThan)
	return f.staleN, f.staleErr
}

// state is a snapshot for assertions.
type filesState struct {
	Pending   []string
	Committed map[string][]byte
	Created   []string
	Aborted   []string
	Removed   []string
	Stale     []time.Duration
}

func (f *fakeFiles) state() filesState {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := filesState{
		Committed: map[string][]byte{}, Created: slices.Clone(f.created),
		Aborted: slices.Clone(f.aborted), Removed: slices.Clone(f.removed), Stale: slices.Clone(f.staleCalls),
	}
	for n := range f.pending {
		st.Pending = append(st.Pending, n)
	}
	for n, b := range f.committed {
		st.Committed[n] = b
	}
	return st
}

// fakeSheets is a SheetWriterFactory that records the rows written and
// writes each as a "|"-separated line. A sheet holds perSheet rows.
type fakeSheets struct {
	mu       sync.Mutex
	cols     []domain.SheetColumn
	rows     [][]any
	perSheet int
	failAt   int // WriteRow fails on this row (1-based); 0 never
	// failWait, when set, is waited for before the failAt row fails.
	failWait <-chan struct{}
	startErr error
	closeErr error
	closes   int
	aborts   int
}

func (f *fakeSheets) factory() domain.SheetWriterFactory {
	return func(w io.Writer, cols []domain.SheetColumn) (domain.SheetWriter, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.startErr != nil {
			return nil, f.startErr
		}
		f.cols = slices.Clone(cols)
		f.rows = nil
		return &fakeSheetWriter{f: f, w: w}, nil
	}
}

type fakeSheetWriter struct {
	f *fakeSheets
	w io.Writer
	n int
}

func (s *fakeSheetWriter) WriteRow(values []any) error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.n++
	if s.f.failAt > 0 && s.n == s.f.failAt {
		if s.f.failWait != nil {
			<-s.f.failWait
		}
		return errors.New("disk full")
	}
	if len(values) != len(s.f.cols) {
		return fmt.Errorf("row of %d values for %d columns", len(values), len(s.f.cols))
	}
	s.f.rows = append(s.f.rows, slices.Clone(values)) // the runner reuses its slice
	var line []byte
	for i, v := range values {
		if i > 0 {
			line = append(line, '|')
		}
		line = fmt.Append(line, v)
	}
	_, err := s.w.Write(append(line, '\n'))
	return err
}

func (s *fakeSheetWriter) Close() (int, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.closes++
	if s.f.closeErr != nil {
		return 0, s.f.closeErr
	}
	per := max(s.f.perSheet, 1)
	return max(1, (s.n+per-1)/per), nil
}

func (s *fakeSheetWriter) Abort() error {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.aborts++
	return nil
}

func (f *fakeSheets) written() ([]domain.SheetColumn, [][]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cols), slices.Clone(f.rows)
}

// fakeProvider pages through rows; the cursor is the offset of the next
// row. Hooks and knobs make it misbehave.
type fakeProvider struct {
	fields []domain.Field
	rows   [][]any
	// validate is Validate's answer; nil accepts everything.
	validate func(map[string]any) error
	// errAt makes the call-th Fetch (1-based) return err.
	errAt int
	err   error
	// beforeFetch runs at the start of every Fetch with its 1-based call
	// number; its error, if any, is returned.
	beforeFetch func(ctx context.Context, call int) error
	// fetch replaces the paging altogether.
	fetch func(ctx context.Context, req domain.FetchRequest) (domain.Batch, error)

	mu    sync.Mutex
	calls []domain.FetchRequest
}

var _ domain.Provider = (*fakeProvider)(nil)

func (p *fakeProvider) Fields() []domain.Field { return slices.Clone(p.fields) }

func (p *fakeProvider) Validate(params map[string]any) error {
	if p.validate == nil {
		return nil
	}
	return p.validate(params)
}

func (p *fakeProvider) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	p.mu.Lock()
	p.calls = append(p.calls, req)
	call := len(p.calls)
	p.mu.Unlock()
	if p.beforeFetch != nil {
		if err := p.beforeFetch(ctx, call); err != nil {
			return domain.Batch{}, err
		}
	}
	if p.fetch != nil {
		return p.fetch(ctx, req)
	}
	if call == p.errAt {
		return domain.Batch{}, p.err
	}
	from := 0
	if req.Cursor != "" {
		n, err := strconv.Atoi(req.Cursor)
		if err != nil {
			return domain.Batch{}, domain.Permanent(fmt.Errorf("bad cursor %q", req.Cursor))
		}
		from = n
	}
	to := min(from+max(req.Limit, 1), len(p.rows))
	return domain.Batch{Rows: p.rows[from:to], NextCursor: strconv.Itoa(to), Done: to == len(p.rows)}, nil
}

func (p *fakeProvider) fetchCalls() []domain.FetchRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// countingProvider is a fakeProvider that is also a domain.Counter.
type countingProvider struct {
	*fakeProvider
	n     int64
	err   error
	calls *atomic.Int32 // counts Count calls when set
}

var _ domain.Counter = countingProvider{}

func (c countingProvider) Count(ctx context.Context, params map[string]any) (int64, error) {
	if c.calls != nil {
		c.calls.Add(1)
	}
	return c.n, c.err
}

// waitCtx blocks until ctx ends (the runner stopping the run) or, so a
// broken runner fails the test instead of hanging it, a few seconds pass.
func waitCtx(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(5 * time.Second):
		return errors.New("test provider: the run was never stopped")
	}
}

// acme is the actor of most use-case tests: tenant acme, every scope.
var acme = domain.Actor{Tenant: "acme", User: "alice", KeyID: 1, Scopes: domain.Scopes}
