package domain_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// fakeStore is an in-memory domain.TaskStore and domain.SchedulerStore.
// Every status change goes through apply, which refuses a move the
// Transition does not allow from the task's current status (ErrLostRace)
// or an unknown id (ErrNotFound), like the SQL store's conditional
// UPDATE; TestFakeStoreConformance runs it through the conformance suite
// (domain/storetest) the SQL store passes too. It hands out copies only,
// so callers never share memory with it.
type fakeStore struct {
	mu     sync.Mutex
	tasks  map[int64]*domain.Task
	keys   map[string]int64
	nextID int64
	// events lists every status change that happened, in order.
	events []storeEvent
	// heartbeats lists every heartbeat that renewed a lease.
	heartbeats []domain.Progress
	// heartbeatCalls counts every Heartbeat call, failed ones too.
	heartbeatCalls int
	lastList       domain.ListQuery
	unsentCall     int

	// Injected failures (nil: none).
	claimErr, heartbeatErr, failErr, markSentErr, getErr error
	dueErr, expiredErr, unsentErr                        error
	// hangDue makes DueRetries wait for its context to end (a database
	// that stopped answering).
	hangDue bool
	// flaky[label] is how many more times that status change fails with
	// errBadConn without happening; lostReply[label] how many more times
	// it happens but still answers errBadConn (the reply was lost).
	flaky, lostReply map[string]int
	// Hooks run without the lock held.
	onHeartbeat func(o domain.Owner, p domain.Progress)
	// yield makes list and update methods give up the processor, to widen
	// race windows in concurrency tests.
	yield bool
}

// storeEvent is one status change: the transition (or "rescue:"+the
// transition, or "cancel_request" for flagging a running task) and the
// task it moved.
type storeEvent struct {
	ID   int64
	Name string
	From domain.Status
	To   domain.Status
}

var (
	_ domain.TaskStore      = (*fakeStore)(nil)
	_ domain.SchedulerStore = (*fakeStore)(nil)
)

func newFakeStore() *fakeStore {
	return &fakeStore{
		tasks: map[int64]*domain.Task{}, keys: map[string]int64{},
		flaky: map[string]int{}, lostReply: map[string]int{},
	}
}

// errBadConn is what a flaky store answers.
var errBadConn = errors.New("driver: bad connection")

func ptr[T any](v T) *T { return &v }

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneTask(t *domain.Task) *domain.Task {
	c := *t
	c.Params = slices.Clone(t.Params)
	c.Columns = slices.Clone(t.Columns)
	c.File = clonePtr(t.File)
	c.LeaseUntil = clonePtr(t.LeaseUntil)
	c.NextAttemptAt = clonePtr(t.NextAttemptAt)
	c.IntentSentAt = clonePtr(t.IntentSentAt)
	c.StartedAt = clonePtr(t.StartedAt)
	c.FinishedAt = clonePtr(t.FinishedAt)
	return &c
}

// put stores t as given (tests seed tasks in any state with it) and
// returns its id. A zero ID gets the next one; zero Params and RowsTotal
// get the defaults a created task has.
func (s *fakeStore) put(t *domain.Task) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := cloneTask(t)
	if c.ID == 0 {
		s.nextID++
		c.ID = s.nextID
	} else if c.ID > s.nextID {
		s.nextID = c.ID
	}
	if c.Params == nil {
		c.Params = json.RawMessage(`{}`)
	}
	if c.Tenant == "" {
		c.Tenant = acme.Tenant
	}
	if c.IdempotencyKey != "" {
		s.keys[c.Tenant+"\x00"+c.IdempotencyKey] = c.ID
	}
	s.tasks[c.ID] = c
	return c.ID
}

// edit changes a stored task behind everyone's back (another worker, a
// user, the scheduler of another replica).
func (s *fakeStore) edit(id int64, f func(*domain.Task)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.tasks[id])
}

// task returns a copy of a stored task, or nil.
func (s *fakeStore) task(id int64) *domain.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[id]
	if !ok {
		return nil
	}
	return cloneTask(t)
}

// remove deletes a task.
func (s *fakeStore) remove(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tasks, id)
}

func (s *fakeStore) heartbeatCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heartbeatCalls
}

func (s *fakeStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

func (s *fakeStore) eventLog() []storeEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

// eventNames lists the status changes of one task.
func (s *fakeStore) eventNames(id int64) []string {
	var out []string
	for _, e := range s.eventLog() {
		if e.ID == id {
			out = append(out, e.Name)
		}
	}
	return out
}

func (s *fakeStore) heartbeatLog() []domain.Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.heartbeats)
}

func (s *fakeStore) maybeYield() {
	if s.yield {
		runtime.Gosched()
	}
}

// apply moves task id along tr when tr allows its status and cond (if
// any) holds; set changes the other columns.
func (s *fakeStore) apply(ctx context.Context, id int64, tr domain.Transition, label string, cond func(*domain.Task) bool, set func(*domain.Task), now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.maybeYield()
	s.mu.Lock()
	defer s.mu.Unlock()
	if label == "" {
		label = tr.Name
	}
	if s.flaky[label] > 0 {
		s.flaky[label]--
		return errBadConn
	}
	t, ok := s.tasks[id]
	if !ok {
		return domain.ErrNotFound
	}
	if !tr.Allows(t.Status) || (cond != nil && !cond(t)) {
		return domain.ErrLostRace
	}
	from := t.Status
	if set != nil {
		set(t)
	}
	t.Status = tr.To
	t.UpdatedAt = now
	s.events = append(s.events, storeEvent{ID: id, Name: label, From: from, To: tr.To})
	if s.lostReply[label] > 0 {
		s.lostReply[label]--
		return errBadConn
	}
	return nil
}

// owned is the owner condition of every update a running worker makes.
func owned(o domain.Owner) func(*domain.Task) bool {
	return func(t *domain.Task) bool {
		return t.Status == domain.StatusExecuting && t.WorkerID == o.Worker && t.Attempts == o.Attempt
	}
}

// requeue resets what a task going back to the queue must lose.
func requeue(reason string, keepError bool) func(*domain.Task) {
	return func(t *domain.Task) {
		if !keepError {
			t.Error = reason
		}
		t.Permanent = false
		t.LeaseUntil = nil
		t.IntentSentAt = nil
		t.CancelRequested = false
		t.NextAttemptAt = nil
		t.FinishedAt = nil
		t.RowsWritten = 0
		t.RowsTotal = -1
	}
}

func (s *fakeStore) Create(ctx context.Context, t *domain.Task) (*domain.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.IdempotencyKey != "" {
		if id, ok := s.keys[t.Tenant+"\x00"+t.IdempotencyKey]; ok {
			return cloneTask(s.tasks[id]), domain.ErrDuplicateKey
		}
	}
	c := cloneTask(t)
	s.nextID++
	c.ID = s.nextID
	s.tasks[c.ID] = c
	if c.IdempotencyKey != "" {
		s.keys[c.Tenant+"\x00"+c.IdempotencyKey] = c.ID
	}
	return cloneTask(c), nil
}

func (s *fakeStore) Get(ctx context.Context, id int64) (*domain.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.getErr != nil {
		return nil, s.getErr
	}
	t, ok := s.tasks[id]
	if !ok {
		return nil, domain.ErrNotFound
	}
	return cloneTask(t), nil
}

// selectTasks returns copies of the tasks keep accepts, ordered by less
// (then id), at most limit of them when limit > 0.
func (s *fakeStore) selectTasks(keep func(*domain.Task) bool, less func(a, b *domain.Task) int, limit int) []*domain.Task {
	s.maybeYield()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*domain.Task
	for _, t := range s.tasks {
		if keep(t) {
			out = append(out, cloneTask(t))
		}
	}
	slices.SortFunc(out, func(a, b *domain.Task) int {
		if less != nil {
			if c := less(a, b); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

func (s *fakeStore) List(ctx context.Context, q domain.ListQuery) ([]*domain.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.lastList = q
	s.mu.Unlock()
	return s.selectTasks(func(t *domain.Task) bool {
		return t.Tenant == q.Tenant && (q.Owner == "" || t.Owner == q.Owner) &&
			(q.Status == "" || t.Status == q.Status) &&
			(q.Type == "" || t.Type == q.Type) &&
			(q.BeforeID <= 0 || t.ID < q.BeforeID)
	}, func(a, b *domain.Task) int { return cmp.Compare(b.ID, a.ID) }, q.Limit), nil
}

// ChangedSince lists tasks changed after (since, afterID), oldest change first.
func (s *fakeStore) ChangedSince(ctx context.Context, since time.Time, afterID int64, limit int) ([]*domain.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.selectTasks(func(t *domain.Task) bool {
		return t.UpdatedAt.After(since) || (t.UpdatedAt.Equal(since) && t.ID > afterID)
	},
		func(a, b *domain.Task) int { return a.UpdatedAt.Compare(b.UpdatedAt) }, limit), nil
}

func (s *fakeStore) Claim(ctx context.Context, id int64, worker string, now, leaseUntil time.Time) (*domain.Task, error) {
	s.mu.Lock()
	err := s.claimErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	err = s.apply(ctx, id, domain.Claim, "", nil, func(t *domain.Task) {
		t.Attempts++
		t.WorkerID = worker
		t.LeaseUntil = &leaseUntil
		t.StartedAt = &now
		t.FinishedAt = nil
		t.CancelRequested = false
		t.NextAttemptAt = nil
		t.RowsWritten = 0
	}, now)
	if err != nil {
		return nil, err
	}
	return s.task(id), nil
}

func (s *fakeStore) Heartbeat(ctx context.Context, o domain.Owner, p domain.Progress, now time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	hook := s.onHeartbeat
	cancelled, err := s.heartbeatLocked(o, p, now)
	s.mu.Unlock()
	if hook != nil && err == nil {
		hook(o, p)
	}
	return cancelled, err
}

func (s *fakeStore) heartbeatLocked(o domain.Owner, p domain.Progress, now time.Time) (bool, error) {
	s.heartbeatCalls++
	if s.heartbeatErr != nil {
		return false, s.heartbeatErr
	}
	t, ok := s.tasks[o.TaskID]
	if !ok {
		return false, domain.ErrNotFound
	}
	if !owned(o)(t) {
		return false, domain.ErrLostRace
	}
	if t.CancelRequested {
		return true, nil
	}
	t.RowsWritten = p.RowsWritten
	t.RowsTotal = p.RowsTotal
	t.LeaseUntil = ptr(p.LeaseUntil)
	t.UpdatedAt = now
	s.heartbeats = append(s.heartbeats, p)
	return false, nil
}

func (s *fakeStore) Succeed(ctx context.Context, o domain.Owner, f domain.FileInfo, now time.Time) error {
	return s.apply(ctx, o.TaskID, domain.Succeed, "", owned(o), func(t *domain.Task) {
		t.File = &f
		t.RowsWritten = f.Rows
		t.FinishedAt = &now
		t.LeaseUntil = nil
		t.Error = ""
		t.Permanent = false
		t.NextAttemptAt = nil
		t.CancelRequested = false
	}, now)
}

func (s *fakeStore) Fail(ctx context.Context, o domain.Owner, f domain.Failure, now time.Time) error {
	s.mu.Lock()
	err := s.failErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.apply(ctx, o.TaskID, domain.Fail, "", owned(o), func(t *domain.Task) {
		t.Error = f.Message
		t.Permanent = f.Permanent
		t.NextAttemptAt = clonePtr(f.NextAttemptAt)
		t.FinishedAt = &now
		t.LeaseUntil = nil
	}, now)
}

func (s *fakeStore) CancelRunning(ctx context.Context, o domain.Owner, now time.Time) error {
	return s.apply(ctx, o.TaskID, domain.CancelRunning, "", owned(o), func(t *domain.Task) {
		t.FinishedAt = &now
		t.LeaseUntil = nil
		t.CancelRequested = false
	}, now)
}

func (s *fakeStore) Release(ctx context.Context, o domain.Owner, reason string, now time.Time) error {
	cond := func(t *domain.Task) bool { return owned(o)(t) && !t.CancelRequested }
	return s.apply(ctx, o.TaskID, domain.Release, "", cond, func(t *domain.Task) {
		requeue(reason, false)(t)
		t.Attempts-- // a hand-back is not a failed attempt
	}, now)
}

func (s *fakeStore) Cancel(ctx context.Context, id int64, now time.Time) (*domain.Task, error) {
	waiting := func(t *domain.Task) bool { return t.Status == domain.StatusNotExecuted || t.NextAttemptAt != nil }
	err := s.apply(ctx, id, domain.CancelWaiting, "", waiting, func(t *domain.Task) {
		t.FinishedAt = &now
		t.NextAttemptAt = nil
	}, now)
	if err == domain.ErrLostRace {
		s.mu.Lock()
		if t := s.tasks[id]; t.Status == domain.StatusExecuting {
			t.CancelRequested = true
			t.UpdatedAt = now
			s.events = append(s.events, storeEvent{ID: id, Name: "cancel_request", From: t.Status, To: t.Status})
			err = nil
		}
		s.mu.Unlock()
	}
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, id)
}

func (s *fakeStore) Retry(ctx context.Context, id int64, dueOnly bool, now time.Time) error {
	var cond func(*domain.Task) bool
	label := "retry"
	if dueOnly {
		label = "retry_due"
		cond = func(t *domain.Task) bool {
			return t.Status == domain.StatusFailed && t.NextAttemptAt != nil && !t.NextAttemptAt.After(now)
		}
	}
	return s.apply(ctx, id, domain.Retry, label, cond, requeue("", dueOnly), now)
}

func (s *fakeStore) Remake(ctx context.Context, id int64, now time.Time) error {
	return s.apply(ctx, id, domain.Remake, "remake", nil, func(t *domain.Task) {
		requeue("", false)(t)
		t.File = nil
	}, now)
}

func (s *fakeStore) MarkSent(ctx context.Context, id int64, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.maybeYield()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markSentErr != nil {
		return s.markSentErr
	}
	t, ok := s.tasks[id]
	if !ok {
		return domain.ErrNotFound
	}
	if t.Status != domain.StatusNotExecuted || t.UpdatedAt.After(at) {
		return domain.ErrLostRace
	}
	t.IntentSentAt = &at
	return nil
}

func (s *fakeStore) MarkSentMany(ctx context.Context, marks []domain.SentMark) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markSentErr != nil {
		return s.markSentErr
	}
	for _, m := range marks {
		if t, ok := s.tasks[m.TaskID]; ok && t.Status == domain.StatusNotExecuted && !t.UpdatedAt.After(m.At) {
			t.IntentSentAt = ptr(m.At)
		}
	}
	return nil
}

func (s *fakeStore) DueRetries(ctx context.Context, now time.Time, limit int) ([]*domain.Task, error) {
	if s.injectedHang() {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := cmp.Or(ctx.Err(), s.injected(&s.dueErr)); err != nil {
		return nil, err
	}
	return s.selectTasks(func(t *domain.Task) bool {
		return t.Status == domain.StatusFailed && t.NextAttemptAt != nil && !t.NextAttemptAt.After(now)
	}, func(a, b *domain.Task) int { return a.NextAttemptAt.Compare(*b.NextAttemptAt) }, limit), nil
}

func (s *fakeStore) ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*domain.Task, error) {
	if err := cmp.Or(ctx.Err(), s.injected(&s.expiredErr)); err != nil {
		return nil, err
	}
	return s.selectTasks(func(t *domain.Task) bool {
		return t.Status == domain.StatusExecuting && t.LeaseUntil != nil && t.LeaseUntil.Before(now)
	}, func(a, b *domain.Task) int { return a.LeaseUntil.Compare(*b.LeaseUntil) }, limit), nil
}

func (s *fakeStore) Unsent(ctx context.Context, updatedBefore, sentBefore time.Time, limit int) ([]*domain.Task, error) {
	if err := cmp.Or(ctx.Err(), s.injected(&s.unsentErr)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.unsentCall++
	s.mu.Unlock()
	return s.selectTasks(func(t *domain.Task) bool {
		return t.Status == domain.StatusNotExecuted && t.UpdatedAt.Before(updatedBefore) &&
			(t.IntentSentAt == nil || t.IntentSentAt.Before(sentBefore))
	}, nil, limit), nil
}

func (s *fakeStore) Rescue(ctx context.Context, o domain.Owner, to domain.Status, f domain.Failure, now time.Time) error {
	message := f.Message
	cond := func(t *domain.Task) bool {
		return owned(o)(t) && t.LeaseUntil != nil && t.LeaseUntil.Before(now)
	}
	switch to {
	case domain.StatusNotExecuted:
		return s.apply(ctx, o.TaskID, domain.Release, "rescue:release", cond, requeue(message, false), now)
	case domain.StatusCancelled:
		return s.apply(ctx, o.TaskID, domain.CancelRunning, "rescue:cancel", cond, func(t *domain.Task) {
			t.FinishedAt = &now
			t.LeaseUntil = nil
			t.CancelRequested = false
		}, now)
	}
	return s.apply(ctx, o.TaskID, domain.Fail, "rescue:fail", cond, func(t *domain.Task) {
		t.Error = message
		t.Permanent = false
		t.FinishedAt = &now
		t.LeaseUntil = nil
		t.NextAttemptAt = clonePtr(f.NextAttemptAt)
	}, now)
}

func (s *fakeStore) injectedHang() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hangDue
}

func (s *fakeStore) injected(p *error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *p
}

func (s *fakeStore) Waiting(ctx context.Context, limit int) ([]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ts := s.selectTasks(func(t *domain.Task) bool { return t.Status == domain.StatusNotExecuted }, nil, limit)
	ids := make([]int64, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids, nil
}
