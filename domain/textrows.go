package domain

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// TextRows is a batch's rows as the text of their values, every cell of
// every row in one buffer. It is the fast path between a provider that
// reads text anyway (a database's wire protocol) and a writer that writes
// text (csv, the XML of xlsx): a value travels as the bytes it arrived as,
// instead of being parsed into a Go value, boxed into an any and
// formatted again. Profiles of SQL exports put that round trip, one
// allocation per cell and the garbage collection they cause, at about
// half of the export's CPU.
//
// A cell holds the canonical text of its column's kind, which is what the
// csv format writes for it:
//
//	KindString   the UTF-8 text itself
//	KindInt      a base-10 integer in the int64 range, as strconv.FormatInt writes it
//	KindDecimal  a Decimal (Decimal.Valid)
//	KindBool     "true" or "false"
//	KindTime     RFC 3339 in UTC, as time.RFC3339Nano formats it ("2026-01-01T00:00:01Z")
//
// A NULL cell is distinct from an empty text. TextRows is reused from
// batch to batch, so its memory is allocated once per export.
type TextRows struct {
	width int
	buf   []byte
	// ends holds where each cell ends in buf; a cell starts where the one
	// before it ends. A NULL cell's end is stored complemented (^end).
	ends []int
}

// noText is the empty text of a non-NULL cell: not nil, which means NULL.
var noText = []byte{}

// Reset empties t for rows of width cells, keeping its memory.
func (t *TextRows) Reset(width int) {
	t.width, t.buf, t.ends = width, t.buf[:0], t.ends[:0]
}

// Width is the number of cells in a row.
func (t *TextRows) Width() int { return t.width }

// Len is the number of complete rows.
func (t *TextRows) Len() int {
	if t.width == 0 {
		return 0
	}
	return len(t.ends) / t.width
}

// Text returns the buffer the next cell's text is to be appended to; the
// cell ends with EndCell.
func (t *TextRows) Text() []byte { return t.buf }

// EndCell ends the current cell: b is the buffer Text returned with the
// cell's text appended.
func (t *TextRows) EndCell(b []byte) {
	t.buf = b
	t.ends = append(t.ends, len(b))
}

// AppendCell appends a cell holding text.
func (t *TextRows) AppendCell(text []byte) { t.EndCell(append(t.buf, text...)) }

// AppendNull appends a NULL cell.
func (t *TextRows) AppendNull() { t.ends = append(t.ends, ^len(t.buf)) }

// DropRow removes the cells of a row not yet complete.
func (t *TextRows) DropRow() {
	n := t.Len() * t.width
	if n < len(t.ends) {
		t.buf = t.buf[:t.end(n-1)]
		t.ends = t.ends[:n]
	}
}

func (t *TextRows) end(i int) int {
	if i < 0 {
		return 0
	}
	if e := t.ends[i]; e < 0 {
		return ^e
	}
	return t.ends[i]
}

// Cell returns the text of a cell, nil for NULL. The bytes belong to t
// and are valid until it is reset; a non-NULL cell is never nil.
func (t *TextRows) Cell(row, col int) []byte {
	i := row*t.width + col
	e := t.ends[i]
	if e < 0 {
		return nil
	}
	if s := t.end(i - 1); s < e {
		return t.buf[s:e]
	}
	return noText
}

// Row fills cells with the cells of a row, picked by index: cells[i] is
// the row's cell index[i]. It returns cells.
func (t *TextRows) Row(row int, index []int, cells [][]byte) [][]byte {
	for i, j := range index {
		cells[i] = t.Cell(row, j)
	}
	return cells
}

// ParseText reads a cell's canonical text as the Go value of kind, as a
// provider's Fetch would return it: for writers without a text path, and
// for tests. nil text is a NULL, returned as nil.
func ParseText(kind ValueKind, text []byte) (any, error) {
	if text == nil {
		return nil, nil
	}
	s := string(text)
	switch kind {
	case KindString:
		return s, nil
	case KindInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("integer text %q: %w", s, err)
		}
		return n, nil
	case KindDecimal:
		if !Decimal(s).Valid() {
			return nil, fmt.Errorf("decimal text %q is not a decimal", s)
		}
		return Decimal(s), nil
	case KindBool:
		switch s {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, fmt.Errorf("boolean text %q: want true or false", s)
	case KindTime:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("time text %q: %w", s, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// TextFetcher is a Provider that can also hand its batches over as text.
// The runner uses it instead of Fetch when the provider offers it; the
// seed's contract, Fetch, stays what business providers implement.
type TextFetcher interface {
	// FetchText is Fetch with the rows appended to into (reset, for rows
	// of len(Fields()) cells) instead of returned in Batch.Rows.
	FetchText(ctx context.Context, req FetchRequest, into *TextRows) (Batch, error)
}

// TextStreamer is a TextFetcher that can also read an export in one pass:
// a database that sends a long result while the rows are written, instead
// of answering one short query per batch and idling between them (each
// batch's rows sit in the socket's buffer before the next query is sent,
// so the database and the reader take turns). The runner streams when the
// provider offers it.
type TextStreamer interface {
	TextFetcher
	// StreamText starts reading req's export after req.Cursor, in batches
	// of req.Limit rows.
	StreamText(ctx context.Context, req FetchRequest) (TextStream, error)
}

// TextStream is an export being read in one pass (TextStreamer). Its
// batches are what FetchText would return one after another: each
// NextCursor a place to resume from, Done on the last (which may be
// empty).
type TextStream interface {
	// Next appends the next batch's rows to into (reset, for rows of
	// len(Fields()) cells). ctx bounds this call.
	Next(ctx context.Context, into *TextRows) (Batch, error)
	// Close ends the stream and releases what it holds; it must be called,
	// also after an error or the last batch.
	Close() error
}

// TextRowWriter is a SheetWriter that can write a row given as text.
type TextRowWriter interface {
	// WriteTextRow writes one data row: cells in column order, each the
	// canonical text of its column's kind (see TextRows), nil for NULL.
	// The cells are valid only during the call.
	WriteTextRow(cells [][]byte) error
}

// partial reports whether the last row lacks cells.
func (t *TextRows) partial() bool { return t.width > 0 && len(t.ends)%t.width != 0 }
