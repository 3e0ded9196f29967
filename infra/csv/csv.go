// Package csv writes export files as comma-separated values (RFC 4180),
// quoted exactly as encoding/csv quotes them.
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
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

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
//
// A row is appended to the free end of the write buffer and handed to it
// in one Write, so a value's text is copied once, from the provider's
// bytes or a formatting append, into the buffer. encoding/csv took a
// string per field, which cost a string per row for the numbers and
// times, and a call per field; the quoting rules are its rules
// (fieldNeedsQuotes below), checked against it by the tests.
type Writer struct {
	dst   *bufio.Writer
	names []string
	kinds []domain.ValueKind

	escape bool // prefix formula-like text cells with an apostrophe

	err    error // a write failure; the file is unusable after it
	closed bool
}

// formulaStart reports whether a spreadsheet would take text s as a formula.
func formulaStart[T string | []byte](s T) bool {
	if len(s) == 0 {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
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
	x := &Writer{
		dst:    bufio.NewWriterSize(w, bufferSize),
		names:  make([]string, len(cols)),
		kinds:  make([]domain.ValueKind, len(cols)),
		escape: !opts.KeepFormulas,
	}
	b := append(x.dst.AvailableBuffer(), bom...)
	for i, c := range cols {
		x.names[i], x.kinds[i] = c.Field, c.Kind
		if i > 0 {
			b = append(b, ',')
		}
		b = x.appendText(b, c.Header)
	}
	b = append(b, "\r\n"...)
	if _, err := x.dst.Write(b); err != nil {
		return nil, fmt.Errorf("write header: %w", err)
	}
	return x, nil
}

// appendText appends a text cell: escaped when it looks like a formula,
// then quoted as needed.
func (x *Writer) appendText(b []byte, s string) []byte {
	return appendField(b, x.escape && formulaStart(s), s)
}

// appendField appends one field as encoding/csv writes it with UseCRLF,
// after an apostrophe when apos is set: quoted when it holds a comma, a
// quote or a line break, starts with a space or is \. ; inside quotes a
// quote is doubled, a line feed becomes CRLF and a carriage return is
// dropped.
func appendField[T string | []byte](b []byte, apos bool, f T) []byte {
	quote := fieldNeedsQuotes(apos, f)
	if quote {
		b = append(b, '"')
	}
	if apos {
		b = append(b, '\'')
	}
	if !quote {
		return append(b, f...)
	}
	last := 0
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case '"':
			b = append(b, f[last:i+1]...)
			b = append(b, '"')
			last = i + 1
		case '\r':
			b = append(b, f[last:i]...)
			last = i + 1
		case '\n':
			b = append(b, f[last:i]...)
			b = append(b, "\r\n"...)
			last = i + 1
		}
	}
	b = append(b, f[last:]...)
	return append(b, '"')
}

// fieldNeedsQuotes is encoding/csv's rule for a comma-separated field,
// for the field apos+f.
func fieldNeedsQuotes[T string | []byte](apos bool, f T) bool {
	if len(f) == 0 {
		return false
	}
	if !apos && len(f) == 2 && f[0] == '\\' && f[1] == '.' {
		return true
	}
	i := 0
	if b, ok := any(f).([]byte); ok {
		// Eight bytes at a time on the text path, where most cells are.
		for ; i+8 <= len(b); i += 8 {
			if quotableIn(binary.LittleEndian.Uint64(b[i:])) {
				return true
			}
		}
	}
	for ; i < len(f); i++ {
		if quoted[f[i]] {
			return true
		}
	}
	if apos {
		return false
	}
	if c := f[0]; c < utf8.RuneSelf {
		return c == ' ' || '\t' <= c && c <= '\r' // unicode.IsSpace, for ASCII
	}
	r, _ := utf8.DecodeRune([]byte(f[:min(len(f), utf8.UTFMax)]))
	return unicode.IsSpace(r)
}

// quotableIn reports whether any of the eight bytes in x is one of the
// quoted bytes: a byte equal to c is a zero byte of x^(c×0x01…01), and
// (v-0x01…01)&^v&0x80…80 is non-zero exactly when v has a zero byte.
func quotableIn(x uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - lo) &^ v & hi }
	return zero(x^('\n'*lo))|zero(x^('\r'*lo))|zero(x^('"'*lo))|zero(x^(','*lo)) != 0
}

// quoted marks the bytes that make a field need quotes.
var quoted = [256]bool{'\n': true, '\r': true, '"': true, ',': true}

// WriteRow writes one record, values in column order. A value of the
// wrong type is reported as a permanent error, since writing it again
// fails again, and leaves the writer usable; a failure to write to w is
// final.
func (x *Writer) WriteRow(values []any) error {
	if err := x.check(len(values)); err != nil {
		return err
	}
	b := x.dst.AvailableBuffer()
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		switch t := v.(type) {
		case nil:
		case string:
			b = x.appendText(b, t)
		case domain.Decimal:
			if !t.Valid() {
				return domain.Permanent(fmt.Errorf("column %q: invalid decimal %q", x.names[i], string(t)))
			}
			b = append(b, t...)
		case int64:
			b = strconv.AppendInt(b, t, 10)
		case bool:
			b = strconv.AppendBool(b, t)
		case time.Time:
			b = t.UTC().AppendFormat(b, time.RFC3339Nano)
		// int, int32 and float64 are not domain types but unambiguous,
		// and a provider returning them is an easy slip; the xlsx format
		// takes them too.
		case int:
			b = strconv.AppendInt(b, int64(t), 10)
		case int32:
			b = strconv.AppendInt(b, int64(t), 10)
		case float64:
			b = strconv.AppendFloat(b, t, 'g', -1, 64)
		default:
			return domain.Permanent(fmt.Errorf("column %q: unsupported value type %T", x.names[i], v))
		}
	}
	return x.write(append(b, "\r\n"...))
}

// WriteTextRow writes one record given as the canonical text of each
// column's kind (domain.TextRowWriter), which is what the file holds:
// text cells are escaped and quoted, the others copied, decimals checked.
func (x *Writer) WriteTextRow(cells [][]byte) error {
	if err := x.check(len(cells)); err != nil {
		return err
	}
	b := x.dst.AvailableBuffer()
	for i, c := range cells {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case c == nil:
		case x.kinds[i] == domain.KindString:
			b = appendField(b, x.escape && formulaStart(c), c)
		case x.kinds[i] == domain.KindDecimal:
			if !domain.ValidDecimalText(c) {
				return domain.Permanent(fmt.Errorf("column %q: invalid decimal %q", x.names[i], c))
			}
			b = append(b, c...)
		default:
			// Numbers, booleans and times need no quotes; a provider's
			// slip still gets them.
			b = appendField(b, false, c)
		}
	}
	return x.write(append(b, "\r\n"...))
}

func (x *Writer) check(n int) error {
	switch {
	case x.closed:
		return ErrClosed
	case x.err != nil:
		return x.err
	case n != len(x.names):
		return domain.Permanent(fmt.Errorf("row has %d values, want %d", n, len(x.names)))
	}
	return nil
}

// write hands a complete record to the buffer; b usually is the
// buffer's own free end, which Write then copies onto itself.
func (x *Writer) write(b []byte) error {
	if _, err := x.dst.Write(b); err != nil {
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
