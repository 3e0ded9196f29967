// Package domain holds Download Center's core: the export task, its status
// machine, the error kinds, the ports the core needs from the outside world
// and the use cases built on them. It imports no infrastructure.
package domain

import (
	"encoding/json"
	"time"
)

// Status is where a task stands in its life cycle. The first four come
// from the seed design; CANCELLED is the user's explicit stop.
type Status string

// The statuses of a task.
const (
	StatusNotExecuted Status = "NOT_EXECUTED"
	StatusExecuting   Status = "EXECUTING"
	StatusFailed      Status = "FAILED"
	StatusSuccess     Status = "SUCCESS"
	StatusCancelled   Status = "CANCELLED"
)

// Statuses lists every status, in life-cycle order.
var Statuses = []Status{StatusNotExecuted, StatusExecuting, StatusFailed, StatusSuccess, StatusCancelled}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, k := range Statuses {
		if s == k {
			return true
		}
	}
	return false
}

// Format is the file format of an export.
type Format string

// The supported formats.
const (
	FormatXLSX Format = "xlsx"
	FormatCSV  Format = "csv"
)

// Formats lists the supported formats; the first is the default.
var Formats = []Format{FormatXLSX, FormatCSV}

// Valid reports whether f is a supported format.
func (f Format) Valid() bool { return f == FormatXLSX || f == FormatCSV }

// Column is one column of the produced file: which provider field it shows
// and how. It is the seed's "titles" entry.
type Column struct {
	Field  string  `json:"field"`
	Header string  `json:"header"`
	Width  float64 `json:"width,omitempty"`
	// Format is an Excel number format such as "0.00" or "yyyy-mm-dd";
	// empty means the default for the field's kind.
	Format string `json:"format,omitempty"`
}

// FileInfo describes the file a successful task produced.
type FileInfo struct {
	// Name is the file's name inside the file store.
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Rows   int64  `json:"rows"`
	Sheets int    `json:"sheets"`
	// RemovedAt is when retention deleted the file; nil while it is kept.
	RemovedAt *time.Time `json:"-"`
	// ExpiresAt is when retention deletes the file (finish + DC_FILE_TTL);
	// the use cases fill it in, it is not stored.
	ExpiresAt *time.Time `json:"-"`
}

// Task is one export request and everything needed to run (or resume) it.
type Task struct {
	ID int64
	// Tenant owns the task: only keys of this tenant see it.
	Tenant string
	// Owner is the end user the task was created for (X-DC-User); may be
	// empty.
	Owner  string
	Name   string
	Type   string
	Format Format
	// Params is the JSON object handed to the data provider (the seed's
	// download condition).
	Params json.RawMessage
	// Columns are the columns of the file; never empty once created.
	Columns []Column
	Status  Status
	// Attempts counts claims: the n-th run of the task is attempt n.
	Attempts int
	// Error is the last failure's message, kept after a retry succeeds
	// only until the next success clears it.
	Error string
	// Permanent marks an error no retry can fix (bad params, auth).
	Permanent   bool
	RowsWritten int64
	// RowsTotal is the provider's count when it can give one, else -1.
	RowsTotal int64
	File      *FileInfo
	// WorkerID is the worker running the task, or that ran its last attempt.
	WorkerID string
	// CancelRequested asks the worker running the task to stop.
	CancelRequested bool
	// LeaseUntil is when the running worker's claim lapses unless renewed.
	LeaseUntil *time.Time
	// NextAttemptAt is when a FAILED task is due to be retried.
	NextAttemptAt *time.Time
	// IntentSentAt is when the execution intent was last confirmed sent;
	// nil means it must be (re-)sent.
	IntentSentAt *time.Time
	// IdempotencyKey is the client's key for a safe create retry.
	IdempotencyKey string
	// RequestHash fingerprints the create request that used IdempotencyKey.
	RequestHash string
	CreatedAt   time.Time
	StartedAt   *time.Time
	FinishedAt  *time.Time
	UpdatedAt   time.Time
}

// Owner identifies one attempt of one task by one worker. Updates made
// while running are conditional on it, so a worker that lost its claim
// cannot overwrite the new owner's work.
type Owner struct {
	TaskID  int64
	Worker  string
	Attempt int
}

// Done reports whether the task is finished for good: SUCCESS, CANCELLED,
// or FAILED with no automatic retry coming. A polling client stops here.
func (t *Task) Done() bool {
	switch t.Status {
	case StatusSuccess, StatusCancelled:
		return true
	case StatusFailed:
		return t.NextAttemptAt == nil
	}
	return false
}
