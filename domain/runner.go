package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Why a run stopped early; they are context causes, never shown to users.
var (
	errCancelRequested = errors.New("cancel requested")
	errLeaseLost       = errors.New("lease lost")
)

// Runner executes tasks: the consumer side of the seed's design. It claims
// a task, streams its rows from the provider in batches into a file and
// records the outcome, every step a conditional update on owning the task.
type Runner struct {
	Store     TaskStore
	Providers Providers
	Files     FileStore
	Writers   map[Format]SheetWriterFactory
	Retry     RetryPolicy
	// Worker is this worker's id, recorded on the tasks it runs.
	Worker string
	// BatchSize is how many rows one Fetch asks for.
	BatchSize int
	// LeaseTTL is how long a claim lasts without a heartbeat.
	LeaseTTL time.Duration
	// HeartbeatEvery is how often progress is saved and the lease renewed.
	HeartbeatEvery time.Duration
	// FinishRetryFor is how long recording a run's outcome is retried while
	// the store fails (a database restart); zero tries once. A task whose
	// outcome could not be recorded is rescued when its lease lapses.
	FinishRetryFor time.Duration
	Now            Clock
	Log            *slog.Logger
	// Observe hears rows written and attempts finished; nil means none.
	Observe RunObserver

	running atomic.Int64
}

// Running is how many Run calls are in progress: the worker's busy slots.
func (r *Runner) Running() int { return int(r.running.Load()) }

// Run executes the task an intent names. Losing the claim (a duplicate or
// stale intent) is not an error. Errors returned are infrastructure
// failures worth redelivering the intent for; failures of the export
// itself are recorded on the task instead.
func (r *Runner) Run(ctx context.Context, in Intent) error {
	r.running.Add(1)
	defer r.running.Add(-1)
	now := r.Now()
	started := time.Now()
	t, err := r.Store.Claim(ctx, in.TaskID, r.Worker, now, now.Add(r.LeaseTTL))
	if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
		r.Log.Debug("intent dropped: task not waiting", "task_id", in.TaskID, "worker", r.Worker)
		return nil
	}
	if err != nil {
		return fmt.Errorf("claim task %d: %w", in.TaskID, err)
	}
	o := Owner{TaskID: t.ID, Worker: r.Worker, Attempt: t.Attempts}
	log := r.Log.With("task_id", t.ID, "attempt", t.Attempts, "worker", r.Worker)
	if in.RequestID != "" {
		log = log.With("request_id", in.RequestID)
	}
	log.Info("task claimed", "type", t.Type, "format", t.Format)

	runCtx, stop := context.WithCancelCause(ctx)
	var prog progress
	prog.total.Store(-1)
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		r.heartbeat(runCtx, stop, o, &prog, log)
	}()
	file, runErr := r.exportRecovering(runCtx, t, &prog, log)
	cause := context.Cause(runCtx)
	stop(nil)
	<-beats
	rep := AttemptReport{Type: t.Type, Format: t.Format, Outcome: OutcomeLost, Rows: prog.rows.Load()}
	err = r.finish(ctx, o, file, runErr, cause, &rep, log)
	if r.Observe != nil {
		rep.Duration = time.Since(started)
		if rep.Outcome == OutcomeSuccess && file != nil {
			rep.Bytes = file.Size
		}
		r.Observe.AttemptFinished(rep)
	}
	return err
}

// exportRecovering runs export, turning a panic in a provider or writer
// into a permanent failure: otherwise the heartbeat would keep the task
// EXECUTING for ever, or the panic would end an embedded process.
func (r *Runner) exportRecovering(ctx context.Context, t *Task, p *progress, log *slog.Logger) (fi *FileInfo, err error) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("export panicked", "panic", v, "stack", string(debug.Stack()))
			fi, err = nil, Permanent(fmt.Errorf("export panicked: %v", v))
		}
	}()
	return r.export(ctx, t, p, log)
}

// progress is shared between the export loop and the heartbeat.
type progress struct {
	rows  atomic.Int64
	total atomic.Int64
}

// heartbeat renews the lease and saves progress until ctx ends; it stops
// the run when the user cancels or another party took the task.
func (r *Runner) heartbeat(ctx context.Context, stop context.CancelCauseFunc, o Owner, p *progress, log *slog.Logger) {
	tick := time.NewTicker(r.HeartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := r.Now()
		cancelled, err := r.Store.Heartbeat(ctx, o, Progress{
			RowsWritten: p.rows.Load(), RowsTotal: p.total.Load(), LeaseUntil: now.Add(r.LeaseTTL),
		}, now)
		switch {
		case errors.Is(err, ErrLostRace), errors.Is(err, ErrNotFound):
			log.Warn("task taken from this worker; stopping")
			stop(errLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			// A database blip: keep exporting; if the lease lapses the
			// final update fails and the file is discarded.
			log.Warn("heartbeat failed", "err", err)
		case cancelled:
			log.Info("cancel requested; stopping")
			stop(errCancelRequested)
			return
		}
	}
}

// export streams every row into a new file and returns its description.
func (r *Runner) export(ctx context.Context, t *Task, p *progress, log *slog.Logger) (*FileInfo, error) {
	prov, ok := r.Providers.Provider(t.Type)
	if !ok {
		return nil, Permanent(fmt.Errorf("unknown export type %q", t.Type))
	}
	params, err := DecodeParams(t.Params)
	if err != nil {
		return nil, Permanent(fmt.Errorf("params %w", err))
	}
	cols, index, err := sheetColumns(t.Columns, prov.Fields())
	if err != nil {
		return nil, Permanent(err)
	}
	newWriter, ok := r.Writers[t.Format]
	if !ok {
		return nil, Permanent(fmt.Errorf("no writer for format %q", t.Format))
	}
	if c, ok := prov.(Counter); ok {
		if n, err := c.Count(ctx, params); err == nil && n >= 0 {
			p.total.Store(n)
		} else if ctx.Err() == nil {
			log.Warn("count rows", "err", err)
		}
	}
	name := FileName(t)
	pf, err := r.Files.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			if err := pf.Abort(); err != nil {
				log.Warn("remove temp file", "err", err)
			}
		}
	}()
	w, err := newWriter(pf, cols)
	if err != nil {
		return nil, fmt.Errorf("start %s file: %w", t.Format, err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = w.Abort()
		}
	}()
	if err := r.stream(ctx, t, prov, params, index, w, p); err != nil {
		return nil, err
	}
	closed = true
	sheets, err := w.Close()
	if err != nil {
		return nil, fmt.Errorf("finish %s file: %w", t.Format, err)
	}
	size, err := pf.Commit()
	if err != nil {
		return nil, fmt.Errorf("store file: %w", err)
	}
	committed = true
	return &FileInfo{Name: name, Size: size, Rows: p.rows.Load(), Sheets: sheets}, nil
}

// stream copies batches from the provider to the writer. Memory is bounded
// by one batch whatever the row count.
func (r *Runner) stream(ctx context.Context, t *Task, prov Provider, params map[string]any, index []int, w SheetWriter, p *progress) error {
	nfields := len(prov.Fields())
	row := make([]any, len(index))
	cursor := ""
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		b, err := prov.Fetch(ctx, FetchRequest{TaskID: t.ID, Attempt: t.Attempts, Params: params, Cursor: cursor, Limit: r.BatchSize})
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("fetch rows after row %d: %w", p.rows.Load(), err)
		}
		for _, src := range b.Rows {
			if len(src) != nfields {
				return Permanent(fmt.Errorf("provider %q returned a row of %d values, want %d", t.Type, len(src), nfields))
			}
			for i, j := range index {
				row[i] = src[j]
			}
			if err := w.WriteRow(row); err != nil {
				return fmt.Errorf("write row %d: %w", p.rows.Load()+1, err)
			}
			p.rows.Add(1)
		}
		if r.Observe != nil && len(b.Rows) > 0 {
			r.Observe.RowsWritten(t.Type, len(b.Rows))
		}
		if b.Done {
			return nil
		}
		if b.NextCursor == "" {
			return Permanent(fmt.Errorf("provider %q returned an empty cursor before the last batch", t.Type))
		}
		if b.NextCursor == cursor {
			return Permanent(fmt.Errorf("provider %q did not advance its cursor past %q", t.Type, cursor))
		}
		cursor = b.NextCursor
	}
}

// sheetColumns pairs the task's columns with the provider's fields and
// returns, for each column, the index of its field in a provider row.
func sheetColumns(cols []Column, fields []Field) ([]SheetColumn, []int, error) {
	pos := make(map[string]int, len(fields))
	for i, f := range fields {
		pos[f.Name] = i
	}
	out := make([]SheetColumn, len(cols))
	index := make([]int, len(cols))
	for i, c := range cols {
		j, ok := pos[c.Field]
		if !ok {
			return nil, nil, fmt.Errorf("column %q is not a field of the provider", c.Field)
		}
		out[i] = SheetColumn{Column: c, Kind: fields[j].Kind}
		index[i] = j
	}
	return out, index, nil
}

// FileName is the stored file's name for a task's current attempt; the
// attempt keeps a late writer from clobbering a newer attempt's file.
func FileName(t *Task) string {
	return fmt.Sprintf("task-%d-%d.%s", t.ID, t.Attempts, t.Format)
}

// finish records how the run ended, retrying while the store fails for
// up to FinishRetryFor. It uses a context that survives the run's own
// cancellation: the outcome must be written even on shutdown.
func (r *Runner) finish(ctx context.Context, o Owner, file *FileInfo, runErr, cause error, rep *AttemptReport, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.FinishRetryFor+10*time.Second)
	defer cancel()
	deadline := time.Now().Add(r.FinishRetryFor)
	wait := 100 * time.Millisecond
	for {
		err := r.record(ctx, o, file, runErr, cause, rep, log)
		if err == nil || KindOf(err) != KindInternal || time.Now().After(deadline) {
			if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("record outcome of task %d: %w", o.TaskID, err)
			}
			return nil
		}
		log.Warn("record outcome failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("record outcome of task %d: %w", o.TaskID, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// record writes the outcome once and, when it is recorded, says in rep
// what it was.
func (r *Runner) record(ctx context.Context, o Owner, file *FileInfo, runErr, cause error, rep *AttemptReport, log *slog.Logger) error {
	now := r.Now()
	switch {
	case runErr == nil:
		err := r.Store.Succeed(ctx, o, *file, now)
		if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
			if cur, gerr := r.Store.Get(ctx, o.TaskID); gerr == nil &&
				cur.Status == StatusSuccess && cur.File != nil && cur.File.Name == file.Name {
				rep.Outcome, rep.Finished = OutcomeSuccess, StatusSuccess
				return nil // an earlier try went through; only its answer was lost
			}
			log.Warn("task taken from this worker before it finished; file discarded")
			if rmErr := r.Files.Remove(file.Name); rmErr != nil {
				log.Warn("remove discarded file", "err", rmErr)
			}
		} else if err == nil {
			rep.Outcome, rep.Finished = OutcomeSuccess, StatusSuccess
			log.Info("task succeeded", "rows", file.Rows, "size", file.Size, "sheets", file.Sheets)
		}
		return err
	case errors.Is(cause, errLeaseLost):
		return nil
	case errors.Is(cause, errCancelRequested):
		err := r.Store.CancelRunning(ctx, o, now)
		if err == nil {
			rep.Outcome, rep.Finished = OutcomeCancelled, StatusCancelled
			log.Info("task cancelled")
		}
		return err
	case cause != nil:
		// The worker is shutting down: hand the task to another worker.
		err := r.Store.Release(ctx, o, fmt.Sprintf("worker %s shut down during attempt %d", o.Worker, o.Attempt), now)
		if err == nil {
			rep.Outcome = OutcomeReleased
			log.Info("task released for another worker")
		}
		return err
	default:
		permanent := IsPermanent(runErr)
		next := r.Retry.NextAttempt(o.Attempt, permanent, now)
		err := r.Store.Fail(ctx, o, Failure{Message: runErr.Error(), Permanent: permanent, NextAttemptAt: next}, now)
		if err == nil {
			rep.Outcome = OutcomeFailed
			if next == nil {
				rep.Finished = StatusFailed
			}
			log.Warn("task failed", "err", runErr, "permanent", permanent, "next_attempt_at", next)
		}
		return err
	}
}
