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
	// free holds the text buffers the writer is done with, when the
	// provider hands its rows over as text (TextFetcher): fetchAhead+2 of
	// them, reused, so they also bound the batches alive.
	free chan *TextRows
	// stream is the export being read in one pass, when the provider can
	// (TextStreamer); opened by the first fetch, closed by run.
	stream TextStream
	stop   context.CancelFunc
	done   chan struct{}
}

// fetched is one batch handed to the writer, or why there are no more.
// From a TextFetcher, the rows are in text and batch.Rows is empty.
type fetched struct {
	batch Batch
	text  *TextRows
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
	if _, ok := prov.(TextFetcher); ok {
		p.free = make(chan *TextRows, fetchAhead+2)
		for range fetchAhead + 2 {
			p.free <- &TextRows{}
		}
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
	defer func() {
		if p.stream != nil {
			if err := p.stream.Close(); err != nil {
				log.Debug("close stream", "err", err)
			}
		}
	}()
	for {
		if ctx.Err() != nil {
			return
		}
		b, text, err := p.fetch(ctx, prov, req)
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
		n := len(b.Rows)
		if text != nil {
			n = text.Len()
		}
		if !send(fetched{batch: b, text: text}) || b.Done {
			return
		}
		if next != nil {
			send(fetched{err: next})
			return
		}
		fetchedRows += int64(n)
		req.Cursor = b.NextCursor
	}
}

// fetch fetches one batch: as text into a free buffer when the provider
// can, else through the business contract, Fetch.
func (p *prefetcher) fetch(ctx context.Context, prov Provider, req FetchRequest) (Batch, *TextRows, error) {
	if p.free == nil {
		b, err := prov.Fetch(ctx, req)
		return b, nil, err
	}
	var text *TextRows
	select {
	case text = <-p.free:
	case <-ctx.Done():
		return Batch{}, nil, context.Cause(ctx)
	}
	text.Reset(len(prov.Fields()))
	var (
		b   Batch
		err error
	)
	if s, ok := prov.(TextStreamer); ok {
		if p.stream == nil {
			p.stream, err = s.StreamText(ctx, req)
		}
		if err == nil {
			b, err = p.stream.Next(ctx, text)
		}
	} else {
		b, err = prov.(TextFetcher).FetchText(ctx, req, text)
	}
	if err != nil {
		p.Release(text)
		return Batch{}, nil, err
	}
	b.Rows = nil
	return b, text, nil
}

// Release gives back the text of a batch the writer is done with.
func (p *prefetcher) Release(text *TextRows) {
	if text == nil {
		return
	}
	select {
	case p.free <- text:
	default:
	}
}

// Next returns the next batch. It reports the end of the export as a
// batch with Done set; after an error or that batch it must not be
// called again. A ctx ended returns its cause.
// When the provider hands its rows over as text, they are in the
// returned TextRows, to be given back with Release once written.
func (p *prefetcher) Next(ctx context.Context) (Batch, *TextRows, error) {
	select {
	case f, ok := <-p.batches:
		if !ok {
			// The fetcher stops without a word only when ctx ends.
			if ctx.Err() != nil {
				return Batch{}, nil, context.Cause(ctx)
			}
			return Batch{}, nil, errors.New("batches ended before the last one")
		}
		if f.err != nil && ctx.Err() != nil {
			return Batch{}, nil, context.Cause(ctx)
		}
		return f.batch, f.text, f.err
	case <-ctx.Done():
		return Batch{}, nil, context.Cause(ctx)
	}
}

// Stop ends fetching and waits until no Fetch runs any more, so nothing
// of the export outlives it.
func (p *prefetcher) Stop() {
	p.stop()
	<-p.done
}
