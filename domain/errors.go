package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies an error for callers that must react to it: the HTTP
// layer maps kinds to status codes in one place.
type Kind int

// The error kinds.
const (
	KindInternal Kind = iota
	KindInvalid
	KindNotFound
	KindConflict
	KindMismatch
	// KindForbidden: the caller is known but may not do this.
	KindForbidden
	// KindLimited: the caller is over a limit for now (see LimitError).
	KindLimited
	// KindGone: the thing existed but is no longer kept (an expired file).
	KindGone
	// KindTooLarge: the request is over a size limit that does not pass.
	KindTooLarge
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not_found"
	case KindConflict:
		return "conflict"
	case KindMismatch:
		return "mismatch"
	case KindForbidden:
		return "forbidden"
	case KindLimited:
		return "limited"
	case KindGone:
		return "gone"
	case KindTooLarge:
		return "too_large"
	default:
		return "internal"
	}
}

// Error is a domain error with a kind and a message meant for users.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an Error of kind k.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors callers test with errors.Is.
var (
	// ErrNotFound: no task with that id.
	ErrNotFound = &Error{Kind: KindNotFound, Message: "task not found"}
	// ErrLostRace: a conditional update changed no row because the task was
	// no longer in the expected state (another worker, a cancel, a rescue).
	ErrLostRace = &Error{Kind: KindConflict, Message: "task changed concurrently"}
	// ErrDuplicateKey: a task with that idempotency key exists already.
	ErrDuplicateKey = &Error{Kind: KindConflict, Message: "idempotency key already used"}
)

// KindOf returns the kind of the first domain error in err's chain.
func KindOf(err error) Kind {
	var fe *FieldErrors
	if errors.As(err, &fe) {
		return KindInvalid
	}
	var le *LimitError
	if errors.As(err, &le) {
		return KindLimited
	}
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return KindInternal
}

// FieldError says which input field is wrong and why.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// FieldErrors is a validation failure listing every wrong field.
type FieldErrors struct {
	Errors []FieldError
}

func (e *FieldErrors) Error() string {
	parts := make([]string, len(e.Errors))
	for i, f := range e.Errors {
		parts[i] = f.Field + ": " + f.Reason
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Add records a wrong field.
func (e *FieldErrors) Add(field, reasonFormat string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Reason: fmt.Sprintf(reasonFormat, args...)})
}

// Err returns e when it holds any error, else nil.
func (e *FieldErrors) Err() error {
	if e == nil || len(e.Errors) == 0 {
		return nil
	}
	return e
}

// PermanentError marks a failure that running the task again cannot fix
// (for example params the provider rejects at run time, or a 403 from an
// HTTP provider). The retry policy leaves such tasks FAILED.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a permanent failure.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err was marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
