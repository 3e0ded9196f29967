package sqlprovider

import (
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/downloadcenter/dc/domain"
)

// textCell receives one column of the current row and appends its value
// to the batch as the canonical text of the column's kind (domain.TextRows):
// the driver's bytes as they came where they already are that text (strings,
// decimals), integers formatted without boxing, DATETIME text rearranged
// into RFC 3339 without a parse-and-format round trip when the zone is
// UTC. Anything off these paths goes through the typed conversion of
// cell, so both paths accept and refuse the same values.
type textCell struct {
	typed cell
	utc   bool
	out   *domain.TextRows
}

// Scan implements sql.Scanner, for the driver's values.
func (c *textCell) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		c.scanNull()
		return nil
	case []byte:
		return c.scanBytes(v)
	case int64:
		return c.scanInt(v)
	}
	return c.scanTyped(src)
}

// scanNull appends a NULL.
func (c *textCell) scanNull() {
	c.typed.bad = ""
	c.out.AppendNull()
}

// scanBytes appends a value that arrived as bytes: text, or a BIT's bytes.
func (c *textCell) scanBytes(v []byte) error {
	t := &c.typed
	t.bad = ""
	if !t.bit {
		switch t.kind {
		case domain.KindString:
			if !utf8.Valid(v) {
				t.bad = "value is not UTF-8 text (binary data?)"
				c.out.AppendNull()
				return nil
			}
			c.out.AppendCell(v)
			return nil
		case domain.KindDecimal:
			if !domain.ValidDecimalText(v) {
				t.bad = "value " + quoteValue(string(v)) + " is not a decimal number"
				c.out.AppendNull()
				return nil
			}
			c.out.AppendCell(v)
			return nil
		case domain.KindTime:
			if c.utc {
				if b, ok := appendSQLTime(c.out.Text(), v); ok {
					c.out.EndCell(b)
					return nil
				}
			}
		}
	}
	return c.scanTyped(v)
}

// scanInt appends a value of an integer column.
func (c *textCell) scanInt(v int64) error {
	c.typed.bad = ""
	switch c.typed.kind {
	case domain.KindInt:
		c.out.EndCell(strconv.AppendInt(c.out.Text(), v, 10))
		return nil
	case domain.KindBool:
		c.out.EndCell(strconv.AppendBool(c.out.Text(), v != 0))
		return nil
	}
	return c.scanTyped(v)
}

// scanTyped appends any other value through the typed conversion.
func (c *textCell) scanTyped(src any) error {
	t := &c.typed
	t.bad = ""
	if err := t.Scan(src); err != nil {
		return err
	}
	if t.bad != "" || t.v == nil {
		c.out.AppendNull()
		return nil
	}
	b, ok := appendCanonical(c.out.Text(), t.v)
	if !ok {
		t.bad = fmt.Sprintf("unexpected converted value of type %T", t.v)
		c.out.AppendNull()
		return nil
	}
	c.out.EndCell(b)
	return nil
}

// scanWire appends a cell read off the wire (wire.go), nil for NULL,
// converted first as the driver converts a text row's cell (integers
// parsed, floats parsed, anything else bytes), so both paths see the same
// values.
func (c *textCell) scanWire(col wireColumn, b []byte) error {
	if b == nil {
		c.scanNull()
		return nil
	}
	switch col.typ {
	case typeTiny, typeShort, typeInt24, typeYear, typeLong, typeLongLong:
		if col.typ == typeLongLong && col.flags&flagUnsigned != 0 {
			n, err := strconv.ParseUint(string(b), 10, 64)
			if err != nil {
				return err
			}
			return c.scanTyped(n)
		}
		if c.typed.kind == domain.KindInt && canonicalInt(b) {
			c.typed.bad = ""
			c.out.AppendCell(b) // already the text scanInt would write
			return nil
		}
		n, err := parseWireInt(b)
		if err != nil {
			return err
		}
		return c.scanInt(n)
	case typeFloat:
		f, err := strconv.ParseFloat(string(b), 32)
		if err != nil {
			return err
		}
		return c.scanTyped(float32(f))
	case typeDouble:
		f, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return err
		}
		return c.scanTyped(f)
	}
	return c.scanBytes(b)
}

// atoi64 reads a base-10 int64 as the server writes one: an optional '-'
// and digits (a ZEROFILL column's leading zeros included).
func atoi64(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	d := b
	if neg {
		d = b[1:]
	}
	if len(d) == 0 || len(d) > 19+len(d)-len(trimZeros(d)) {
		return 0, false
	}
	var n uint64
	for _, ch := range d {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// trimZeros drops leading zeros, keeping the last digit.
func trimZeros(d []byte) []byte {
	for len(d) > 1 && d[0] == '0' {
		d = d[1:]
	}
	return d
}

// canonicalInt reports whether b is an int64 as strconv.FormatInt writes
// it: digits without leading zeros, "-" only before a non-zero one.
func canonicalInt(b []byte) bool {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
		if len(d) > 0 && d[0] == '0' {
			return false
		}
	}
	if len(d) == 0 || len(d) > 1 && d[0] == '0' {
		return false
	}
	_, ok := atoi64(b)
	return ok
}

// parseWireInt reads an integer cell: atoi64, else strconv.ParseInt as
// the driver does, for the same value or error.
func parseWireInt(b []byte) (int64, error) {
	if n, ok := atoi64(b); ok {
		return n, nil
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// appendCanonical appends a value of cell's typed conversion as its
// canonical text.
func appendCanonical(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return append(b, v...), true
	case domain.Decimal:
		return append(b, v...), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case bool:
		return strconv.AppendBool(b, v), true
	case time.Time:
		return v.UTC().AppendFormat(b, time.RFC3339Nano), true
	}
	return b, false
}

// appendSQLTime rewrites a DATETIME, TIMESTAMP or DATE as the server
// writes it in the text protocol ("2026-01-01 00:00:01", with up to six
// fraction digits, or "2026-01-01") as time.RFC3339Nano writes the same
// instant in UTC ("2026-01-01T00:00:01Z", the fraction without trailing
// zeros). It takes only a well-formed date that exists (the zero date and
// "2026-02-30" go to the typed path, which knows what they mean) and
// returns false for anything else.
func appendSQLTime(b, s []byte) ([]byte, bool) {
	n := len(s)
	if n != 10 && (n < 19 || n == 20 || n > 26) {
		return b, false
	}
	if s[4] != '-' || s[7] != '-' || n > 10 && (s[10] != ' ' || s[13] != ':' || s[16] != ':' || n > 19 && s[19] != '.') {
		return b, false
	}
	ok := true
	two := func(i int) int { // the two digits at i
		hi, lo := s[i]-'0', s[i+1]-'0'
		ok = ok && hi <= 9 && lo <= 9
		return int(hi)*10 + int(lo)
	}
	year, month, day := two(0)*100+two(2), two(5), two(8)
	if !ok || year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return b, false
	}
	if n == 10 {
		return append(append(b, s...), "T00:00:00Z"...), true
	}
	if two(11) > 23 || two(14) > 59 || two(17) > 59 || !ok {
		return b, false
	}
	frac := s[min(n, 20):]
	for _, d := range frac {
		if d-'0' > 9 {
			return b, false
		}
	}
	b = append(b, s[:10]...)
	b = append(b, 'T')
	b = append(b, s[11:19]...)
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	if len(frac) > 0 {
		b = append(b, '.')
		b = append(b, frac...)
	}
	return append(b, 'Z'), true
}

// daysIn is the number of days in a month of the proleptic Gregorian
// calendar.
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
