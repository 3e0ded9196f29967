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

// Scan implements sql.Scanner.
func (c *textCell) Scan(src any) error {
	t := &c.typed
	t.bad = ""
	if src == nil {
		c.out.AppendNull()
		return nil
	}
	switch v := src.(type) {
	case []byte:
		if t.bit {
			break
		}
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
	case int64:
		switch t.kind {
		case domain.KindInt:
			c.out.EndCell(strconv.AppendInt(c.out.Text(), v, 10))
			return nil
		case domain.KindBool:
			c.out.EndCell(strconv.AppendBool(c.out.Text(), v != 0))
			return nil
		}
	}
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
	if len(s) != 10 && (len(s) < 19 || len(s) == 20 || len(s) > 26) {
		return b, false
	}
	for i := range s {
		switch i {
		case 4, 7:
			if s[i] != '-' {
				return b, false
			}
		case 10:
			if s[i] != ' ' {
				return b, false
			}
		case 13, 16:
			if s[i] != ':' {
				return b, false
			}
		case 19:
			if s[i] != '.' {
				return b, false
			}
		default:
			if s[i] < '0' || s[i] > '9' {
				return b, false
			}
		}
	}
	num := func(from, to int) int {
		n := 0
		for _, d := range s[from:to] {
			n = n*10 + int(d-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) {
		return b, false
	}
	if len(s) == 10 {
		return append(append(b, s...), "T00:00:00Z"...), true
	}
	if num(11, 13) > 23 || num(14, 16) > 59 || num(17, 19) > 59 {
		return b, false
	}
	b = append(b, s[:10]...)
	b = append(b, 'T')
	b = append(b, s[11:19]...)
	frac := s[min(len(s), 20):]
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
