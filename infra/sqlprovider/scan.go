package sqlprovider

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/downloadcenter/dc/domain"
)

// cell receives one column of the current row and converts the driver's
// value to the Go type of the column's kind at once, while the driver's
// bytes are still valid. Implementing sql.Scanner spares database/sql's
// copy of every []byte. A value that does not fit the kind is kept as a
// reason rather than returned, so the caller can name the row's key.
type cell struct {
	kind domain.ValueKind
	// bit says the column is a BIT: its bytes are a big-endian number,
	// not text.
	bit  bool
	zone *time.Location

	// text, when set, collects the row's text values (see rowText); the
	// cell's value is then set by rowText.finish.
	text *rowText

	v   any
	bad string
	// from, to locate the cell's text in text.buf; pending says v is
	// still to be cut from it.
	from, to int
	pending  bool
}

// rowText gathers the bytes of a row's string and decimal values so that
// they become one string, which the values are cut from: one allocation
// a row instead of one a value. Scanning showed per-value allocations and
// the garbage collection they cause costing more than the driver itself.
type rowText struct {
	buf []byte
}

// start readies the buffer for the next row.
func (t *rowText) start() { t.buf = t.buf[:0] }

// finish gives the row's pending cells their values.
func (t *rowText) finish(cells []cell) {
	s := string(t.buf) // "" without allocating when the row has no text
	for i := range cells {
		c := &cells[i]
		if !c.pending {
			continue
		}
		c.pending = false
		if c.kind == domain.KindDecimal {
			c.v = domain.Decimal(s[c.from:c.to])
		} else {
			c.v = s[c.from:c.to]
		}
	}
}

// keep puts text bytes into the row's buffer for finish to cut out.
func (c *cell) keep(b []byte) {
	c.from = len(c.text.buf)
	c.text.buf = append(c.text.buf, b...)
	c.to, c.pending = len(c.text.buf), true
}

// Scan implements sql.Scanner.
func (c *cell) Scan(src any) error {
	c.v, c.bad, c.pending = nil, "", false
	if src == nil {
		return nil
	}
	switch c.kind {
	case domain.KindString:
		if b, ok := src.([]byte); ok && c.text != nil && !c.bit {
			if !utf8.Valid(b) {
				c.bad = "value is not UTF-8 text (binary data?)"
				return nil
			}
			c.keep(b)
			return nil
		}
		c.v, c.bad = c.toString(src)
	case domain.KindInt:
		if _, ok := src.(int64); ok {
			c.v = src // boxed by the driver already: no second allocation
			return nil
		}
		c.v, c.bad = c.toInt(src)
	case domain.KindDecimal:
		if b, ok := src.([]byte); ok && c.text != nil {
			if !domain.Decimal(b).Valid() {
				c.bad = "value " + quoteValue(string(b)) + " is not a decimal number"
				return nil
			}
			c.keep(b)
			return nil
		}
		c.v, c.bad = toDecimal(src)
	case domain.KindTime:
		if t, ok := src.(time.Time); ok && !t.IsZero() && t.Location() == c.zone {
			c.v = src // the driver parsed it in the zone already
			return nil
		}
		c.v, c.bad = c.toTime(src)
	case domain.KindBool:
		c.v, c.bad = c.toBool(src)
	default:
		c.bad = "unknown kind " + string(c.kind)
	}
	return nil
}

func (c *cell) toString(src any) (any, string) {
	switch v := src.(type) {
	case []byte:
		if c.bit {
			n, ok := bitValue(v)
			if !ok {
				return nil, "BIT value wider than 63 bits"
			}
			return strconv.FormatInt(n, 10), ""
		}
		if !utf8.Valid(v) {
			return nil, "value is not UTF-8 text (binary data?)"
		}
		return string(v), ""
	case string:
		return v, ""
	case int64:
		return strconv.FormatInt(v, 10), ""
	case uint64:
		return strconv.FormatUint(v, 10), ""
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), ""
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32), ""
	case bool:
		return strconv.FormatBool(v), ""
	case time.Time:
		return v.In(c.zone).Format("2006-01-02 15:04:05.999999"), ""
	}
	return nil, fmt.Sprintf("unexpected driver value of type %T", src)
}

func (c *cell) toInt(src any) (any, string) {
	switch v := src.(type) {
	case int64:
		return v, ""
	case uint64:
		if v > math.MaxInt64 {
			return nil, "value " + strconv.FormatUint(v, 10) + " overflows int64"
		}
		return int64(v), ""
	case []byte:
		if c.bit {
			n, ok := bitValue(v)
			if !ok {
				return nil, "BIT value wider than 63 bits"
			}
			return n, ""
		}
		return parseIntText(string(v))
	case string:
		return parseIntText(v)
	case float64:
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, "value " + strconv.FormatFloat(v, 'g', -1, 64) + " is not an exact integer"
		}
		return int64(v), ""
	case float32:
		f := float64(v)
		if f != math.Trunc(f) || math.Abs(f) > 1<<24 {
			return nil, "value " + strconv.FormatFloat(f, 'g', -1, 32) + " is not an exact integer"
		}
		return int64(f), ""
	}
	return nil, fmt.Sprintf("a %T value is not an integer", src)
}

// parseIntText reads integer text, also a DECIMAL whose fraction is all
// zeros ("12.00"), which is an integer exactly.
func parseIntText(s string) (any, string) {
	t := s
	if i := strings.IndexByte(t, '.'); i >= 0 && strings.Trim(t[i+1:], "0") == "" {
		t = t[:i]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return nil, "value " + quoteValue(s) + " overflows int64"
		}
		return nil, "value " + quoteValue(s) + " is not an integer"
	}
	return n, ""
}

// toDecimal keeps the server's text of a DECIMAL as it is: MariaDB already
// writes canonical plain decimals ("0.10", "-12.50"), and rewriting them
// could only lose information.
func toDecimal(src any) (any, string) {
	switch v := src.(type) {
	case []byte:
		if !domain.Decimal(v).Valid() {
			return nil, "value " + quoteValue(string(v)) + " is not a decimal number"
		}
		return domain.Decimal(v), ""
	case string:
		if !domain.Decimal(v).Valid() {
			return nil, "value " + quoteValue(v) + " is not a decimal number"
		}
		return domain.Decimal(v), ""
	case int64:
		return domain.Decimal(strconv.FormatInt(v, 10)), ""
	case uint64:
		return domain.Decimal(strconv.FormatUint(v, 10)), ""
	case float64:
		// FLOAT and DOUBLE columns: the shortest text that reads back as the
		// stored binary value, which is what the server prints too.
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, "value " + strconv.FormatFloat(v, 'g', -1, 64) + " is not a decimal number"
		}
		return domain.Decimal(strconv.FormatFloat(v, 'f', -1, 64)), ""
	case float32:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "value " + strconv.FormatFloat(f, 'g', -1, 32) + " is not a decimal number"
		}
		return domain.Decimal(strconv.FormatFloat(f, 'f', -1, 32)), ""
	}
	return nil, fmt.Sprintf("a %T value is not a decimal number", src)
}

// sqlTimeLayouts are the textual forms of DATETIME and DATE, for time
// values that arrive as text (a VARCHAR holding a time).
var sqlTimeLayouts = []string{"2006-01-02 15:04:05.999999999", time.DateOnly}

func (c *cell) toTime(src any) (any, string) {
	var s string
	switch v := src.(type) {
	case time.Time:
		// The driver returns the zero time for MySQL's zero date
		// "0000-00-00", which means "no date": an empty cell.
		if v.IsZero() {
			return nil, ""
		}
		return v.In(c.zone), ""
	case []byte:
		s = string(v)
	case string:
		s = v
	default:
		return nil, fmt.Sprintf("a %T value is not a time", src)
	}
	if strings.HasPrefix(s, "0000-00-00") {
		return nil, ""
	}
	for _, layout := range sqlTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, c.zone); err == nil {
			return t, ""
		}
	}
	return nil, "value " + quoteValue(s) + " is not a date or time"
}

func (c *cell) toBool(src any) (any, string) {
	switch v := src.(type) {
	case int64:
		// MySQL's truth: TINYINT(1) holds 0 or 1 by convention, and any
		// non-zero value is true.
		return v != 0, ""
	case uint64:
		return v != 0, ""
	case bool:
		return v, ""
	case []byte:
		if c.bit {
			for _, b := range v {
				if b != 0 {
					return true, ""
				}
			}
			return false, ""
		}
		return textBool(string(v))
	case string:
		return textBool(v)
	}
	return nil, fmt.Sprintf("a %T value is not a boolean", src)
}

// textBool reads "0"/"1" (and other integers, by MySQL's truth) and
// "true"/"false".
func textBool(s string) (any, string) {
	switch strings.ToLower(s) {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	if n, bad := parseIntText(s); bad == "" {
		return n.(int64) != 0, ""
	}
	return nil, "value " + quoteValue(s) + " is not a boolean"
}

// bitValue reads a BIT column's big-endian bytes.
func bitValue(b []byte) (int64, bool) {
	var n uint64
	for _, c := range b {
		if n>>56 != 0 {
			return 0, false
		}
		n = n<<8 | uint64(c)
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// quoteValue quotes a value for an error message, cut short so a large
// text column cannot flood the task's error.
func quoteValue(s string) string {
	const maxLen = 40
	if len(s) > maxLen {
		cut := maxLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
