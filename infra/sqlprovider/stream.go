package sqlprovider

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// Streaming (domain.TextStreamer). A batch query is answered faster than
// it is read: its few hundred kilobytes land in the socket's buffer at
// once, and the server then idles until the reader has converted them
// all and sent the next query, so the server and the reader take turns.
// A stream instead reads a window of many batches with one query, the
// server sending while the reader works: the same keyset statement as a
// batch, after the last row read, with a LIMIT of windowBatches batches.
//
// Windows keep what a batch query guarantees: keyset order and restarts
// from any batch's cursor; a statement's life stays short, well inside
// any server cap on statement time (max_statement_time,
// max_execution_time) or on a stalled reader (net_write_timeout), since
// a window left unread for windowAge is dropped and read again from the
// cursor; and rows inserted during the export are read when their window
// comes, as with batches. Each window takes a connection from the pool
// and gives it back at its end.
const (
	// windowBatches is how many batches one window's query reads.
	windowBatches = 40
	// windowAge is how long a window stays open for the reader.
	windowAge = 5 * time.Second
)

// StreamText implements domain.TextStreamer. Where the wire path cannot
// read the provider's connections, the stream reads batch by batch with
// FetchText.
func (p *Provider) StreamText(ctx context.Context, req domain.FetchRequest) (domain.TextStream, error) {
	if _, _, _, err := p.batchQuery(req); err != nil {
		return nil, err
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	return &stream{p: p, req: req, limit: limit, window: limit * windowBatches, age: windowAge}, nil
}

// stream is an export read window by window.
type stream struct {
	p      *Provider
	req    domain.FetchRequest // req.Cursor: after the last row read
	limit  int
	window int           // rows a window's query asks for
	age    time.Duration // how long a window stays open
	// batches says the connections cannot be read by the wire path: the
	// stream fetches batch by batch.
	batches bool
	done    bool

	// cells append the rows' cells to the batch being read.
	cells  []textCell
	conn   *sql.Conn // the open window's connection
	rows   *wireRows // the open window, nil between windows
	opened time.Time
}

// Next implements domain.TextStream.
func (s *stream) Next(ctx context.Context, into *domain.TextRows) (domain.Batch, error) {
	p := s.p
	if s.done {
		into.Reset(len(p.cols))
		return domain.Batch{NextCursor: s.req.Cursor, Done: true}, nil
	}
	if s.batches {
		return s.fetchBatch(ctx, into)
	}
	if s.rows != nil && time.Since(s.opened) > s.age {
		s.closeWindow()
	}
	qctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errTimeout)
	defer cancel()
	into.Reset(len(p.cols))
	for i := range s.cells {
		s.cells[i].out = into
	}
	keys := p.newKeyCheck(s.req.Cursor)
	op := "read rows"
	for into.Len() < s.limit {
		if s.rows == nil {
			op = "query"
			opened, err := s.openWindow(qctx)
			if err != nil {
				return domain.Batch{}, s.fail(ctx, qctx, op, err)
			}
			if !opened {
				s.batches = true // the wire path cannot read this connection
				if into.Len() > 0 {
					break
				}
				return s.fetchBatch(ctx, into)
			}
			op = "read rows"
			if s.cells == nil {
				s.cells = p.textCells(s.bits(), into)
			}
		}
		more, err := s.read(qctx, into, s.cells, keys)
		if err != nil {
			return domain.Batch{}, s.fail(ctx, qctx, op, err)
		}
		if !more {
			break
		}
	}
	s.req.Cursor = keys.cursor()
	return domain.Batch{NextCursor: s.req.Cursor, Done: s.done}, nil
}

// bits tells which of the open window's columns are BITs.
func (s *stream) bits() []bool {
	bits := make([]bool, len(s.rows.cols))
	for i, c := range s.rows.cols {
		bits[i] = c.typ == typeBit
	}
	return bits
}

// openWindow takes a connection and sends the window's query. It returns
// false, having given the connection back, when the wire path cannot
// read it.
func (s *stream) openWindow(ctx context.Context) (bool, error) {
	p := s.p
	lit, ok := p.literalBatch(s.req, s.window)
	if !ok {
		return false, nil
	}
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	opened := false
	err = conn.Raw(func(dc any) error {
		wc, ok := dc.(*wireConn)
		if !ok || wc.sock == nil {
			return nil
		}
		rows, err := wc.query(ctx, lit)
		if err != nil {
			return err
		}
		if got := len(rows.cols); got != len(p.cols) {
			return rows.unwatch(domain.Permanent(fmt.Errorf("sql export type %q: query returned %d columns, want %d", p.typ, got, len(p.cols))))
		}
		opened = true
		s.rows = rows
		return nil
	})
	if !opened {
		_ = conn.Close()
		return false, err
	}
	s.conn, s.opened = conn, time.Now()
	return true, nil
}

// read reads rows of the open window into the batch, under ctx, until the
// batch is full or the window ends. It returns whether the batch wants
// rows from another window.
func (s *stream) read(ctx context.Context, into *domain.TextRows, cells []textCell, keys *keyCheck) (bool, error) {
	p := s.p
	rows := s.rows
	ended := false
	err := s.conn.Raw(func(any) error {
		// The connection is rows'; Raw keeps it out of others' hands.
		if rows.stop == nil {
			if err := rows.watch(ctx); err != nil {
				rows.abandon() // its result is left unread
				return err
			}
		}
		var err error
		for err == nil && into.Len() < s.limit {
			var ok bool
			if ok, err = rows.next(); err != nil || !ok {
				ended = !ok && err == nil
				break
			}
			row := into.Len()
			for i, b := range rows.cells {
				if err = cells[i].scanWire(rows.cols[i], b); err != nil {
					break
				}
			}
			if err == nil {
				err = p.checkTextRow(cells, keys, row, s.req.Cursor)
			}
		}
		return rows.unwatch(err)
	})
	if err != nil {
		s.dropWindow()
		return false, err
	}
	if !ended {
		return false, nil
	}
	// The window's end: a short window was the export's last.
	s.done = rows.count < s.window
	s.req.Cursor = keys.cursor()
	s.dropWindow()
	return !s.done, nil
}

// fetchBatch reads the next batch with FetchText.
func (s *stream) fetchBatch(ctx context.Context, into *domain.TextRows) (domain.Batch, error) {
	b, err := s.p.FetchText(ctx, s.req, into)
	if err != nil {
		return domain.Batch{}, err
	}
	s.req.Cursor, s.done = b.NextCursor, b.Done
	return b, nil
}

// closeWindow drops a window not read to its end: its connection cannot
// take another command until the rest of the result is read, so it is
// closed rather than drained.
func (s *stream) closeWindow() {
	if s.rows == nil {
		return
	}
	rows := s.rows
	_ = s.conn.Raw(func(any) error {
		rows.abandon()
		if rows.c.broken {
			return &brokenConnError{err: errors.New("window closed")}
		}
		return nil
	})
	s.dropWindow()
}

// dropWindow gives the window's connection back to the pool, which
// closes it if the window broke it.
func (s *stream) dropWindow() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.conn, s.rows = nil, nil
}

// fail reports a failed window read as the batch paths do.
func (s *stream) fail(ctx, qctx context.Context, op string, err error) error {
	if domain.IsPermanent(err) {
		return err
	}
	return s.p.fail(ctx, qctx, op, err)
}

// Close implements domain.TextStream.
func (s *stream) Close() error {
	s.closeWindow()
	s.done = true
	return nil
}
