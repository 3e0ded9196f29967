package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"
)

// Timeouts of the steps that wait on the processes.
const (
	startTimeout  = 90 * time.Second // a process's start line
	exportTimeout = 30 * time.Minute // one export, POST to SUCCESS
	smallTimeout  = time.Minute      // a one-row task
	stopGrace     = 15 * time.Second // SIGTERM to kill
	// settle is how long a new consumer group is given to be assigned its
	// queues before the warm-up tasks check that it has been.
	settle = 3 * time.Second
	// warmups is how many one-row tasks a new worker group must finish
	// before it is measured: as many as the topic has queues, which the
	// API's producer sends to in turn, so every queue is known served.
	warmups = 8
)

var workerStarted = regexp.MustCompile(`worker started`)

// bench holds one invocation's state: the built binaries, the work
// directory, the stack and the samples gathered.
type bench struct {
	cfg      Config
	out      io.Writer
	progress io.Writer
	begun    time.Time

	work      string
	ownWork   bool // created here, so removed afterwards
	logDir    string
	logFile   *os.File
	log       *slog.Logger
	apiBin    string
	workerBin string
	tag       string
	seq       int

	st         *stack
	stackDB    string
	stackDSN   string
	stackFiles string
	stackAPI   *proc
	stackC     *client

	s samples
	// bigRSS is this run's peak RSS of the large xlsx export per mode, so
	// the memory row need not repeat the export the xlsx row just made.
	bigRSS map[string]int64
	// workerExtra is added to the environment of the workers started
	// while it is set (the bucket row's).
	workerExtra map[string]string
}

// newBench makes the work directory, builds the binaries and, with
// -stack, creates the bench's topic.
func newBench(ctx context.Context, cfg Config, out io.Writer) (_ *bench, err error) {
	b := &bench{
		cfg: cfg, out: out, progress: out, begun: time.Now(), s: samples{},
		tag: fmt.Sprintf("%d_%d", os.Getpid(), time.Now().Unix()),
	}
	if cfg.Quiet {
		b.progress = io.Discard
	}
	if cfg.WorkDir == "" {
		if b.work, err = os.MkdirTemp("", "dc-bench-"); err != nil {
			return nil, fmt.Errorf("work dir: %w", err)
		}
		b.ownWork = true
	} else {
		b.work = cfg.WorkDir
	}
	defer func() {
		if err != nil {
			_ = b.close(ctx, true)
		}
	}()
	b.logDir = filepath.Join(b.work, "logs")
	if err := os.MkdirAll(b.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if b.logFile, err = os.Create(filepath.Join(b.logDir, "bench.log")); err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	b.log = slog.New(slog.NewTextHandler(b.logFile, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// The RocketMQ client logs through slog's default until a sender or
	// consumer is made; its chatter belongs in the log file, not the table.
	slog.SetDefault(b.log)

	b.logf("building dc-api and dc-worker in %s", b.work)
	if b.apiBin, err = build(ctx, cfg.Src, "./cmd/api", b.work, "dc-api"); err != nil {
		return nil, err
	}
	if cfg.Stack {
		if b.workerBin, err = build(ctx, cfg.Src, "./cmd/worker", b.work, "dc-worker"); err != nil {
			return nil, err
		}
		if b.st, err = openStack(ctx, cfg, b.tag, b.log); err != nil {
			return nil, err
		}
		b.logf("MariaDB databases dc_bench_%s_*, RocketMQ topic %s", b.tag, b.st.topic)
	}
	return b, nil
}

// close stops what is still running and removes what the bench made. The
// work directory (with the processes' logs) is kept after a failure.
func (b *bench) close(ctx context.Context, failed bool) error {
	b.stopStackAPI(ctx)
	var err error
	if b.st != nil {
		err = b.st.close(ctx)
		b.st = nil
	}
	if b.logFile != nil {
		_ = b.logFile.Close()
		b.logFile = nil
	}
	switch {
	case failed || b.cfg.Keep:
		fmt.Fprintf(b.out, "logs and files kept in %s\n", b.work)
	case b.ownWork:
		if rerr := os.RemoveAll(b.work); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove work dir: %w", rerr))
		}
	}
	return err
}

// logf prints a progress line.
func (b *bench) logf(format string, args ...any) {
	el := time.Since(b.begun).Round(time.Second)
	fmt.Fprintf(b.progress, "[%02d:%02d] %s\n", int(el.Minutes()), int(el.Seconds())%60, fmt.Sprintf(format, args...))
}

// next returns a new sequence number for names.
func (b *bench) next() int {
	b.seq++
	return b.seq
}

// measure runs every selected measure, run by run, so that a pair's two
// sides are always measured minutes apart at most.
func (b *bench) measure(ctx context.Context) error {
	c := b.cfg
	if b.st != nil && (c.selected(measureXLSX) || c.selected(measureCSV) || c.selected(measureRSS) || c.selected(measureLatency) || c.selected(measureScale) || c.selected(measureS3)) {
		if err := b.startStackAPI(ctx); err != nil {
			return err
		}
	}
	for run := 1; run <= c.Runs; run++ {
		b.bigRSS = map[string]int64{}
		for _, f := range []string{measureXLSX, measureCSV} {
			if c.selected(f) {
				if err := b.exportPair(ctx, f, run); err != nil {
					return err
				}
			}
		}
		if c.selected(measureRSS) {
			if err := b.memory(ctx, run); err != nil {
				return err
			}
		}
		if b.st != nil && c.selected(measureS3) && c.S3.set() {
			if err := b.s3Pair(ctx, run); err != nil {
				return err
			}
		}
	}
	if b.st != nil && c.selected(measureLatency) {
		if err := b.latency(ctx); err != nil {
			return err
		}
	}
	if b.st != nil && c.selected(measureScale) {
		for run := 1; run <= c.Runs; run++ {
			if err := b.scale(ctx, run); err != nil {
				return err
			}
		}
	}
	if b.st != nil && c.selected(measureSource) {
		if err := b.sourceRow(ctx); err != nil {
			return err
		}
	}
	if c.selected(measureHTTP) {
		if err := b.httpSourceRow(ctx); err != nil {
			return err
		}
	}
	// The throughput row loads MariaDB and the broker: nothing else runs.
	b.stopStackAPI(ctx)
	if b.st != nil && c.selected(measureCreate) {
		for run := 1; run <= c.Runs; run++ {
			if err := b.createPair(ctx, run); err != nil {
				return err
			}
		}
	}
	return nil
}

// report prints the table and the samples behind it.
func (b *bench) report(started time.Time) {
	fmt.Fprintf(b.out, "\nDownload Center bench, %s UTC; %s\n", started.UTC().Format("2006-01-02 15:04"), machine())
	fmt.Fprintf(b.out, "runs %d (medians shown), exports %d / %d rows, poll %s, took %s\n\n",
		b.cfg.Runs, b.cfg.Rows, b.cfg.SmallRows, b.cfg.Poll, time.Since(started).Round(time.Second))
	printTable(b.out, buildRows(b.cfg, b.s))
	fmt.Fprintln(b.out)
	printSamples(b.out, b.s)
}

// exportResult is one export through the product.
type exportResult struct {
	client time.Duration // POST sent to SUCCESS seen
	server time.Duration // created_at to finished_at
	size   int64
	rss    int64  // peak RSS of the exporting process
	path   string // the file on the volume
}

// exportPair measures one run of an export row: the plain program, then
// the product in each mode (the order flips every other run, so a
// machine getting slower or faster over a run does not favour one side).
func (b *bench) exportPair(ctx context.Context, format string, run int) error {
	rows := b.cfg.Rows
	plainPath := filepath.Join(b.work, "plain."+format)
	defer os.Remove(plainPath)
	var plainTime time.Duration
	var plainSize int64
	plain := func() error {
		// The plain program starts from a quiet heap, like a fresh process.
		runtime.GC()
		debug.FreeOSMemory()
		t0 := time.Now()
		var err error
		if format == measureXLSX {
			plainSize, err = plainXLSX(plainPath, b.work, rows)
		} else {
			plainSize, err = plainCSV(plainPath, rows)
		}
		plainTime = time.Since(t0)
		runtime.GC()
		debug.FreeOSMemory()
		return err
	}
	modes := b.modes()
	results := map[string]exportResult{}
	// The exports' files stay until they are compared with the plain one.
	var cleanups []func()
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	product := func() error {
		for _, m := range modes {
			r, cleanup, err := b.exportIn(ctx, m, format, rows)
			if err != nil {
				return err
			}
			cleanups = append(cleanups, cleanup)
			results[m] = r
		}
		return nil
	}
	steps := []func() error{plain, product}
	if run%2 == 0 {
		steps[0], steps[1] = steps[1], steps[0]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	b.s.add(fmt.Sprintf(kPlainTime, format), plainTime.Seconds())
	b.s.add(fmt.Sprintf(kPlainSize, format), float64(plainSize))
	line := fmt.Sprintf("%s run %d/%d: plain %s", format, run, b.cfg.Runs, plainTime.Round(time.Millisecond))
	for _, m := range modes {
		r := results[m]
		speedup := plainTime.Seconds() / r.client.Seconds()
		b.s.add(fmt.Sprintf(kE2ETime, format, m), r.client.Seconds())
		b.s.add(fmt.Sprintf(kE2EServer, format, m), r.server.Seconds())
		b.s.add(fmt.Sprintf(kE2ESize, format, m), float64(r.size))
		b.s.add(fmt.Sprintf(kSpeedup, format, m), speedup)
		b.s.add(fmt.Sprintf(kSizeRatio, format, m), float64(r.size)/float64(plainSize))
		if format == measureXLSX {
			b.s.add(fmt.Sprintf(kRSS, m, rows), float64(r.rss))
			b.bigRSS[m] = r.rss
		}
		if format == measureCSV {
			// Same bytes, or the ratio compares different work.
			if err := sameFile(r.path, plainPath); err != nil {
				return fmt.Errorf("csv %s export differs from the plain file: %w", m, err)
			}
		}
		line += fmt.Sprintf(", %s %s (%.2f×)", m, r.client.Round(time.Millisecond), speedup)
	}
	b.logf("%s", line)
	return nil
}

// memory measures one run of the memory row: the small export in a fresh
// process, and the large one too unless the xlsx row just made it.
func (b *bench) memory(ctx context.Context, run int) error {
	for _, m := range b.modes() {
		big, ok := b.bigRSS[m]
		if !ok {
			r, cleanup, err := b.exportIn(ctx, m, measureXLSX, b.cfg.Rows)
			if err != nil {
				return err
			}
			cleanup()
			big = r.rss
			b.s.add(fmt.Sprintf(kRSS, m, b.cfg.Rows), float64(big))
		}
		r, cleanup, err := b.exportIn(ctx, m, measureXLSX, b.cfg.SmallRows)
		if err != nil {
			return err
		}
		cleanup()
		b.s.add(fmt.Sprintf(kRSS, m, b.cfg.SmallRows), float64(r.rss))
		b.s.add(fmt.Sprintf(kRSSRatio, m), float64(big)/float64(r.rss))
		b.logf("rss run %d/%d %s: %d rows %s, %d rows %s", run, b.cfg.Runs, m,
			b.cfg.Rows, mib(float64(big)), b.cfg.SmallRows, mib(float64(r.rss)))
	}
	return nil
}

// modes are the modes the exports run in.
func (b *bench) modes() []string {
	if b.st == nil {
		return []string{modeEmbedded}
	}
	return []string{modeEmbedded, modeStack}
}

// exportIn runs one export in a fresh exporting process of mode m: a
// dc-api of its own in the embedded mode, a dc-worker of its own beside
// the shared dc-api on the stack. cleanup removes what it left.
func (b *bench) exportIn(ctx context.Context, m, format string, rows int) (exportResult, func(), error) {
	if m == modeEmbedded {
		return b.embeddedExport(ctx, format, rows)
	}
	return b.stackExport(ctx, format, rows)
}

func (b *bench) embeddedExport(ctx context.Context, format string, rows int) (exportResult, func(), error) {
	n := b.next()
	dir := filepath.Join(b.work, "embedded-"+strconv.Itoa(n))
	cleanup := func() { _ = os.RemoveAll(dir) }
	p, c, err := b.startAPI(ctx, "api-embedded-"+strconv.Itoa(n), map[string]string{"DC_DATA_DIR": dir})
	if err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	defer p.stop(stopGrace)
	defer c.close()
	r, t, err := b.export(ctx, c, format, rows, p)
	if err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	if r.rss, err = p.peakRSS(); err != nil {
		cleanup()
		return exportResult{}, nil, err
	}
	r.path = filepath.Join(dir, "files", fileName(t, format))
	return r, cleanup, nil
}

func (b *bench) stackExport(ctx context.Context, format string, rows int) (exportResult, func(), error) {
	r, t, err := b.stackExportTask(ctx, format, rows)
	if err != nil {
		return exportResult{}, nil, err
	}
	r.path = filepath.Join(b.stackFiles, fileName(t, format))
	return r, func() { _ = os.Remove(r.path) }, nil
}

// stackExportTask runs one export by a fresh dc-worker of its own.
func (b *bench) stackExportTask(ctx context.Context, format string, rows int) (exportResult, task, error) {
	ws, err := b.startWorkers(ctx, 1, nil)
	if err != nil {
		return exportResult{}, task{}, err
	}
	defer stopAll(ws)
	r, t, err := b.export(ctx, b.stackC, format, rows, append(ws, b.stackAPI)...)
	if err != nil {
		return exportResult{}, task{}, err
	}
	if r.rss, err = ws[0].peakRSS(); err != nil {
		return exportResult{}, task{}, err
	}
	return r, t, nil
}

// fileName is where the runner stores a task's file.
func fileName(t task, format string) string {
	return fmt.Sprintf("task-%d-%d.%s", t.ID, t.Attempts, format)
}

// export creates a demo export and waits for it to succeed, failing early
// when one of procs dies.
func (b *bench) export(ctx context.Context, c *client, format string, rows int, procs ...*proc) (exportResult, task, error) {
	return b.exportBody(ctx, c, createBody(fmt.Sprintf("bench %s %d", format, rows), format, rows), format, rows, procs...)
}

// exportBody creates the export body asks for, of rows rows, and waits
// for it to succeed.
func (b *bench) exportBody(ctx context.Context, c *client, body []byte, format string, rows int, procs ...*proc) (exportResult, task, error) {
	t0 := time.Now()
	t, err := c.create(ctx, body)
	if err != nil {
		return exportResult{}, task{}, err
	}
	done, seen, err := c.wait(ctx, t.ID, b.cfg.Poll, exportTimeout, task.finished, procs...)
	if err != nil {
		return exportResult{}, task{}, fmt.Errorf("%s export of %d rows: %w", format, rows, err)
	}
	switch {
	case done.Status != "SUCCESS":
		return exportResult{}, task{}, fmt.Errorf("%s export of %d rows ended %s: %s", format, rows, done.Status, done.Error)
	case done.File == nil || done.File.Rows != int64(rows) || done.File.Sheets != 1 || done.FinishedAt == nil:
		return exportResult{}, task{}, fmt.Errorf("%s export of %d rows: unexpected result %+v", format, rows, done.File)
	case done.Attempts != 1:
		return exportResult{}, task{}, fmt.Errorf("%s export of %d rows took %d attempts: the timing is not one export", format, rows, done.Attempts)
	}
	return exportResult{
		client: seen.Sub(t0), server: done.FinishedAt.Sub(done.CreatedAt), size: done.File.Size,
	}, done, nil
}

// sameFile fails unless the two files hold the same bytes.
func sameFile(a, b string) error {
	x, err := os.ReadFile(a)
	if err != nil {
		return err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return err
	}
	if !bytes.Equal(x, y) {
		return fmt.Errorf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
	return nil
}
