package domain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Limits on what a create request may hold.
const (
	MaxNameLen    = 100
	MaxColumns    = 200
	MaxHeaderLen  = 255
	MaxFormatLen  = 100
	MaxColumnWide = 255
	MaxIdemKeyLen = 255
	// MaxParamsBytes bounds a create's params, as JSON.
	MaxParamsBytes = 16 << 10
	// countTimeout bounds the row count a create asks a provider for.
	countTimeout = 10 * time.Second
	// SendTimeout bounds how long a create waits for the intent to be sent;
	// a task whose intent is not sent is sent later by the scheduler.
	SendTimeout = 3 * time.Second
)

// CreateRequest is what a client asks for.
type CreateRequest struct {
	Name           string
	Type           string
	Format         Format
	Params         json.RawMessage
	Columns        []Column
	IdempotencyKey string
}

// Tasks holds the use cases clients drive: create, read, list, cancel,
// retry. It never waits for an export to run.
type Tasks struct {
	Store     TaskStore
	Sender    IntentSender
	Providers Providers
	Now       Clock
	Log       *slog.Logger

	// Marks records sent intents; nil means Store.MarkSent, one write per
	// create. A SentBatcher batches them.
	Marks SentMarker

	// Gate admits creates under the tenant's limits; nil means no limits.
	Gate CreateGate
	// Files is asked whether a SUCCESS task's file is still there (retry
	// remakes a vanished one); nil skips the check.
	Files FileStore
	// FileTTL is how long a finished file is kept; zero keeps it forever.
	FileTTL time.Duration
	// Observe hears creates and failed sends, for metrics; nil means none.
	Observe TasksObserver

	// sendsPausedUntil (unix ns) skips sends after a failure; see send.
	sendsPausedUntil atomic.Int64
}

// CreateGate admits a create under its tenant's limits, returning them,
// or refuses it with a *LimitError.
type CreateGate interface {
	Admit(ctx context.Context, a Actor) (Limits, error)
}

// Create validates req, persists the task for the actor's tenant and user
// and emits its intent. A failed send is logged, not returned: the task is
// safe in the store and the scheduler sends it later. With an idempotency
// key the tenant already used for the same request it returns the existing
// task (created=false).
func (s *Tasks) Create(ctx context.Context, a Actor, req CreateRequest) (t *Task, created bool, err error) {
	if err := a.require(ScopeWrite); err != nil {
		return nil, false, err
	}
	t, p, params, err := s.validate(req)
	if err != nil {
		return nil, false, err
	}
	t.Tenant, t.Owner = a.Tenant, a.User
	if s.Gate != nil {
		lim, err := s.Gate.Admit(ctx, a)
		if err != nil {
			return nil, false, err
		}
		if t.RowsTotal, err = s.checkRows(ctx, p, params, lim); err != nil {
			return nil, false, err
		}
	}
	now := s.Now()
	t.CreatedAt, t.UpdatedAt = now, now
	stored, err := s.Store.Create(ctx, t)
	if errors.Is(err, ErrDuplicateKey) {
		return s.replay(stored, t, req)
	}
	if err != nil {
		return nil, false, fmt.Errorf("create task: %w", err)
	}
	if s.Observe != nil {
		s.Observe.TaskCreated(stored.Type, stored.Format)
	}
	s.send(ctx, stored)
	return s.out(stored), true, nil
}

func (s *Tasks) replay(stored, t *Task, req CreateRequest) (*Task, bool, error) {
	if stored.RequestHash != t.RequestHash {
		return nil, false, Errorf(KindMismatch, "Idempotency-Key %q was used with a different request", req.IdempotencyKey)
	}
	return s.out(stored), false, nil
}

// checkRows refuses an export the provider counts above the tenant's row
// limit, before it takes a worker. It returns the count, -1 when it did
// not count: stored with the task, it is the progress total until the
// worker counts (see countedAtCreate).
func (s *Tasks) checkRows(ctx context.Context, p Provider, params map[string]any, lim Limits) (int64, error) {
	c, ok := p.(Counter)
	if !ok || lim.MaxRows <= 0 {
		return -1, nil
	}
	ctx, cancel := context.WithTimeout(ctx, countTimeout)
	defer cancel()
	n, err := c.Count(ctx, params)
	if err != nil {
		// The worker enforces the limit while writing anyway.
		s.Log.Warn("count rows at create", "err", err)
		return -1, nil
	}
	if n > lim.MaxRows {
		return -1, Errorf(KindTooLarge, "the export has %d rows, over the limit of %d rows per export (max-rows, DC_MAX_ROWS)", n, lim.MaxRows)
	}
	return max(n, -1), nil
}

func (s *Tasks) send(ctx context.Context, t *Task) {
	now := s.Now()
	if s.sendsPausedUntil.Load() > now.UnixNano() {
		logFor(ctx, s.Log).Debug("intent left to the scheduler: the queue failed moments ago", "task_id", t.ID)
		return
	}
	var marks SentMarker = s.Store
	if s.Marks != nil {
		marks = s.Marks
	}
	if !emit(ctx, marks, s.Sender, s.Now, s.Log, t) {
		if s.Observe != nil {
			s.Observe.IntentSendFailed()
		}
		// While the broker is down, every send would wait out its timeout:
		// skip sends for a moment so creates answer at once. The task is
		// stored; the scheduler sends its intent when the broker is back.
		s.sendsPausedUntil.Store(now.Add(sendPause).UnixNano())
	}
}

// sendPause is how long creates skip sending after a send failed.
const sendPause = 5 * time.Second

// emit sends a task's intent and records it as sent, reporting whether the
// send succeeded. Failures are only logged: the task is safe in the store
// and the scheduler's sweep sends it again.
func emit(ctx context.Context, st SentMarker, sender IntentSender, now Clock, log *slog.Logger, t *Task) bool {
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), SendTimeout)
	defer cancel()
	log = logFor(ctx, log)
	if err := sender.Send(sendCtx, Intent{TaskID: t.ID, Type: t.Type, RequestID: RequestID(ctx)}); err != nil {
		log.Warn("intent not sent; the scheduler will resend it", "task_id", t.ID, "err", err)
		return false
	}
	at := now()
	if err := st.MarkSent(sendCtx, t.ID, at); err != nil {
		// A worker may have claimed the task already: nothing to record.
		if !errors.Is(err, ErrLostRace) {
			log.Warn("record intent sent", "task_id", t.ID, "err", err)
		}
		return true
	}
	t.IntentSentAt = &at
	return true
}

// validate checks a request field by field and builds the task.
func (s *Tasks) validate(req CreateRequest) (*Task, Provider, map[string]any, error) {
	var fe FieldErrors
	name := strings.TrimSpace(req.Name)
	switch {
	case name == "":
		fe.Add("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameLen:
		fe.Add("name", "must be at most %d characters", MaxNameLen)
	case !utf8.ValidString(name):
		fe.Add("name", "must be valid UTF-8")
	}
	format := req.Format
	if format == "" {
		format = FormatXLSX
	}
	if !format.Valid() {
		fe.Add("format", "must be one of %v", Formats)
	}
	if len(req.IdempotencyKey) > MaxIdemKeyLen {
		fe.Add("Idempotency-Key", "must be at most %d characters", MaxIdemKeyLen)
	} else if strings.IndexFunc(req.IdempotencyKey, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		fe.Add("Idempotency-Key", "must be printable ASCII without spaces")
	}
	var params map[string]any
	if len(req.Params) > MaxParamsBytes {
		fe.Add("params", "must be at most %d bytes of JSON", MaxParamsBytes)
	} else if len(bytes.TrimSpace(req.Params)) > 0 && !bytes.Equal(bytes.TrimSpace(req.Params), []byte("null")) {
		var err error
		params, err = DecodeParams(req.Params)
		if err != nil {
			fe.Add("params", "%v", err)
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	var fields []Field
	var p Provider
	if req.Type == "" {
		fe.Add("type", "is required")
	} else if p, _ = s.Providers.Provider(req.Type); p == nil {
		fe.Add("type", "unknown export type %q; known types: %s", req.Type, strings.Join(s.Providers.Types(), ", "))
	} else {
		fields = p.Fields()
		if err := p.Validate(params); err != nil {
			var pe *FieldErrors
			if !errors.As(err, &pe) {
				return nil, nil, nil, fmt.Errorf("validate params: %w", err)
			}
			fe.Errors = append(fe.Errors, pe.Errors...)
		}
	}
	cols := req.Columns
	if fields != nil {
		cols = checkColumns(req.Columns, fields, &fe)
	}
	if err := fe.Err(); err != nil {
		return nil, nil, nil, err
	}
	canonical, err := json.Marshal(params)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encode params: %w", err)
	}
	t := &Task{
		Name: name, Type: req.Type, Format: format, Params: canonical, Columns: cols,
		Status: StatusNotExecuted, RowsTotal: -1, IdempotencyKey: req.IdempotencyKey,
	}
	if req.IdempotencyKey != "" {
		t.RequestHash = requestHash(t)
	}
	return t, p, params, nil
}

// checkColumns validates requested columns against the provider's fields;
// no columns means all of the provider's fields with their headers.
func checkColumns(cols []Column, fields []Field, fe *FieldErrors) []Column {
	if len(cols) == 0 {
		out := make([]Column, len(fields))
		for i, f := range fields {
			h := f.Header
			if h == "" {
				h = f.Name
			}
			out[i] = Column{Field: f.Name, Header: h}
		}
		return out
	}
	if len(cols) > MaxColumns {
		fe.Add("columns", "at most %d columns", MaxColumns)
		return nil
	}
	known := make(map[string]Field, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		known[f.Name] = f
		names[i] = f.Name
	}
	out := make([]Column, len(cols))
	for i, c := range cols {
		at := fmt.Sprintf("columns[%d]", i)
		f, ok := known[c.Field]
		switch {
		case c.Field == "":
			fe.Add(at+".field", "is required")
		case !ok:
			fe.Add(at+".field", "unknown field %q; known fields: %s", c.Field, strings.Join(names, ", "))
		}
		if c.Header == "" {
			c.Header = f.Header
			if c.Header == "" {
				c.Header = c.Field
			}
		}
		if utf8.RuneCountInString(c.Header) > MaxHeaderLen {
			fe.Add(at+".header", "must be at most %d characters", MaxHeaderLen)
		}
		if c.Width < 0 || c.Width > MaxColumnWide {
			fe.Add(at+".width", "must be between 0 and %d", MaxColumnWide)
		}
		if len(c.Format) > MaxFormatLen {
			fe.Add(at+".format", "must be at most %d characters", MaxFormatLen)
		}
		out[i] = c
	}
	return out
}

// requestHash fingerprints what a create request asks for, so a reused
// idempotency key can be told apart from a replay.
func requestHash(t *Task) string {
	b, _ := json.Marshal(struct {
		Name, Type string
		Format     Format
		Params     json.RawMessage
		Columns    []Column
	}{t.Name, t.Type, t.Format, t.Params, t.Columns})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DecodeParams parses a params JSON object, keeping numbers exact as
// json.Number.
func DecodeParams(raw json.RawMessage) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("must be a JSON object: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("must be a single JSON object")
	}
	return m, nil
}

// Get returns one of the actor's tenant's tasks; another tenant's task is
// not found, never forbidden, so ids leak nothing.
func (s *Tasks) Get(ctx context.Context, a Actor, id int64) (*Task, error) {
	if err := a.require(ScopeRead); err != nil {
		return nil, err
	}
	t, err := s.scoped(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.out(t), nil
}

// scoped reads a task of the actor's tenant: the one place reads and
// writes by id are scoped.
func (s *Tasks) scoped(ctx context.Context, a Actor, id int64) (*Task, error) {
	t, err := s.Store.Get(ctx, id)
	if err == nil && !a.Sees(t) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	return t, nil
}

// out fills in what is derived rather than stored: when the file expires.
func (s *Tasks) out(t *Task) *Task { return withFileExpiry(t, s.FileTTL) }

// Present fills in what a task shows clients but does not store (its
// file's expiry), as every read of the use cases does: for the task JSON
// other ways out (webhook events) send.
func (s *Tasks) Present(t *Task) *Task { return s.out(t) }

// withFileExpiry sets when t's file is deleted, fileTTL after t finished
// (zero: kept for ever).
func withFileExpiry(t *Task, fileTTL time.Duration) *Task {
	if t.File != nil && fileTTL > 0 && t.FinishedAt != nil {
		at := t.FinishedAt.Add(fileTTL)
		t.File.ExpiresAt = &at
	}
	return t
}

// fileGone reports whether a SUCCESS task's file was removed by
// retention, is past its TTL, or is missing from the store.
func (s *Tasks) fileGone(t *Task) bool {
	if t.File == nil || t.File.RemovedAt != nil {
		return true
	}
	if t.File.ExpiresAt != nil && !s.Now().Before(*t.File.ExpiresAt) {
		return true
	}
	if s.Files != nil {
		f, _, err := s.Files.Open(t.File.Name)
		if err != nil {
			return errors.Is(err, fs.ErrNotExist)
		}
		_ = f.Close()
	}
	return false
}

// List returns the actor's tenant's tasks newest first; q.Limit is
// clamped to [1, 500].
func (s *Tasks) List(ctx context.Context, a Actor, q ListQuery) ([]*Task, error) {
	if err := a.require(ScopeRead); err != nil {
		return nil, err
	}
	q.Tenant = a.Tenant
	var fe FieldErrors
	if q.Status != "" && !q.Status.Valid() {
		fe.Add("status", "must be one of %v", Statuses)
	}
	if q.Limit < 0 || q.Limit > 500 {
		fe.Add("limit", "must be between 1 and 500")
	}
	if err := ValidUser(q.Owner); err != nil {
		fe.Add("owner", "%v", err)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	if a.OwnOnly {
		// A session lists its own user's tasks; asking for another
		// user's finds none, as asking for another tenant's would.
		if q.Owner != "" && q.Owner != a.User {
			return []*Task{}, nil
		}
		q.Owner = a.User
	}
	ts, err := s.Store.List(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	for _, t := range ts {
		s.out(t)
	}
	return ts, nil
}

// Cancel cancels a waiting task at once; a running one is stopped by its
// worker, which sees the request at its next heartbeat.
func (s *Tasks) Cancel(ctx context.Context, a Actor, id int64) (*Task, error) {
	if err := a.require(ScopeWrite); err != nil {
		return nil, err
	}
	if _, err := s.scoped(ctx, a, id); err != nil {
		return nil, err
	}
	t, err := s.Store.Cancel(ctx, id, s.Now())
	if err != nil {
		return nil, s.transitionError(ctx, id, "cancel", err)
	}
	return s.out(t), nil
}

// Retry sends a FAILED or CANCELLED task back to the queue now, and makes
// a SUCCESS task's file again when it expired or vanished.
func (s *Tasks) Retry(ctx context.Context, a Actor, id int64) (*Task, error) {
	if err := a.require(ScopeWrite); err != nil {
		return nil, err
	}
	t, err := s.scoped(ctx, a, id)
	if err != nil {
		return nil, err
	}
	if t.Status == StatusSuccess {
		if !s.fileGone(s.out(t)) {
			return nil, Errorf(KindConflict, "cannot retry task %d: it is SUCCESS and its file is still there", id)
		}
		err = s.Store.Remake(ctx, id, s.Now())
	} else {
		err = s.Store.Retry(ctx, id, false, s.Now())
	}
	if err != nil {
		return nil, s.transitionError(ctx, id, "retry", err)
	}
	t, err = s.Store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("retry task %d: %w", id, err)
	}
	s.send(ctx, t)
	return s.out(t), nil
}

// transitionError turns a lost race into a conflict that says what the
// task's status is.
func (s *Tasks) transitionError(ctx context.Context, id int64, action string, err error) error {
	if !errors.Is(err, ErrLostRace) {
		return fmt.Errorf("%s task %d: %w", action, id, err)
	}
	t, gerr := s.Store.Get(ctx, id)
	if gerr != nil {
		return fmt.Errorf("%s task %d: %w", action, id, gerr)
	}
	return Errorf(KindConflict, "cannot %s task %d: it is %s", action, id, t.Status)
}

// FileOf returns a successful task of the actor's tenant whose file can
// be downloaded.
func (s *Tasks) FileOf(ctx context.Context, a Actor, id int64) (*Task, error) {
	if err := a.require(ScopeRead); err != nil {
		return nil, err
	}
	t, err := s.scoped(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return s.downloadable(t)
}

// LinkedFile returns the task a signed link names, for the link's bearer:
// the link itself is the credential, so no actor scopes it, but it names
// one attempt, and a later attempt's file is not the one it was made for.
func (s *Tasks) LinkedFile(ctx context.Context, id int64, attempt int) (*Task, error) {
	t, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get task %d: %w", id, err)
	}
	if t.Attempts != attempt {
		return nil, Errorf(KindGone, "this link is for an earlier run of task %d; ask for the task again", id)
	}
	return s.downloadable(t)
}

func (s *Tasks) downloadable(t *Task) (*Task, error) {
	s.out(t)
	if t.Status != StatusSuccess || t.File == nil {
		return nil, Errorf(KindConflict, "task %d has no file: it is %s", t.ID, t.Status)
	}
	if t.File.RemovedAt != nil || (t.File.ExpiresAt != nil && !s.Now().Before(*t.File.ExpiresAt)) {
		return nil, Errorf(KindGone, "the file of task %d expired and was deleted; retry the task to make it again", t.ID)
	}
	return t, nil
}
