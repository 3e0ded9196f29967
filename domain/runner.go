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
	errStalled         = errors.New("no progress")
)

// defaultStopWait is how long Run waits, once a run's context ended, for
// an export that ignores its context before abandoning it.
const defaultStopWait = 5 * time.Second

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
	// StallTimeout fails an attempt that has fetched no batch for this
	// long (a provider hanging and ignoring its context, while the
	// heartbeat would renew the lease for ever); zero disables it.
	StallTimeout time.Duration
	// StopWait is how long an export may take to return once its context
	// ended (a cancel, a stall, a shutdown) before the runner abandons it
	// and frees the slot; zero means 5 s.
	StopWait time.Duration
	// Limits gives a task's tenant's row and byte limits; nil means none.
	Limits LimitSource
	Now    Clock
	Log    *slog.Logger
	// Observe hears rows written and attempts finished; nil means none.
	Observe RunObserver

	running atomic.Int64
}

// LimitSource tells a tenant's limits.
type LimitSource interface {
	Limits(ctx context.Context, tenant string) (Limits, error)
}

// Running is how many Run calls are in progress: the worker's busy slots.
func (r *Runner) Running() int { return int(r.running.Load()) }

// Run executes the task an intent names. Losing the claim (a duplicate or
// stale intent) is not an error. Errors returned are infrastructure
// failures worth redelivering the intent for; failures of the export
// itself are recorded on the task instead.
func (r *Runner) Run(ctx context.Context, in Intent) error {
	t, err := r.claim(ctx, in.TaskID)
	if errors.Is(err, ErrLostRace) || errors.Is(err, ErrNotFound) {
		r.Log.Debug("intent dropped: task not waiting", "task_id", in.TaskID, "worker", r.Worker)
		return nil
	}
	if err != nil {
		return err
	}
	return r.execute(ctx, t, in.RequestID)
}

// claim takes a waiting task for this worker.
func (r *Runner) claim(ctx context.Context, id int64) (*Task, error) {
	now := r.Now()
	t, err := r.Store.Claim(ctx, id, r.Worker, now, now.Add(r.LeaseTTL))
	if err != nil && !errors.Is(err, ErrLostRace) && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("claim task %d: %w", id, err)
	}
	return t, err
}

// execute runs a task this worker claimed and records the outcome.
// requestID is that of the request that created it, when an intent
// carried it, so the worker's log lines can be matched to the API's.
func (r *Runner) execute(ctx context.Context, t *Task, requestID string) error {
	r.running.Add(1)
	defer r.running.Add(-1)
	started := time.Now()
	o := Owner{TaskID: t.ID, Worker: r.Worker, Attempt: t.Attempts}
	log := r.Log.With("task_id", t.ID, "attempt", t.Attempts, "worker", r.Worker)
	if requestID != "" {
		log = log.With("request_id", requestID)
	}
	log.Info("task claimed", "type", t.Type, "format", t.Format)

	runCtx, stop := context.WithCancelCause(ctx)
	var prog progress
	prog.total.Store(-1)
	if r.countedAtCreate(t) {
		prog.total.Store(t.RowsTotal)
	}
	beats := make(chan struct{})
	go func() {
		defer close(beats)
		r.heartbeat(runCtx, stop, o, &prog, log)
	}()
	if r.StallTimeout > 0 {
		go r.watchStall(runCtx, stop, &prog)
	}
	file, runErr := r.exportUntilStopped(runCtx, t, &prog, log)
	cause := context.Cause(runCtx)
	stop(nil)
	<-beats
	if errors.Is(cause, errStalled) && runErr != nil {
		// The attempt failed for want of progress: retry it like any
		// failure, not as a shutdown.
		runErr = fmt.Errorf("no batch fetched for %s (DC_STALL_TIMEOUT): %w", r.StallTimeout, runErr)
		cause = nil
	}
	rep := AttemptReport{Type: t.Type, Format: t.Format, Outcome: OutcomeLost, Rows: prog.rows.Load()}
	err := r.finish(ctx, o, file, runErr, cause, &rep, log)
	if r.Observe != nil {
		rep.Duration = time.Since(started)
		if rep.Outcome == OutcomeSuccess && file != nil {
			rep.Bytes = file.Size
		}
		r.Observe.AttemptFinished(rep)
	}
	return err
}

// exportUntilStopped runs the export in its own goroutine and returns its
// result, or, when ctx ended and the export did not return within
// StopWait, gives up on it: a provider that ignores its context must not
// hold the slot (and the task) for ever. An abandoned export cannot
// commit its file (export checks ctx before committing) and aborts it
// when it returns at last.
func (r *Runner) exportUntilStopped(ctx context.Context, t *Task, p *progress, log *slog.Logger) (*FileInfo, error) {
	type result struct {
		file *FileInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		f, err := r.exportRecovering(ctx, t, p, log)
		done <- result{f, err}
	}()
	select {
	case res := <-done:
		return res.file, res.err
	case <-ctx.Done():
	}
	wait := r.StopWait
	if wait <= 0 {
		wait = defaultStopWait
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.file, res.err
	case <-timer.C:
		log.Error("export ignored its context; abandoned", "cause", context.Cause(ctx), "waited", wait)
		return nil, fmt.Errorf("export did not stop within %s of %v", wait, context.Cause(ctx))
	}
}

// watchStall stops the run with errStalled when no batch arrives for
// StallTimeout. It measures on the process's monotonic clock: it is a
// local deadline, never stored.
func (r *Runner) watchStall(ctx context.Context, stop context.CancelCauseFunc, p *progress) {
	every := max(r.StallTimeout/10, time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, since := p.batches.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n := p.batches.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= r.StallTimeout {
			stop(errStalled)
			return
		}
	}
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
	// batches counts fetched batches: the stall watch's sign of life.
	batches atomic.Int64
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
	if c, ok := prov.(Counter); ok && !r.countedAtCreate(t) {
		// Counted beside the export rather than before it: the count is
		// for progress only, and a database takes about as long to count
		// the rows as to start sending them.
		cctx, stopCount := context.WithCancel(ctx)
		counted := make(chan struct{})
		go func() {
			defer close(counted)
			r.count(cctx, c, params, p, log)
		}()
		defer func() { stopCount(); <-counted }()
	}
	var lim Limits
	if r.Limits != nil {
		if lim, err = r.Limits.Limits(ctx, t.Tenant); err != nil {
			return nil, err
		}
	}
	if lim.MaxRows > 0 && p.total.Load() > lim.MaxRows {
		return nil, Permanent(rowLimitError(lim.MaxRows))
	}
	name := FileName(t)
	created, err := r.Files.Create(name)
	if err != nil {
		return nil, fmt.Errorf("create file: %w", err)
	}
	pf := &cappedFile{PendingFile: created, max: lim.MaxFileBytes}
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
	if err := r.stream(ctx, t, prov, params, index, w, p, lim, pf); err != nil {
		return nil, err
	}
	closed = true
	if ctx.Err() != nil {
		// Abandoned (or stopped) after the last batch: nobody records
		// this file, so it must not appear.
		return nil, context.Cause(ctx)
	}
	sheets, err := w.Close()
	if pf.over {
		return nil, Permanent(byteLimitError(lim.MaxFileBytes))
	}
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

// stream copies batches from the provider to the writer, the next batch
// fetched while the current one is written. Memory is bounded by a few
// batches whatever the row count.
func (r *Runner) stream(ctx context.Context, t *Task, prov Provider, params map[string]any, index []int, w SheetWriter, p *progress, lim Limits, pf *cappedFile) error {
	fields := prov.Fields()
	out := rowSink{typ: t.Type, fields: fields, index: index, w: w, row: make([]any, len(index))}
	if tw, ok := w.(TextRowWriter); ok {
		out.text, out.cells = tw, make([][]byte, len(index))
	}
	src := startPrefetch(ctx, t.Type, prov, FetchRequest{TaskID: t.ID, Attempt: t.Attempts, Params: params, Limit: r.BatchSize}, r.Log)
	defer src.Stop()
	for {
		b, text, err := src.Next(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil {
			return err
		}
		p.batches.Add(1)
		n := len(b.Rows)
		if text != nil {
			n = text.Len()
		}
		if lim.MaxRows > 0 && p.rows.Load()+int64(n) > lim.MaxRows {
			return Permanent(rowLimitError(lim.MaxRows))
		}
		if text != nil {
			err = out.writeText(text, p)
			src.Release(text)
		} else {
			err = out.writeRows(b.Rows, p)
		}
		if err != nil {
			if pf.over {
				return Permanent(byteLimitError(lim.MaxFileBytes))
			}
			return err
		}
		if r.Observe != nil && n > 0 {
			r.Observe.RowsWritten(t.Type, n)
		}
		if b.Done {
			return nil
		}
	}
}

// rowSink writes a provider's rows into the file, the task's columns
// picked from each row by index.
type rowSink struct {
	typ    string
	fields []Field
	index  []int
	w      SheetWriter
	row    []any
	// text is the writer's text path, when it has one; cells is its row.
	text  TextRowWriter
	cells [][]byte
}

func (s *rowSink) writeRows(rows [][]any, p *progress) error {
	for _, vals := range rows {
		if len(vals) != len(s.fields) {
			return Permanent(fmt.Errorf("provider %q returned a row of %d values, want %d", s.typ, len(vals), len(s.fields)))
		}
		for i, j := range s.index {
			s.row[i] = vals[j]
		}
		if err := s.w.WriteRow(s.row); err != nil {
			return fmt.Errorf("write row %d: %w", p.rows.Load()+1, err)
		}
		p.rows.Add(1)
	}
	return nil
}

// writeText writes rows handed over as text: as text to a writer that
// takes it, else parsed into values, as Fetch would have returned them.
func (s *rowSink) writeText(text *TextRows, p *progress) error {
	if text.Width() != len(s.fields) || text.partial() {
		return Permanent(fmt.Errorf("provider %q returned rows of %d cells, want %d", s.typ, text.Width(), len(s.fields)))
	}
	for r := range text.Len() {
		var err error
		if s.text != nil {
			err = s.text.WriteTextRow(text.Row(r, s.index, s.cells))
		} else {
			for i, j := range s.index {
				if s.row[i], err = ParseText(s.fields[j].Kind, text.Cell(r, j)); err != nil {
					return Permanent(fmt.Errorf("provider %q, field %s: %w", s.typ, s.fields[j].Name, err))
				}
			}
			err = s.w.WriteRow(s.row)
		}
		if err != nil {
			return fmt.Errorf("write row %d: %w", p.rows.Load()+1, err)
		}
		p.rows.Add(1)
	}
	return nil
}

// freshCount is how old a count taken when the task was created may be
// and still serve as the first attempt's progress total.
const freshCount = time.Minute

// countedAtCreate tells whether the task's total is the count taken when
// it was created (Tasks.Create, for the row limit) moments ago: the first
// attempt then uses it rather than have the database count the same rows
// again while it exports them. A later attempt, or one that waited long
// in the queue, counts anew.
func (r *Runner) countedAtCreate(t *Task) bool {
	return t.Attempts == 1 && t.RowsTotal >= 0 && r.Now().Sub(t.CreatedAt) < freshCount
}

// count stores the provider's row count as the progress total. A failed
// count only costs the total; a panicking one too.
func (r *Runner) count(ctx context.Context, c Counter, params map[string]any, p *progress, log *slog.Logger) {
	defer func() {
		if v := recover(); v != nil {
			log.Error("count panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	if n, err := c.Count(ctx, params); err == nil && n >= 0 {
		p.total.Store(n)
	} else if ctx.Err() == nil {
		log.Warn("count rows", "err", err)
	}
}

func rowLimitError(max int64) error {
	return fmt.Errorf("the export has more than %d rows, the limit per export (max-rows, DC_MAX_ROWS)", max)
}

func byteLimitError(max int64) error {
	return fmt.Errorf("the file grew past %d bytes, the limit per export (max-file-bytes, DC_MAX_FILE_BYTES)", max)
}

// errFileTooBig is what a writer sees once a file reaches its byte limit.
var errFileTooBig = errors.New("file size limit reached")

// cappedFile refuses writes past max bytes (0: no cap) and remembers that
// it did, so the limit is reported whatever the writer makes of the error.
type cappedFile struct {
	PendingFile
	max, n int64
	over   bool
}

func (f *cappedFile) Write(b []byte) (int, error) {
	if f.max > 0 && f.n+int64(len(b)) > f.max {
		f.over = true
		return 0, errFileTooBig
	}
	n, err := f.PendingFile.Write(b)
	f.n += int64(n)
	return n, err
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
			cur, gerr := r.Store.Get(ctx, o.TaskID)
			switch {
			case gerr != nil && !errors.Is(gerr, ErrNotFound):
				// An earlier try may have gone through with only its answer
				// lost: the row may point to this file, so it stays (an
				// orphan at worst) and the outcome is looked up again.
				return fmt.Errorf("look up task %d after its succeed lost a race: %w", o.TaskID, gerr)
			case gerr == nil && cur.Status == StatusSuccess && cur.File != nil && cur.File.Name == file.Name:
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
		// Release refuses a task whose cancel was requested (it would run
		// again); such a task ends CANCELLED instead.
		err := r.Store.Release(ctx, o, fmt.Sprintf("worker %s shut down during attempt %d", o.Worker, o.Attempt), now)
		if err == nil {
			rep.Outcome = OutcomeReleased
			log.Info("task released for another worker")
			return nil
		}
		if !errors.Is(err, ErrLostRace) {
			return err
		}
		if err := r.Store.CancelRunning(ctx, o, now); err != nil {
			return err
		}
		rep.Outcome, rep.Finished = OutcomeCancelled, StatusCancelled
		log.Info("task cancelled (cancel requested before shutdown)")
		return nil
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
