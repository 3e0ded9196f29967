package xlsx_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/xlsx"
)

var _ domain.SheetWriterFactory = xlsx.New

func col(field, header string, kind domain.ValueKind) domain.SheetColumn {
	return domain.SheetColumn{Column: domain.Column{Field: field, Header: header}, Kind: kind}
}

// write makes a workbook of rows and returns its bytes and sheet count.
func write(t *testing.T, cols []domain.SheetColumn, opts xlsx.Options, rows ...[]any) ([]byte, int) {
	t.Helper()
	var buf bytes.Buffer
	w, err := xlsx.NewWithOptions(&buf, cols, opts)
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, w.WriteRow(r))
	}
	sheets, err := w.Close()
	require.NoError(t, err)
	return buf.Bytes(), sheets
}

func open(t *testing.T, data []byte) *excelize.File {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, f.Close()) })
	return f
}

// sheetXML returns a worksheet's XML straight from the zip.
func sheetXML(t *testing.T, data []byte, n int) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	rc, err := zr.Open("xl/worksheets/sheet" + strconv.Itoa(n) + ".xml")
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

func raw(t *testing.T, f *excelize.File, sheet, cell string) string {
	t.Helper()
	v, err := f.GetCellValue(sheet, cell, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	return v
}

func cellType(t *testing.T, f *excelize.File, sheet, cell string) excelize.CellType {
	t.Helper()
	ct, err := f.GetCellType(sheet, cell)
	require.NoError(t, err)
	return ct
}

func cellStyle(t *testing.T, f *excelize.File, sheet, cell string) *excelize.Style {
	t.Helper()
	id, err := f.GetCellStyle(sheet, cell)
	require.NoError(t, err)
	s, err := f.GetStyle(id)
	require.NoError(t, err)
	return s
}

func TestHeaderAndLayout(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{
		col("id", "Order ID", domain.KindInt),
		{Column: domain.Column{Field: "name", Header: "Name", Width: 33.5}, Kind: domain.KindString},
		col("at", "Created At", domain.KindTime),
		col("city", "城市名称很长很长很长很长", domain.KindString),
	}
	data, sheets := write(t, cols, xlsx.Options{}, []any{int64(1), "a", nil, "x"})
	require.Equal(t, 1, sheets)
	f := open(t, data)
	require.Equal(t, []string{"Sheet1"}, f.GetSheetList())
	rows, err := f.GetRows("Sheet1")
	require.NoError(t, err)
	require.Equal(t, []string{"Order ID", "Name", "Created At", "城市名称很长很长很长很长"}, rows[0])
	for _, c := range []string{"A1", "B1", "C1", "D1"} {
		s := cellStyle(t, f, "Sheet1", c)
		require.NotNil(t, s.Font, c)
		require.True(t, s.Font.Bold, c)
	}
	if s := cellStyle(t, f, "Sheet1", "A2"); s.Font != nil {
		require.False(t, s.Font.Bold, "data is not bold")
	}

	panes, err := f.GetPanes("Sheet1")
	require.NoError(t, err)
	require.True(t, panes.Freeze)
	require.Equal(t, 1, panes.YSplit)
	require.Equal(t, "A2", panes.TopLeftCell)

	widths := map[string]float64{}
	for _, c := range []string{"A", "B", "C", "D"} {
		widths[c], err = f.GetColWidth("Sheet1", c)
		require.NoError(t, err)
	}
	require.Equal(t, 33.5, widths["B"], "the column's own width")
	require.GreaterOrEqual(t, widths["A"], float64(len("Order ID")))
	require.GreaterOrEqual(t, widths["C"], float64(len("yyyy-mm-dd hh:mm:ss")))
	require.GreaterOrEqual(t, widths["D"], 24.0, "wide characters count double")
}

func TestCellValues(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 5, 13, 45, 30, 0, time.UTC)
	shanghai := time.FixedZone("CST", 8*3600)
	tests := []struct {
		name  string
		kind  domain.ValueKind
		value any
		// want is the raw cell value and typ its type.
		want string
		typ  excelize.CellType
		// xml, when set, must appear in the sheet verbatim.
		xml string
	}{
		{name: "int", kind: domain.KindInt, value: int64(42), want: "42", typ: excelize.CellTypeUnset, xml: "<v>42</v>"},
		{name: "negative int", kind: domain.KindInt, value: int64(-7), want: "-7", typ: excelize.CellTypeUnset},
		{name: "15-digit int stays a number", kind: domain.KindInt, value: int64(999_999_999_999_999), want: "999999999999999", typ: excelize.CellTypeUnset},
		{name: "round big int stays a number", kind: domain.KindInt, value: int64(1_000_000_000_000_000_000), want: "1000000000000000000", typ: excelize.CellTypeUnset},
		{name: "16-digit int becomes text", kind: domain.KindInt, value: int64(1_234_567_890_123_456), want: "1234567890123456", typ: excelize.CellTypeInlineString},
		{name: "min int64 becomes text", kind: domain.KindInt, value: int64(math.MinInt64), want: "-9223372036854775808", typ: excelize.CellTypeInlineString},
		{name: "int", kind: domain.KindInt, value: 5, want: "5", typ: excelize.CellTypeUnset},
		{name: "int32", kind: domain.KindInt, value: int32(5), want: "5", typ: excelize.CellTypeUnset},
		{name: "float64", kind: domain.KindDecimal, value: 0.1, want: "0.1", typ: excelize.CellTypeUnset},
		{name: "NaN becomes text", kind: domain.KindDecimal, value: math.NaN(), want: "NaN", typ: excelize.CellTypeInlineString},
		{name: "decimal is written exactly", kind: domain.KindDecimal, value: domain.Decimal("12345678.91"), want: "12345678.91", typ: excelize.CellTypeUnset, xml: "<v>12345678.91</v>"},
		{name: "decimal keeps its zeros", kind: domain.KindDecimal, value: domain.Decimal("-12.50"), want: "-12.50", typ: excelize.CellTypeUnset, xml: "<v>-12.50</v>"},
		{name: "15 significant digits", kind: domain.KindDecimal, value: domain.Decimal("0.000123456789012345"), want: "0.000123456789012345", typ: excelize.CellTypeUnset},
		{name: "16 significant digits become text", kind: domain.KindDecimal, value: domain.Decimal("12345678901234.56"), want: "12345678901234.56", typ: excelize.CellTypeInlineString},
		{name: "zero", kind: domain.KindDecimal, value: domain.Decimal("0.00"), want: "0.00", typ: excelize.CellTypeUnset},
		{name: "true", kind: domain.KindBool, value: true, want: "1", typ: excelize.CellTypeBool},
		{name: "false", kind: domain.KindBool, value: false, want: "0", typ: excelize.CellTypeBool},
		{name: "time", kind: domain.KindTime, value: at, want: "45356.57326388889", typ: excelize.CellTypeUnset},
		{name: "time in another zone shows UTC", kind: domain.KindTime, value: at.In(shanghai), want: "45356.57326388889", typ: excelize.CellTypeUnset},
		{name: "first day of excel", kind: domain.KindTime, value: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), want: "1", typ: excelize.CellTypeUnset},
		{name: "before excel's phantom leap day", kind: domain.KindTime, value: time.Date(1900, 2, 28, 0, 0, 0, 0, time.UTC), want: "59", typ: excelize.CellTypeUnset},
		{name: "after excel's phantom leap day", kind: domain.KindTime, value: time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), want: "61", typ: excelize.CellTypeUnset},
		{name: "time before 1900 becomes text", kind: domain.KindTime, value: time.Date(1850, 1, 2, 3, 4, 5, 0, time.UTC), want: "1850-01-02T03:04:05Z", typ: excelize.CellTypeInlineString},
		{name: "string", kind: domain.KindString, value: "hello", want: "hello", typ: excelize.CellTypeInlineString},
		{name: "empty string", kind: domain.KindString, value: "", want: "", typ: excelize.CellTypeInlineString},
		{name: "unicode", kind: domain.KindString, value: "Zürich 北京 🚀", want: "Zürich 北京 🚀", typ: excelize.CellTypeInlineString},
		{name: "markup", kind: domain.KindString, value: `<a href="x">&amp;</a> ]]>`, want: `<a href="x">&amp;</a> ]]>`, typ: excelize.CellTypeInlineString},
		{name: "spaces kept", kind: domain.KindString, value: "  padded\t", want: "  padded\t", typ: excelize.CellTypeInlineString},
		{name: "newlines", kind: domain.KindString, value: "a\nb\r\nc", want: "a\nb\r\nc", typ: excelize.CellTypeInlineString},
		{name: "control character", kind: domain.KindString, value: "bell\x07", want: "bell\x07", typ: excelize.CellTypeInlineString, xml: "bell_x0007_"},
		{name: "literal excel escape", kind: domain.KindString, value: "_x0041_ and _x12", want: "_x0041_ and _x12", typ: excelize.CellTypeInlineString, xml: "_x005F_x0041_ and _x12"},
		{name: "invalid utf-8", kind: domain.KindString, value: "bad\xffbyte", want: "bad\uFFFDbyte", typ: excelize.CellTypeInlineString},
		{name: "long text cut to excel's limit", kind: domain.KindString, value: strings.Repeat("ab", 20000), want: strings.Repeat("ab", 20000)[:32767], typ: excelize.CellTypeInlineString},
		{name: "nil", kind: domain.KindString, value: nil, want: "", typ: excelize.CellTypeUnset},
	}
	// All values go in one workbook, a row each, to keep the test fast.
	cols := []domain.SheetColumn{col("v", "Value", domain.KindString)}
	rows := make([][]any, len(tests))
	for i, tc := range tests {
		rows[i] = []any{tc.value}
	}
	data, _ := write(t, cols, xlsx.Options{}, rows...)
	f := open(t, data)
	xml := sheetXML(t, data, 1)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cell := "A" + strconv.Itoa(i+2)
			require.Equal(t, tc.want, raw(t, f, "Sheet1", cell))
			require.Equal(t, tc.typ, cellType(t, f, "Sheet1", cell))
			if tc.xml != "" {
				require.Contains(t, xml, tc.xml)
			}
		})
	}
	require.NotContains(t, xml, `<row r="`+strconv.Itoa(len(tests)+1)+`"><c`, "nil writes no cell element")
}

// Cells go without their reference, placed by order, except after an
// empty cell (no element): readers must still find every value in its
// column, through both of excelize's readers (the row iterator and the
// whole-sheet model).
func TestEmptyCellsKeepPositions(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("a", "A", domain.KindString), col("b", "B", domain.KindInt), col("c", "C", domain.KindString),
		col("d", "D", domain.KindBool), col("e", "E", domain.KindString)}
	rows := [][]any{
		{"a1", int64(1), "c1", true, "e1"},
		{nil, int64(2), nil, nil, "e2"},
		{"a3", nil, "c3", nil, nil},
		{nil, nil, nil, nil, "e4"},
		{nil, nil, nil, nil, nil},
		{"a6", int64(6), nil, false, "e6"},
	}
	want := [][]string{
		{"A", "B", "C", "D", "E"},
		{"a1", "1", "c1", "TRUE", "e1"},
		{"", "2", "", "", "e2"},
		{"a3", "", "c3"},
		{"", "", "", "", "e4"},
		nil,
		{"a6", "6", "", "FALSE", "e6"},
	}
	data, _ := write(t, cols, xlsx.Options{}, rows...)
	f := open(t, data)
	got, err := f.GetRows("Sheet1")
	require.NoError(t, err)
	for len(got) < len(want) {
		got = append(got, nil)
	}
	for i := range want {
		require.Equal(t, len(want[i]) == 0, len(got[i]) == 0, "row %d: %q", i+1, got[i])
		if len(want[i]) > 0 {
			require.Equal(t, want[i], got[i], "row %d", i+1)
		}
	}
	for r, row := range want {
		for c, v := range row {
			name, err := excelize.CoordinatesToCellName(c+1, r+1)
			require.NoError(t, err)
			cv, err := f.GetCellValue("Sheet1", name)
			require.NoError(t, err)
			require.Equal(t, v, cv, name)
		}
	}
	xml := sheetXML(t, data, 1)
	require.Contains(t, xml, `<row r="3"><c r="B3"><v>2</v></c><c r="E3" t="inlineStr">`, "a cell after a gap has its reference")
	require.Contains(t, xml, `<row r="2"><c t="inlineStr"><is><t>a1</t></is></c><c><v>1</v></c>`, "cells in order have none")
}

func TestFormats(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{
		col("at", "At", domain.KindTime),
		{Column: domain.Column{Field: "day", Header: "Day", Format: "yyyy-mm-dd"}, Kind: domain.KindTime},
		{Column: domain.Column{Field: "amount", Header: "Amount", Format: "#,##0.00"}, Kind: domain.KindDecimal},
		col("plain", "Plain", domain.KindDecimal),
	}
	at := time.Date(2024, 3, 5, 13, 45, 30, 0, time.UTC)
	data, _ := write(t, cols, xlsx.Options{}, []any{at, at, domain.Decimal("1234.5"), domain.Decimal("1234.5")})
	f := open(t, data)
	numFmt := func(cell string) string {
		s := cellStyle(t, f, "Sheet1", cell)
		if s.CustomNumFmt != nil {
			return *s.CustomNumFmt
		}
		return strconv.Itoa(s.NumFmt)
	}
	require.Equal(t, "yyyy-mm-dd hh:mm:ss", numFmt("A2"))
	require.Equal(t, "yyyy-mm-dd", numFmt("B2"))
	require.Equal(t, "#,##0.00", numFmt("C2"))
	require.Equal(t, "0", numFmt("D2"), "General")
	shown := func(cell string) string {
		v, err := f.GetCellValue("Sheet1", cell)
		require.NoError(t, err)
		return v
	}
	require.Equal(t, "2024-03-05 13:45:30", shown("A2"))
	require.Equal(t, "2024-03-05", shown("B2"))
	require.Equal(t, "1,234.50", shown("C2"))
}

func TestSheetSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		rows, perSheet, wantSheets int
	}{
		{rows: 0, perSheet: 3, wantSheets: 1},
		{rows: 1, perSheet: 3, wantSheets: 1},
		{rows: 3, perSheet: 3, wantSheets: 1},
		{rows: 6, perSheet: 3, wantSheets: 2},
		{rows: 7, perSheet: 3, wantSheets: 3},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.rows), func(t *testing.T) {
			t.Parallel()
			cols := []domain.SheetColumn{col("id", "ID", domain.KindInt), col("name", "Name", domain.KindString)}
			rows := make([][]any, tc.rows)
			for i := range rows {
				rows[i] = []any{int64(i + 1), "n" + strconv.Itoa(i+1)}
			}
			data, sheets := write(t, cols, xlsx.Options{SheetRows: tc.perSheet}, rows...)
			require.Equal(t, tc.wantSheets, sheets)
			f := open(t, data)
			var names []string
			next := 1
			for i := 1; i <= tc.wantSheets; i++ {
				name := "Sheet" + strconv.Itoa(i)
				names = append(names, name)
				got, err := f.GetRows(name)
				require.NoError(t, err)
				require.Equal(t, []string{"ID", "Name"}, got[0], "header on %s", name)
				require.True(t, cellStyle(t, f, name, "A1").Font.Bold)
				panes, err := f.GetPanes(name)
				require.NoError(t, err)
				require.True(t, panes.Freeze, "header frozen on %s", name)
				require.LessOrEqual(t, len(got)-1, tc.perSheet)
				for _, r := range got[1:] {
					require.Equal(t, []string{strconv.Itoa(next), "n" + strconv.Itoa(next)}, r)
					next++
				}
			}
			require.Equal(t, names, f.GetSheetList())
			require.Equal(t, tc.rows+1, next, "every row once, in order")
		})
	}
}

func TestSheetSplitBySize(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("s", "S", domain.KindString)}
	rows := make([][]any, 10)
	for i := range rows {
		rows[i] = []any{strings.Repeat("x", 1000) + strconv.Itoa(i)}
	}
	// Room for the sheet's own XML and about two rows.
	data, sheets := write(t, cols, xlsx.Options{SheetBytes: 3000}, rows...)
	require.Equal(t, 5, sheets)
	f := open(t, data)
	n := 0
	for _, name := range f.GetSheetList() {
		got, err := f.GetRows(name)
		require.NoError(t, err)
		require.Equal(t, "S", got[0][0])
		for _, r := range got[1:] {
			require.Equal(t, rows[n][0], r[0])
			n++
		}
	}
	require.Equal(t, len(rows), n)
}

func TestManyRows(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := xlsx.NewWithOptions(&buf, benchCols, xlsx.Options{})
	require.NoError(t, err)
	const n = 20_000
	for i := range n {
		require.NoError(t, w.WriteRow(benchRows[i%len(benchRows)]))
	}
	require.NotZero(t, buf.Len(), "rows stream to w before Close")
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	f := open(t, buf.Bytes())
	rows, err := f.Rows("Sheet1")
	require.NoError(t, err)
	count := 0
	for rows.Next() {
		count++
	}
	require.NoError(t, rows.Error())
	require.NoError(t, rows.Close())
	require.Equal(t, n+1, count)
	last := benchRows[(n-1)%len(benchRows)]
	require.Equal(t, last[1], raw(t, f, "Sheet1", "B"+strconv.Itoa(n+1)))
}

func TestBadRowsLeaveWriterUsable(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("id", "ID", domain.KindInt), col("d", "D", domain.KindDecimal)}
	var buf bytes.Buffer
	w, err := xlsx.NewWithOptions(&buf, cols, xlsx.Options{})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(1), domain.Decimal("1.5")}))
	for _, bad := range [][]any{
		{int64(2), domain.Decimal("1.2.3")},
		{int64(2), domain.Decimal("")},
		{int64(2), domain.Decimal("-")},
		{int64(2), domain.Decimal("1e5")},
		{int64(2), domain.Decimal("NaN")},
		{int64(2), domain.Decimal(" 1")},
		{int64(2), domain.Decimal("1.")},
		{int64(2), domain.Decimal(".5")},
		{int64(2), []byte("x")},
		{int64(2), uint64(3)},
		{int64(2)},
		{int64(2), nil, nil},
	} {
		err := w.WriteRow(bad)
		require.Error(t, err, "%#v", bad)
		require.True(t, domain.IsPermanent(err), "no retry fixes %v", err)
	}
	require.NoError(t, w.WriteRow([]any{int64(2), domain.Decimal("2.5")}))
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	rows, err := open(t, buf.Bytes()).GetRows("Sheet1")
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ID", "D"}, {"1", "1.5"}, {"2", "2.5"}}, rows)
}

func TestBadRowAtSheetEndStartsNoSheet(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("id", "ID", domain.KindInt)}
	var buf bytes.Buffer
	w, err := xlsx.NewWithOptions(&buf, cols, xlsx.Options{SheetRows: 2})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(1)}))
	require.NoError(t, w.WriteRow([]any{int64(2)}))
	require.Error(t, w.WriteRow([]any{domain.Decimal("x")}))
	require.Error(t, w.WriteRow([]any{uint(3)}))
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	require.Equal(t, []string{"Sheet1"}, open(t, buf.Bytes()).GetSheetList())
}

func TestCloseTwiceAndAbort(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("id", "ID", domain.KindInt)}

	w, err := xlsx.NewWithOptions(io.Discard, cols, xlsx.Options{})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(1)}))
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	_, err = w.Close()
	require.ErrorIs(t, err, xlsx.ErrClosed)
	require.ErrorIs(t, w.WriteRow([]any{int64(2)}), xlsx.ErrClosed)
	require.NoError(t, w.Abort(), "abort after close is a no-op")

	w, err = xlsx.NewWithOptions(io.Discard, cols, xlsx.Options{})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(1)}))
	require.NoError(t, w.Abort())
	_, err = w.Close()
	require.ErrorIs(t, err, xlsx.ErrClosed)
}

// failWriter fails every write after the first limit bytes.
type failWriter struct{ limit int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		return 0, errDisk
	}
	f.limit -= len(p)
	return len(p), nil
}

func TestWriteErrorsStick(t *testing.T) {
	t.Parallel()
	w, err := xlsx.NewWithOptions(&failWriter{limit: 1000}, benchCols, xlsx.Options{})
	require.NoError(t, err)
	for i := 0; ; i++ {
		require.Less(t, i, 1_000_000, "the write error never surfaced")
		if err = w.WriteRow(benchRows[i%len(benchRows)]); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, errDisk)
	require.False(t, domain.IsPermanent(err), "a write failure may pass")
	require.ErrorIs(t, w.WriteRow(benchRows[0]), errDisk, "the writer stays failed")
	_, err = w.Close()
	require.ErrorIs(t, err, errDisk)
	_, err = w.Close()
	require.ErrorIs(t, err, xlsx.ErrClosed, "a second close does not panic")
}

func TestCloseReportsWriteError(t *testing.T) {
	t.Parallel()
	w, err := xlsx.NewWithOptions(&failWriter{limit: 0}, benchCols[:1], xlsx.Options{})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(1)}))
	_, err = w.Close()
	require.ErrorIs(t, err, errDisk)
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	one := []domain.SheetColumn{col("id", "ID", domain.KindInt)}
	tests := []struct {
		name string
		cols []domain.SheetColumn
		opts xlsx.Options
	}{
		{name: "no columns", cols: nil},
		{name: "too many columns", cols: make([]domain.SheetColumn, excelize.MaxColumns+1)},
		{name: "level too high", cols: one, opts: xlsx.Options{Level: 10}},
		{name: "level negative", cols: one, opts: xlsx.Options{Level: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := xlsx.NewWithOptions(io.Discard, tc.cols, tc.opts)
			require.Error(t, err)
		})
	}
}

func TestFactory(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := xlsx.New(&buf, []domain.SheetColumn{col("id", "ID", domain.KindInt)})
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{int64(7)}))
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	require.Equal(t, "7", raw(t, open(t, buf.Bytes()), "Sheet1", "A2"))
}

// TestNoTempFiles checks nothing is left in the temporary directory, where
// excelize puts the data of big streamed sheets. The writer does not
// stream through excelize, so it should create none at all.
func TestNoTempFiles(t *testing.T) {
	t.Parallel()
	before := tempFiles(t)
	w, err := xlsx.NewWithOptions(io.Discard, benchCols, xlsx.Options{})
	require.NoError(t, err)
	// Far more than excelize's 16 MB in-memory chunk.
	for i := range 60_000 {
		require.NoError(t, w.WriteRow(benchRows[i%len(benchRows)]))
	}
	during := tempFiles(t)
	_, err = w.Close()
	require.NoError(t, err)
	after := tempFiles(t)
	for name := range during {
		if !before[name] {
			// Another test process may share the directory: only files
			// that appeared while writing and outlived Close count.
			require.False(t, after[name], "temporary file %s left behind", name)
		}
	}
}

func tempFiles(t *testing.T) map[string]bool {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(os.TempDir(), "excelize-*"))
	require.NoError(t, err)
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// A row given as text (domain.TextRowWriter) makes the same sheet XML as
// the same values given as Go values, across sheets; bad text is refused
// like a bad value.
func TestWriteTextRowMatchesWriteRow(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("s", "S", domain.KindString), col("n", "N", domain.KindInt), col("d", "D", domain.KindDecimal),
		col("b", "B", domain.KindBool), col("t", "T", domain.KindTime)}
	type pair struct {
		vals  []any
		cells []string // "\x00" is NULL
	}
	rows := []pair{
		{[]any{" a&b<c>_x0041_ ", int64(-12), domain.Decimal("-0.50"), true, time.Date(2024, 3, 5, 13, 45, 30, 500_000_000, time.UTC)},
			[]string{" a&b<c>_x0041_ ", "-12", "-0.50", "true", "2024-03-05T13:45:30.5Z"}},
		{[]any{"", int64(1234567890123456789), domain.Decimal("12345678901234567.5"), false, time.Date(1900, 2, 28, 6, 0, 0, 0, time.UTC)},
			[]string{"", "1234567890123456789", "12345678901234567.5", "false", "1900-02-28T06:00:00Z"}},
		{[]any{nil, int64(999999999999999), nil, nil, time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)},
			[]string{"\x00", "999999999999999", "\x00", "\x00", "1850-01-01T00:00:00Z"}},
		{[]any{"x\ry", int64(0), domain.Decimal("0"), nil, time.Date(2026, 1, 1, 0, 0, 1, 123456789, time.UTC)},
			[]string{"x\ry", "0", "0", "\x00", "2026-01-01T00:00:01.123456789Z"}},
	}
	var typed, text bytes.Buffer
	opts := xlsx.Options{SheetRows: 3}
	tw, err := xlsx.NewWithOptions(&typed, cols, opts)
	require.NoError(t, err)
	xw, err := xlsx.NewWithOptions(&text, cols, opts)
	require.NoError(t, err)
	for _, r := range rows {
		cells := make([][]byte, len(r.cells))
		for i, c := range r.cells {
			if c != "\x00" {
				cells[i] = []byte(c)
			}
		}
		require.NoError(t, tw.WriteRow(r.vals))
		require.NoError(t, xw.WriteTextRow(cells))
	}
	for _, bad := range [][]string{{"", "1.5", "0", "true", "2026-01-01T00:00:00Z"}, {"", "1", "1e3", "true", "2026-01-01T00:00:00Z"},
		{"", "1", "0", "yes", "2026-01-01T00:00:00Z"}, {"", "1", "0", "true", "2026-02-30T00:00:00Z"}} {
		cells := make([][]byte, len(bad))
		for i, c := range bad {
			cells[i] = []byte(c)
		}
		err := xw.WriteTextRow(cells)
		require.True(t, domain.IsPermanent(err), "%q: %v", bad, err)
	}
	ts, err := tw.Close()
	require.NoError(t, err)
	xs, err := xw.Close()
	require.NoError(t, err)
	require.Equal(t, 2, ts)
	require.Equal(t, ts, xs)
	for n := 1; n <= ts; n++ {
		require.Equal(t, sheetXML(t, typed.Bytes(), n), sheetXML(t, text.Bytes(), n), "sheet %d", n)
	}
}
