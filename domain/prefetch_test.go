package domain_test

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// gatedWriter wraps the fake writer: every WriteRow first calls gate.
type gatedWriter struct {
	domain.SheetWriter
	gate func(row int) error
	n    int
}

func (g *gatedWriter) WriteRow(values []any) error {
	g.n++
	if err := g.gate(g.n); err != nil {
		return err
	}
	return g.SheetWriter.WriteRow(values)
}

// gateWriters makes e's xlsx writer call gate before each row.
func gateWriters(e *runnerEnv, gate func(row int) error) {
	inner := e.sheets.factory()
	e.runner.Writers[domain.FormatXLSX] = func(w io.Writer, cols []domain.SheetColumn) (domain.SheetWriter, error) {
		sw, err := inner(w, cols)
		if err != nil {
			return nil, err
		}
		return &gatedWriter{SheetWriter: sw, gate: gate}, nil
	}
}

// The next batch is fetched while the current one is written: the writer
// of the first row waits for the second Fetch, which sequential paging
// would only start after the first batch was written.
func TestRunFetchesTheNextBatchWhileWriting(t *testing.T) {
	t.Parallel()
	prov := newOrders(9)
	second := make(chan struct{})
	prov.beforeFetch = func(_ context.Context, call int) error {
		if call == 2 {
			close(second)
		}
		return nil
	}
	e := newRunnerEnv(prov)
	gateWriters(e, func(row int) error {
		if row != 1 {
			return nil
		}
		select {
		case <-second:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the second batch was not fetched while the first was written")
		}
	})
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status, got.Error)
	_, rows := e.sheets.written()
	require.Equal(t, orderRows(9), rows, "every row once, in order")
}

// Fetching runs ahead of a slow writer by a bounded number of batches, so
// memory stays bounded whatever the row count.
func TestRunFetchesABoundedNumberOfBatchesAhead(t *testing.T) {
	t.Parallel()
	prov := newOrders(60) // 20 batches of 3
	e := newRunnerEnv(prov)
	release := make(chan struct{})
	gateWriters(e, func(row int) error {
		if row == 1 {
			<-release
		}
		return nil
	})
	task := e.seed(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.run(t, context.Background(), task)
	}()
	// One batch in the writer, one waiting, one fetched and waiting to be
	// handed over.
	require.True(t, eventually(func() bool { return len(prov.fetchCalls()) == 3 }), "fetching runs ahead")
	time.Sleep(50 * time.Millisecond)
	require.Len(t, prov.fetchCalls(), 3, "no further while the writer is stuck")
	close(release)
	<-done
	require.Equal(t, domain.StatusSuccess, e.store.task(task.ID).Status)
	require.Len(t, prov.fetchCalls(), 20)
	_, rows := e.sheets.written()
	require.Equal(t, orderRows(60), rows)
}

// When writing fails, the fetch running ahead is cancelled and waited
// for: nothing of the export outlives the run.
func TestRunStopsFetchingWhenWritingFails(t *testing.T) {
	t.Parallel()
	prov := newOrders(9)
	var cancelled atomic.Bool
	fetching := make(chan struct{})
	prov.beforeFetch = func(ctx context.Context, call int) error {
		if call == 2 {
			close(fetching)
			<-ctx.Done()
			time.Sleep(20 * time.Millisecond) // a provider slow to give up
			cancelled.Store(true)
			return ctx.Err()
		}
		return nil
	}
	e := newRunnerEnv(prov)
	e.sheets.failAt = 2
	e.sheets.failWait = fetching // the write fails while the next fetch runs, however slow the machine
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	require.True(t, cancelled.Load(), "the run waited for the fetch it cancelled")
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Contains(t, got.Error, "write row 2: disk full")
	require.Len(t, prov.fetchCalls(), 2)
}
