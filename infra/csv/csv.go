// Package csv writes export files as comma-separated values (RFC 4180)
// with encoding/csv.
//
// The file starts with a UTF-8 byte-order mark, without which Excel reads
// the file in the system's legacy code page and garbles non-ASCII text.
// Values are written as text a program can parse back: integers and
// decimals as they are, booleans as true/false, times as RFC 3339 in UTC.
// Column formats and widths are Excel notions and are ignored.
//
// A spreadsheet opening a CSV file runs a cell that starts with =, +, -, @,
// a tab or a carriage return as a formula (OWASP "CSV injection"), and an
// export carries whatever text the business data holds. So by default such
// a text cell, header or value, is written with a leading apostrophe, which
// spreadsheets show as text; numbers, decimals, booleans and times are
// never escaped, so "-12.50" stays a number.
package csv

import (
	"bufio"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// bom is the UTF-8 byte-order mark.
const bom = "\uFEFF"

// bufferSize is the write buffer in front of the destination: large, so
// a file is written in few system calls.
const bufferSize = 256 << 10

// ErrClosed is returned when a closed writer is used.
var ErrClosed = errors.New("csv writer already closed")

// Writer writes one CSV file. It is not safe for concurrent use.
type Writer struct {
	dst   *bufio.Writer
	csv   *stdcsv.Writer
	names []string
	// rec and text are reused for every row: the text of a row's numbers
	// and times is built in text and cut into rec.
	rec  []string
	text []byte
	ends []int

	escape bool // prefix formula-like text cells with an apostrophe

	err    error // a write failure; the file is unusable after it
	closed bool
}

// formulaStart reports whether a spreadsheet would take text s as a formula.
func formulaStart(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// textCell returns s as the cell to write: escaped when it looks like a formula.
func (x *Writer) textCell(s string) string {
	if x.escape && formulaStart(s) {
		return "'" + s
	}
	return s
}

// Options tune a Writer. The zero value escapes formula-like text cells.
type Options struct {
	// KeepFormulas writes text cells exactly as given, even those a
	// spreadsheet would run as formulas (DC_CSV_FORMULA_ESCAPE=false).
	KeepFormulas bool
}

// New starts a CSV file on w with a header row of the columns' headers,
// escaping formula-like text. It matches domain.SheetWriterFactory.
func New(w io.Writer, cols []domain.SheetColumn) (domain.SheetWriter, error) {
	return NewWriter(w, cols, Options{})
}

// Factory returns a domain.SheetWriterFactory with the given options.
func Factory(opts Options) domain.SheetWriterFactory {
	return func(w io.Writer, cols []domain.SheetColumn) (domain.SheetWriter, error) {
		return NewWriter(w, cols, opts)
	}
}

// NewWriter is New with options, returning the concrete type.
func NewWriter(w io.Writer, cols []domain.SheetColumn, opts Options) (*Writer, error) {
	if len(cols) == 0 {
		return nil, errors.New("no columns")
	}
	dst := bufio.NewWriterSize(w, bufferSize)
	x := &Writer{
		dst: dst,
		// encoding/csv uses dst itself as its buffer, since it is a large
		// enough bufio.Writer, so there is one buffer, not two.
		csv:    stdcsv.NewWriter(dst),
		names:  make([]string, len(cols)),
		rec:    make([]string, len(cols)),
		ends:   make([]int, len(cols)),
		escape: !opts.KeepFormulas,
	}
	x.csv.UseCRLF = true // RFC 4180 line ends
	header := make([]string, len(cols))
	for i, c := range cols {
		x.names[i] = c.Field
		header[i] = x.textCell(c.Header)
	}
	if _, err := dst.WriteString(bom); err != nil {
		return nil, fmt.Errorf("write byte-order mark: %w", err)
	}
	if err := x.csv.Write(header); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	return x, nil
}

// WriteRow writes one record, values in column order. A value of the
// wrong type is reported as a permanent error, since writing it again
// fails again, and leaves the writer usable; a failure to write to w is
// final.
func (x *Writer) WriteRow(values []any) error {
	switch {
	case x.closed:
		return ErrClosed
	case x.err != nil:
		return x.err
	case len(values) != len(x.rec):
		return domain.Permanent(fmt.Errorf("row has %d values, want %d", len(values), len(x.rec)))
	}
	// Formatted values go into one buffer, then become one string that
	// the record's fields are cut from: one allocation per row.
	b := x.text[:0]
	for i, v := range values {
		x.rec[i] = ""
		x.ends[i] = -1
		switch t := v.(type) {
		case nil:
		case string:
			x.rec[i] = x.textCell(t)
		case domain.Decimal:
			if !t.Valid() {
				x.text = b
				return domain.Permanent(fmt.Errorf("column %q: invalid decimal %q", x.names[i], string(t)))
			}
			x.rec[i] = string(t)
		case int64:
			b = strconv.AppendInt(b, t, 10)
			x.ends[i] = len(b)
		case bool:
			b = strconv.AppendBool(b, t)
			x.ends[i] = len(b)
		case time.Time:
			b = t.UTC().AppendFormat(b, time.RFC3339Nano)
			x.ends[i] = len(b)
		// int, int32 and float64 are not domain types but unambiguous,
		// and a provider returning them is an easy slip; the xlsx format
		// takes them too.
		case int:
			b = strconv.AppendInt(b, int64(t), 10)
			x.ends[i] = len(b)
		case int32:
			b = strconv.AppendInt(b, int64(t), 10)
			x.ends[i] = len(b)
		case float64:
			b = strconv.AppendFloat(b, t, 'g', -1, 64)
			x.ends[i] = len(b)
		default:
			x.text = b
			return domain.Permanent(fmt.Errorf("column %q: unsupported value type %T", x.names[i], v))
		}
	}
	x.text = b
	if len(b) > 0 {
		s, start := string(b), 0
		for i, end := range x.ends {
			if end >= 0 {
				x.rec[i] = s[start:end]
				start = end
			}
		}
	}
	if err := x.csv.Write(x.rec); err != nil {
		x.err = fmt.Errorf("write record: %w", err)
		return x.err
	}
	return nil
}

// Close flushes the file and reports one sheet, which is all a CSV file
// has. After a failure it only reports it; a second Close returns
// ErrClosed.
func (x *Writer) Close() (sheets int, err error) {
	if x.closed {
		return 0, ErrClosed
	}
	x.closed = true
	if x.err != nil {
		return 0, x.err
	}
	x.csv.Flush()
	if err := x.csv.Error(); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	if err := x.dst.Flush(); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	return 1, nil
}

// Abort drops the writer without flushing; what reached w is incomplete.
// It is a no-op after Close.
func (x *Writer) Abort() error {
	x.closed = true
	return nil
}
