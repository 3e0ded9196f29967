package domain

import (
	"context"
	"io"
	"time"
)

// Intent asks some worker to execute a task. It carries only the id (and
// the type, for routing); everything else is read from the task row, so a
// duplicate or late intent is harmless.
type Intent struct {
	TaskID int64
	Type   string
	// RequestID is the id of the client request that sent it (a create or
	// a retry), so the worker's log lines of the export carry it; empty
	// for intents the scheduler sends.
	RequestID string
}

// IntentSender emits execution intents: the seed's SendTaskToMQService.
// RocketMQ implements it in production, an in-process queue in the
// embedded mode.
type IntentSender interface {
	Send(ctx context.Context, in Intent) error
}

// SentMarker records that a waiting task's intent was sent. The task
// store is one; a SentBatcher records in batches.
type SentMarker interface {
	MarkSent(ctx context.Context, id int64, at time.Time) error
}

// ValueKind is the type of a provider field's values.
type ValueKind string

// The value kinds. Values in a Batch row have these Go types:
// string → string, int → int64, decimal → Decimal, time → time.Time,
// bool → bool; nil is an empty cell for every kind.
const (
	KindString  ValueKind = "string"
	KindInt     ValueKind = "int"
	KindDecimal ValueKind = "decimal"
	KindTime    ValueKind = "time"
	KindBool    ValueKind = "bool"
)

// Valid reports whether k is a known kind.
func (k ValueKind) Valid() bool {
	switch k {
	case KindString, KindInt, KindDecimal, KindTime, KindBool:
		return true
	}
	return false
}

// Decimal is an exact decimal number in its canonical text form ("-12.50"),
// kept as text so no binary float ever rounds it. Canonical means
// -?(0|[1-9][0-9]*)(\.[0-9]+)?: a JSON number without exponent; trailing
// zeros are kept, as they carry the value's scale.
type Decimal string

// Valid reports whether d is in canonical form. Providers emit only valid
// decimals; writers refuse others.
func (d Decimal) Valid() bool { return validDecimal(string(d)) }

// ValidDecimalText is Decimal.Valid for text in bytes, which it spares
// converting.
func ValidDecimalText(b []byte) bool { return validDecimal(b) }

func validDecimal[T string | []byte](s T) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if n := i - start; n == 0 || (n > 1 && s[start] == '0') {
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' {
		return false
	}
	i++
	frac := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i > frac && i == len(s)
}

// Field is one field a provider yields, with its default header.
type Field struct {
	Name   string
	Header string
	Kind   ValueKind
}

// FetchRequest asks a provider for the next batch.
type FetchRequest struct {
	TaskID  int64
	Attempt int
	Params  map[string]any
	// Cursor is "" for the first batch, then the previous NextCursor.
	Cursor string
	Limit  int
}

// Batch is one page of rows. Each row holds values in Fields() order.
type Batch struct {
	Rows [][]any
	// NextCursor continues after this batch. It must not be empty unless
	// Done: "" asks for the first batch.
	NextCursor string
	// Done says there are no rows after this batch.
	Done bool
}

// Provider is the data-provider contract business code implements: the
// seed's QueryExportDataService.
type Provider interface {
	// Fields lists what the provider yields, in row order.
	Fields() []Field
	// Validate checks params when a task is created; a *FieldErrors names
	// the wrong params (field names like "params.rows").
	Validate(params map[string]any) error
	// Fetch returns the batch after req.Cursor. It must honour ctx. Errors
	// that no retry can fix should be wrapped with Permanent.
	Fetch(ctx context.Context, req FetchRequest) (Batch, error)
}

// Counter is implemented by providers that can count their rows up front,
// so clients see a total while the export runs. A negative count means
// the provider cannot tell for these params.
type Counter interface {
	Count(ctx context.Context, params map[string]any) (int64, error)
}

// Providers finds the provider of an export type: the one registry used by
// the API (validation) and the worker (execution).
type Providers interface {
	Provider(exportType string) (Provider, bool)
	Types() []string
}

// SheetColumn is a file column with the kind of its values.
type SheetColumn struct {
	Column
	Kind ValueKind
}

// SheetWriter writes rows into one file of some format.
type SheetWriter interface {
	// WriteRow writes one data row, values in column order. The caller
	// reuses values for the next row: a writer must not keep it.
	WriteRow(values []any) error
	// Close completes the file and reports how many sheets it holds.
	Close() (sheets int, err error)
	// Abort releases the writer without completing the file, on a run
	// that failed or stopped; it is a no-op after Close.
	Abort() error
}

// SheetWriterFactory starts a file of one format on w.
type SheetWriterFactory func(w io.Writer, cols []SheetColumn) (SheetWriter, error)

// PendingFile is a file being written under a temporary name. Commit moves
// it into place atomically; Abort removes it.
type PendingFile interface {
	io.Writer
	Commit() (size int64, err error)
	Abort() error
}

// FileStore is the shared volume the files live on.
type FileStore interface {
	Create(name string) (PendingFile, error)
	Open(name string) (io.ReadSeekCloser, time.Time, error)
	Remove(name string) error
	// RemoveStaleTemp deletes temporary files older than the given age
	// (left behind by a process that died mid-write) and returns how many.
	RemoveStaleTemp(olderThan time.Duration) (int, error)
}

// ListQuery selects tasks for listing, newest first.
type ListQuery struct {
	// Tenant is always set by the use case from the actor: a listing never
	// crosses tenants.
	Tenant string
	// Owner narrows the listing to one end user's tasks.
	Owner  string
	Status Status
	Type   string
	// BeforeID continues a listing after the last id seen (keyset paging).
	BeforeID int64
	Limit    int
}

// Progress is what a running worker reports.
type Progress struct {
	RowsWritten int64
	RowsTotal   int64
	LeaseUntil  time.Time
}

// Failure is what a worker records when an attempt fails.
type Failure struct {
	Message   string
	Permanent bool
	// NextAttemptAt is when the retry policy will requeue the task; nil
	// means it will not.
	NextAttemptAt *time.Time
}

// TaskStore persists tasks. Every method that changes status applies one
// Transition as a conditional update and returns ErrLostRace (or
// ErrNotFound) when it changes nothing.
type TaskStore interface {
	// Create stores a new task and sets its ID and timestamps. When
	// t.IdempotencyKey is already used in t.Tenant, it returns the stored
	// task and ErrDuplicateKey instead.
	Create(ctx context.Context, t *Task) (*Task, error)
	Get(ctx context.Context, id int64) (*Task, error)
	List(ctx context.Context, q ListQuery) ([]*Task, error)
	// Claim moves a NOT_EXECUTED task to EXECUTING for worker, counting an
	// attempt and taking a lease.
	Claim(ctx context.Context, id int64, worker string, now, leaseUntil time.Time) (*Task, error)
	// Heartbeat records progress and extends the lease while o still owns
	// the task. It reports whether a cancel was requested.
	Heartbeat(ctx context.Context, o Owner, p Progress, now time.Time) (cancelRequested bool, err error)
	Succeed(ctx context.Context, o Owner, f FileInfo, now time.Time) error
	Fail(ctx context.Context, o Owner, f Failure, now time.Time) error
	// CancelRunning records that o stopped at a user's request.
	CancelRunning(ctx context.Context, o Owner, now time.Time) error
	// Release hands o's task back to the queue, marking its intent unsent
	// and giving back the attempt the claim counted (a graceful hand-back
	// is not a failure). It refuses (ErrLostRace) a task whose cancel was
	// requested: that one must end CANCELLED, not run again.
	Release(ctx context.Context, o Owner, reason string, now time.Time) error
	// Cancel cancels a waiting task at once, or asks the worker running it
	// to stop; it returns the task as it now is.
	Cancel(ctx context.Context, id int64, now time.Time) (*Task, error)
	// Retry moves a FAILED or CANCELLED task back to NOT_EXECUTED, its
	// intent unsent. With dueOnly it only moves a FAILED task whose
	// NextAttemptAt has passed (the automatic retry).
	Retry(ctx context.Context, id int64, dueOnly bool, now time.Time) error
	// Remake moves a SUCCESS task whose file is gone back to NOT_EXECUTED,
	// its intent unsent, so it is made again.
	Remake(ctx context.Context, id int64, now time.Time) error
	// MarkSent records that the intent of a waiting task was sent at at.
	// A task changed after at (claimed and handed back meanwhile: that
	// intent is spent) is not marked, so the scheduler sends it again.
	MarkSent(ctx context.Context, id int64, at time.Time) error
	// MarkSentMany records many marks at once, under the same condition;
	// tasks no longer waiting are skipped.
	MarkSentMany(ctx context.Context, marks []SentMark) error
}

// SentMark says that the intent of a task was sent at a time.
type SentMark struct {
	TaskID int64
	At     time.Time
}

// SweepStore is what the scheduler scans.
type SweepStore interface {
	// DueRetries lists FAILED tasks whose next attempt is due.
	DueRetries(ctx context.Context, now time.Time, limit int) ([]*Task, error)
	// ExpiredLeases lists EXECUTING tasks whose lease lapsed before now.
	ExpiredLeases(ctx context.Context, now time.Time, limit int) ([]*Task, error)
	// Unsent lists NOT_EXECUTED tasks whose intent was not sent, or was sent
	// before sentBefore, and that were last updated before updatedBefore,
	// oldest first. A zero sentBefore lists only the never-sent ones, from
	// an index: the sweep's query, cheap under any backlog.
	Unsent(ctx context.Context, updatedBefore, sentBefore time.Time, limit int) ([]*Task, error)
	// Rescue takes an EXECUTING task from its lapsed owner, conditional on
	// the lease still being lapsed and the attempt unchanged, moving it to
	// NOT_EXECUTED (intent unsent), FAILED (due again at f.NextAttemptAt,
	// nil: never) or CANCELLED. f.Message says why, on the task's error.
	Rescue(ctx context.Context, o Owner, to Status, f Failure, now time.Time) error
}

// Clock tells the time; tests substitute a fake.
type Clock func() time.Time
