package xlsx

import (
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
)

// This file writes worksheet XML (SpreadsheetML, ECMA-376 part 1 §18.3).
// Every string the cells need is built once per column, so a cell costs
// a few appends.

const (
	sheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"` +
		` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`
	// The header row stays in view: a frozen pane below row 1.
	sheetViewFirst = `<sheetViews><sheetView tabSelected="1" workbookViewId="0">`
	sheetViewOther = `<sheetViews><sheetView workbookViewId="0">`
	sheetPane      = `<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>` +
		`<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>` +
		`<sheetFormatPr defaultRowHeight="15"/>`
	sheetEnd = `</sheetData></worksheet>`

	valueEnd = `</v></c>`
	textEnd  = `</t></is></c>`

	// maxExactDigits is how many significant digits Excel keeps; a number
	// with more is written as text so no digit is lost.
	maxExactDigits = 15
)

// column holds the XML fragments of one column's cells. A cell is open,
// the row number, one of the tails, the value and valueEnd or textEnd.
type column struct {
	name  string
	kind  domain.ValueKind
	width float64
	open  string // `<c r="B`
	// Tails for a number, a time, a boolean and a string (with and
	// without xml:space="preserve").
	number, time, boolean, text, textSpace string
}

func newColumn(i int, c domain.SheetColumn, style, timeStyle int) column {
	letters, _ := excelize.ColumnNumberToName(i + 1) // i < MaxColumns: checked
	s := styleAttr(style)
	return column{
		name:      c.Field,
		kind:      c.Kind,
		width:     width(c),
		open:      `<c r="` + letters,
		number:    `"` + s + `><v>`,
		time:      `"` + styleAttr(timeStyle) + `><v>`,
		boolean:   `"` + s + ` t="b"><v>`,
		text:      `"` + s + ` t="inlineStr"><is><t>`,
		textSpace: `"` + s + ` t="inlineStr"><is><t xml:space="preserve">`,
	}
}

func styleAttr(id int) string {
	if id == 0 {
		return ""
	}
	return ` s="` + strconv.Itoa(id) + `"`
}

// headerRow is the XML of row 1, the headers in bold.
func (x *Writer) headerRow(cols []domain.SheetColumn, bold int) []byte {
	b := []byte(`<row r="1">`)
	num := []byte("1")
	for i, c := range cols {
		h := column{open: x.cols[i].open}
		h.text = `"` + styleAttr(bold) + ` t="inlineStr"><is><t>`
		h.textSpace = `"` + styleAttr(bold) + ` t="inlineStr"><is><t xml:space="preserve">`
		b = h.appendText(b, num, c.Header)
	}
	return append(b, `</row>`...)
}

// appendSheetStart appends a sheet's XML up to its first row.
func (x *Writer) appendSheetStart(b []byte, first bool) []byte {
	b = append(b, sheetHead...)
	if first {
		b = append(b, sheetViewFirst...)
	} else {
		b = append(b, sheetViewOther...)
	}
	b = append(b, sheetPane...)
	b = append(b, `<cols>`...)
	for i, c := range x.cols {
		n := strconv.Itoa(i + 1)
		b = append(b, `<col min="`+n+`" max="`+n+`" width="`...)
		b = strconv.AppendFloat(b, c.width, 'f', -1, 64)
		b = append(b, `" customWidth="1"/>`...)
	}
	return append(b, `</cols><sheetData>`...)
}

// appendRow appends the next data row of the current sheet to x.buf.
func (x *Writer) appendRow(values []any) error {
	x.num = strconv.AppendInt(x.num[:0], int64(x.sheetRows)+2, 10)
	b := append(x.buf, `<row r="`...)
	b = append(b, x.num...)
	b = append(b, `">`...)
	gap := false
	for i, v := range values {
		c := &x.cols[i]
		if v == nil {
			gap = true // an empty cell is no element at all
			continue
		}
		num := cellRef(x.num, gap)
		gap = false
		switch t := v.(type) {
		case string:
			b = c.appendText(b, num, t)
		case int64:
			b = c.appendInt(b, num, t)
		case domain.Decimal:
			var err error
			if b, err = c.appendDecimal(b, num, string(t)); err != nil {
				return err
			}
		case bool:
			b = c.appendBool(b, num, t)
		case time.Time:
			b = c.appendTime(b, num, t)
		// int, int32 and float64 are not domain types but unambiguous,
		// and a provider returning them is an easy slip; the csv format
		// takes them too.
		case int:
			b = c.appendInt(b, num, int64(t))
		case int32:
			b = c.appendInt(b, num, int64(t))
		case float64:
			b = c.appendFloat(b, num, t)
		default:
			return fmt.Errorf("column %q: unsupported value type %T", c.name, v)
		}
	}
	x.buf = append(b, `</row>`...)
	return nil
}

// appendTextRow is appendRow for a row given as the canonical text of
// each column's kind (domain.TextRowWriter): text and decimals go in as
// they came, integers too when Excel holds them exactly, times are read
// without the time package's general parser.
func (x *Writer) appendTextRow(cells [][]byte) error {
	x.num = strconv.AppendInt(x.num[:0], int64(x.sheetRows)+2, 10)
	b := append(x.buf, `<row r="`...)
	b = append(b, x.num...)
	b = append(b, `">`...)
	gap := false
	for i, cell := range cells {
		if cell == nil {
			gap = true // an empty cell is no element at all
			continue
		}
		num := cellRef(x.num, gap)
		gap = false
		c := &x.cols[i]
		s := view(cell)
		switch c.kind {
		case domain.KindString:
			b = c.appendText(b, num, s)
		case domain.KindInt:
			if shortInt(cell) {
				b = c.start(b, num, c.number)
				b = append(b, cell...)
				b = append(b, valueEnd...)
				continue
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return fmt.Errorf("column %q: invalid integer %q", c.name, s)
			}
			b = c.appendInt(b, num, n)
		case domain.KindDecimal:
			var err error
			if b, err = c.appendDecimal(b, num, s); err != nil {
				return err
			}
		case domain.KindBool:
			switch s {
			case "true":
				b = c.appendBool(b, num, true)
			case "false":
				b = c.appendBool(b, num, false)
			default:
				return fmt.Errorf("column %q: invalid boolean %q", c.name, s)
			}
		case domain.KindTime:
			t, ok := parseUTC(cell)
			if !ok {
				var err error
				if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
					return fmt.Errorf("column %q: invalid time %q", c.name, s)
				}
			}
			b = c.appendTime(b, num, t)
		default:
			return fmt.Errorf("column %q: unknown kind %q", c.name, c.kind)
		}
	}
	x.buf = append(b, `</row>`...)
	return nil
}

// view is the text of b as a string without copying it, for the append
// functions, which read their string and keep nothing of it. b must not
// change while the string is in use.
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// shortInt reports whether b is an integer of at most 15 digits, which
// Excel holds exactly and the file can take as it is.
func shortInt(b []byte) bool {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > maxExactDigits || (len(d) > 1 && d[0] == '0') {
		return false
	}
	for _, ch := range d {
		if ch < '0' || ch > '9' {
			return false
		}
	}
	return len(b) > 1 || b[0] != '-'
}

// parseUTC reads the canonical time text "2006-01-02T15:04:05Z", with an
// optional fraction of up to nine digits before the Z; false for any
// other form, which the caller parses in full.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	digits := func(from, to int) (int, bool) {
		n := 0
		for _, ch := range b[from:to] {
			if ch < '0' || ch > '9' {
				return 0, false
			}
			n = n*10 + int(ch-'0')
		}
		return n, true
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	var f [6]int
	for i, at := range [6]int{0, 5, 8, 11, 14, 17} {
		w := 2
		if i == 0 {
			w = 4
		}
		n, ok := digits(at, at+w)
		if !ok {
			return time.Time{}, false
		}
		f[i] = n
	}
	nsec := 0
	if len(b) > 20 {
		frac := b[19 : len(b)-1]
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := digits(20, len(b)-1)
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			n *= 10
		}
		nsec = n
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], nsec, time.UTC)
	// time.Date normalises what does not exist (30 February); such text
	// is not canonical, and the full parser refuses it.
	if t.Day() != f[2] || t.Hour() != f[3] || t.Minute() != f[4] || t.Second() != f[5] || int(t.Month()) != f[1] {
		return time.Time{}, false
	}
	return t, true
}

// start opens a cell: with its reference when num (the row number) is
// set, else without one, where the cell follows the one before it in the
// row. A cell reference is optional in SpreadsheetML (ECMA-376 §18.3.1.4)
// and every reader places an unreferenced cell after its predecessor;
// leaving it out spares a quarter of the sheet's XML, and of the time to
// write and deflate it. A cell after an empty one, which is no element,
// needs its reference (cellRef).
func (c *column) start(b, num []byte, tail string) []byte {
	if num == nil {
		b = append(b, "<c"...)
		return append(b, tail[1:]...) // tails open with the reference's closing quote
	}
	b = append(b, c.open...)
	b = append(b, num...)
	return append(b, tail...)
}

// cellRef is what a cell's append function is given for its reference:
// the row number after an empty cell (or at the start of a row whose
// first cells are empty), else nil.
func cellRef(num []byte, afterGap bool) []byte {
	if afterGap {
		return num
	}
	return nil
}

func (c *column) appendInt(b, num []byte, n int64) []byte {
	if !exactInt(n) {
		var d [20]byte
		return c.appendText(b, num, string(strconv.AppendInt(d[:0], n, 10)))
	}
	b = c.start(b, num, c.number)
	b = strconv.AppendInt(b, n, 10)
	return append(b, valueEnd...)
}

// appendDecimal writes the decimal's own text as the cell's number, so
// it is exact, unless Excel cannot hold that many digits.
func (c *column) appendDecimal(b, num []byte, s string) ([]byte, error) {
	exact, err := checkDecimal(s)
	if err != nil {
		return b, fmt.Errorf("column %q: %w", c.name, err)
	}
	if !exact {
		return c.appendText(b, num, s), nil
	}
	b = c.start(b, num, c.number)
	b = append(b, s...)
	return append(b, valueEnd...), nil
}

func (c *column) appendFloat(b, num []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return c.appendText(b, num, strconv.FormatFloat(f, 'g', -1, 64))
	}
	b = c.start(b, num, c.number)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	return append(b, valueEnd...)
}

func (c *column) appendBool(b, num []byte, v bool) []byte {
	b = c.start(b, num, c.boolean)
	if v {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	return append(b, valueEnd...)
}

// appendTime writes t as an Excel date shown in UTC (Excel has no time
// zones; the csv format writes UTC too). A time Excel cannot show, before
// 1900 or after 9999, becomes RFC 3339 text.
func (c *column) appendTime(b, num []byte, t time.Time) []byte {
	serial, ok := excelSerial(t)
	if !ok {
		return c.appendText(b, num, t.UTC().Format(time.RFC3339Nano))
	}
	b = c.start(b, num, c.time)
	b = strconv.AppendFloat(b, serial, 'f', -1, 64)
	return append(b, valueEnd...)
}

// The range of Excel's 1900 date system.
var (
	excelEpoch   = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).Unix()
	excelMin     = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	excelLeapBug = time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC)
	excelMax     = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// excelSerial converts t to Excel's serial date: days since 1899-12-30,
// the fraction being the time of day.
func excelSerial(t time.Time) (float64, bool) {
	if t.Before(excelMin) || !t.Before(excelMax) {
		return 0, false
	}
	secs := t.Unix() - excelEpoch
	days := secs / 86400
	serial := float64(days) + (float64(secs%86400)+float64(t.Nanosecond())/1e9)/86400
	if t.Before(excelLeapBug) {
		// Excel counts a 29 February 1900 that never was (Lotus 1-2-3
		// compatibility), so its serials before March 1900 are one less.
		serial--
	}
	return serial, true
}

// appendText writes s as an inline string, escaped for XML and for
// Excel's own _xHHHH_ escapes, and cut to Excel's 32,767 characters.
func (c *column) appendText(b, num []byte, s string) []byte {
	s = truncate(s)
	tail := c.text
	if s != "" && (isSpace(s[0]) || isSpace(s[len(s)-1])) {
		tail = c.textSpace
	}
	b = c.start(b, num, tail)
	b = appendEscaped(b, s)
	return append(b, textEnd...)
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

// special marks the ASCII bytes appendEscaped must look at.
var special = func() (t [utf8.RuneSelf]bool) {
	for c := range 0x20 {
		t[c] = c != '\t' && c != '\n'
	}
	t['&'], t['<'], t['>'], t['_'] = true, true, true, true
	return t
}()

// appendEscaped appends s as XML text. Markup characters become entities
// and a carriage return a character reference (a raw one would be read
// back as a newline). Other control characters cannot appear in XML at
// all: they become Excel's _x00HH_ escapes, which Excel turns back into
// the character; so a literal _xHHHH_ in s is protected by escaping its
// underscore. Invalid UTF-8 and the non-characters U+FFFE and U+FFFF
// become U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		ch := s[i]
		if ch >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
				b = append(b, s[last:i]...)
				b = append(b, "\uFFFD"...)
				last = i + size
			}
			i += size
			continue
		}
		if !special[ch] {
			i++
			continue
		}
		b = append(b, s[last:i]...)
		switch ch {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\r':
			b = append(b, "&#xD;"...)
		case '_':
			if isExcelEscape(s[i:]) {
				b = append(b, "_x005F_"...)
			} else {
				b = append(b, '_')
			}
		default:
			const hex = "0123456789ABCDEF"
			b = append(b, '_', 'x', '0', '0', hex[ch>>4], hex[ch&0xF], '_')
		}
		i++
		last = i
	}
	return append(b, s[last:]...)
}

// isExcelEscape reports whether s starts with _xHHHH_, which Excel would
// read as an escaped character.
func isExcelEscape(s string) bool {
	if len(s) < 7 || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, h := range []byte(s[2:6]) {
		if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
			return false
		}
	}
	return true
}

// truncate cuts s to the 32,767 UTF-16 code units a cell holds; Excel
// calls a file with longer text corrupt.
func truncate(s string) string {
	// A UTF-8 string is never shorter in bytes than in UTF-16 units.
	if len(s) <= excelize.TotalCellChars {
		return s
	}
	units := 0
	for i, r := range s {
		n := 1
		if r > 0xFFFF {
			n = 2
		}
		if units+n > excelize.TotalCellChars {
			return s[:i]
		}
		units += n
	}
	return s
}

// exactInt reports whether Excel holds n without losing digits.
func exactInt(n int64) bool {
	const limit = 1_000_000_000_000_000 // 10^15: 15 digits fit
	if n > -limit && n < limit {
		return true
	}
	for n%10 == 0 {
		n /= 10
	}
	return n > -limit && n < limit
}

// checkDecimal checks a decimal is canonical (domain.Decimal.Valid);
// exact says it has at most 15 significant digits, all Excel keeps.
func checkDecimal(s string) (exact bool, err error) {
	if !domain.Decimal(s).Valid() {
		return false, fmt.Errorf("invalid decimal %q", s)
	}
	digits, first, last := 0, -1, -1
	for i := 0; i < len(s); i++ {
		if ch := s[i]; '0' <= ch && ch <= '9' {
			if ch != '0' {
				if first < 0 {
					first = digits
				}
				last = digits
			}
			digits++
		}
	}
	return first < 0 || last-first < maxExactDigits, nil
}

// width is a column's width in characters: the column's own, else one
// that fits the header and the usual values of the column's kind.
func width(c domain.SheetColumn) float64 {
	if c.Width > 0 {
		return min(c.Width, excelize.MaxColumnWidth)
	}
	w := 12.0
	switch c.Kind {
	case domain.KindDecimal:
		w = 14
	case domain.KindBool:
		w = 8
	case domain.KindString:
		w = 16
	case domain.KindTime:
		w = 20
		if c.Format != "" {
			w = max(12, float64(len(c.Format))+2)
		}
	}
	return min(max(w, textWidth(c.Header)+2), 60)
}

// textWidth approximates how many character cells s takes: East Asian
// characters are about twice as wide as Latin ones.
func textWidth(s string) float64 {
	n := 0.0
	for _, r := range s {
		if r >= 0x1100 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
