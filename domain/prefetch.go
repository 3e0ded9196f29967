package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
)

// fetchAhead is how many fetched batches may wait for the writer. With
// one being written and one being fetched, an export holds at most
// fetchAhead+2 batches, whatever its row count.
const fetchAhead = 1

// prefetcher fetches a provider's batches on a goroutine of its own, one
// batch ahead of the writer, so that reading rows (a database or a
// service answering) overlaps formatting and writing them. Profiles of
// SQL exports showed the two taking turns, each idle while the other
// worked. Fetch calls stay sequential, in cursor order, as a provider
// expects; only the batch being written and the ones waiting are alive,
// so memory stays bounded by fetchAhead.
type prefetcher struct {
	batches chan fetched
	stop    context.CancelFunc
	done    chan struct{}
}

// fetched is one batch handed to the writer, or why there are no more.
type fetched struct {
	batch Batch
	err   error
}

// startPrefetch starts fetching the batches of req's export from the
// first one. Stop must be called when the export ends.
func startPrefetch(ctx context.Context, typ string, prov Provider, req FetchRequest, log *slog.Logger) *prefetcher {
	ctx, stop := context.WithCancelCause(ctx)
	p := &prefetcher{
		batches: make(chan fetched, fetchAhead),
		stop:    func() { stop(context.Canceled) },
		done:    make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		defer close(p.batches)
		p.run(ctx, typ, prov, req, log)
	}()
	return p
}

// run fetches until the last batch, an error or ctx's end. A panic in the
// provider fails the export, as one on the runner's goroutine does.
func (p *prefetcher) run(ctx context.Context, typ string, prov Provider, req FetchRequest, log *slog.Logger) {
	var fetchedRows int64
	send := func(f fetched) bool {
		select {
		case p.batches <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	defer func() {
		if v := recover(); v != nil {
			log.Error("export panicked", "panic", v, "stack", string(debug.Stack()))
			send(fetched{err: Permanent(fmt.Errorf("export panicked: %v", v))})
		}
	}()
	req.Cursor = ""
	for {
		if ctx.Err() != nil {
			return
		}
		b, err := prov.Fetch(ctx, req)
		if err != nil {
			if ctx.Err() == nil {
				send(fetched{err: fmt.Errorf("fetch rows after row %d: %w", fetchedRows, err)})
			}
			return
		}
		var next error
		switch {
		case b.Done:
		case b.NextCursor == "":
			next = Permanent(fmt.Errorf("provider %q returned an empty cursor before the last batch", typ))
		case b.NextCursor == req.Cursor:
			next = Permanent(fmt.Errorf("provider %q did not advance its cursor past %q", typ, req.Cursor))
		}
		if !send(fetched{batch: b}) || b.Done {
			return
		}
		if next != nil {
			send(fetched{err: next})
			return
		}
		fetchedRows += int64(len(b.Rows))
		req.Cursor = b.NextCursor
	}
}

// Next returns the next batch. It reports the end of the export as a
// batch with Done set; after an error or that batch it must not be
// called again. A ctx ended returns its cause.
func (p *prefetcher) Next(ctx context.Context) (Batch, error) {
	select {
	case f, ok := <-p.batches:
		if !ok {
			// The fetcher stops without a word only when ctx ends.
			if ctx.Err() != nil {
				return Batch{}, context.Cause(ctx)
			}
			return Batch{}, errors.New("batches ended before the last one")
		}
		if f.err != nil && ctx.Err() != nil {
			return Batch{}, context.Cause(ctx)
		}
		return f.batch, f.err
	case <-ctx.Done():
		return Batch{}, context.Cause(ctx)
	}
}

// Stop ends fetching and waits until no Fetch runs any more, so nothing
// of the export outlives it.
func (p *prefetcher) Stop() {
	p.stop()
	<-p.done
}
