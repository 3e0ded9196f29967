package xlsx_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/xlsx"
)

// The benchmark (cmd/bench, docs/BENCHMARKS.md) compares this package's
// writer with the plain excelize recipe, a StreamWriter and SaveAs. That
// comparison is only fair if both make the same workbook, which this test
// proves for the benchmark's rows: the demo provider's orders, every
// column, one sheet. It imports the demo provider, unlike the package's
// other tests, because the point is the very rows the benchmark writes;
// it is a test dependency only.
//
// The plain side is configured as the writer configures its workbook — a
// bold header and the writer's default date format on the time column —
// since the formatted values depend on the styles. Two differences remain
// by design and are checked as such rather than ignored:
//
//   - A decimal keeps its exact text in the writer ("12.50"); excelize
//     only takes a float64 and writes its shortest form ("12.5"). The raw
//     values are compared as numbers and the writer's against the
//     provider's text.
//   - Column widths: the writer sizes columns for their kind and header;
//     the plain recipe leaves Excel's default. Widths are layout, not
//     content, and are not compared.
//
// Texts the two write differently by design (control characters, which
// the writer keeps as Excel's _xHHHH_ escapes and excelize replaces, and
// integers beyond Excel's 15 digits, which the writer keeps as text) do
// not occur in these rows.

// equivalenceRows is how many demo rows are compared: enough to cover
// every customer, city, status and price the provider cycles through.
const equivalenceRows = 3000

// timeFormat is the writer's default for a time column (xlsx.DefaultTimeFormat).
const timeFormat = xlsx.DefaultTimeFormat

func TestPlainEquivalence(t *testing.T) {
	t.Parallel()
	fields := demo.Fields()
	cols := make([]domain.SheetColumn, len(fields))
	for i, f := range fields {
		cols[i] = domain.SheetColumn{Column: domain.Column{Field: f.Name, Header: f.Header}, Kind: f.Kind}
	}
	rows := make([][]any, 0, equivalenceRows+len(edgeTexts))
	for id := int64(1); id <= equivalenceRows; id++ {
		rows = append(rows, demo.Row(id))
	}
	// A few rows whose text needs escaping or keeps its spaces, in the
	// string columns of otherwise ordinary orders.
	for i, s := range edgeTexts {
		r := demo.Row(int64(equivalenceRows + i + 1))
		r[1], r[2], r[3] = s, s, s
		rows = append(rows, r)
	}

	tuned, _ := write(t, cols, xlsx.Options{}, rows...)
	plain := writePlain(t, fields, rows)
	tf, pf := open(t, tuned), open(t, plain)

	require.Equal(t, []string{"Sheet1"}, tf.GetSheetList())
	require.Equal(t, pf.GetSheetList(), tf.GetSheetList())

	tRaw := getRows(t, tf, excelize.Options{RawCellValue: true})
	pRaw := getRows(t, pf, excelize.Options{RawCellValue: true})
	tShown := getRows(t, tf)
	pShown := getRows(t, pf)
	require.Len(t, tRaw, len(rows)+1, "header and every row")
	require.Len(t, pRaw, len(tRaw))
	for r := range tShown {
		require.Equal(t, pShown[r], tShown[r], "formatted values of sheet row %d", r+1)
	}
	require.Len(t, pShown, len(tShown))

	headers := make([]string, len(fields))
	for i, f := range fields {
		headers[i] = f.Header
	}
	require.Equal(t, headers, tRaw[0])
	require.Equal(t, pRaw[0], tRaw[0])

	for r := 1; r < len(tRaw); r++ {
		require.Len(t, tRaw[r], len(fields), "row %d", r)
		require.Len(t, pRaw[r], len(fields), "row %d", r)
		for c, f := range fields {
			at := cellName(t, c, r)
			if f.Kind != domain.KindDecimal {
				require.Equal(t, pRaw[r][c], tRaw[r][c], "raw value of %s", at)
				continue
			}
			want := string(rows[r-1][c].(domain.Decimal))
			require.Equal(t, want, tRaw[r][c], "%s keeps the decimal's text", at)
			tv, err := strconv.ParseFloat(tRaw[r][c], 64)
			require.NoError(t, err, at)
			pv, err := strconv.ParseFloat(pRaw[r][c], 64)
			require.NoError(t, err, at)
			require.Equal(t, pv, tv, "number in %s", at)
		}
	}

	// Types and styles, cell by cell (header included): the same kind of
	// cell with the same font and number format.
	for r := range tRaw {
		for c := range fields {
			at := cellName(t, c, r)
			require.Equal(t, cellType(t, pf, "Sheet1", at), cellType(t, tf, "Sheet1", at), "type of %s", at)
			ts, ps := cellStyle(t, tf, "Sheet1", at), cellStyle(t, pf, "Sheet1", at)
			require.Equal(t, bold(ps), bold(ts), "bold in %s", at)
			require.Equal(t, numFmt(ps), numFmt(ts), "number format of %s", at)
		}
	}
	require.True(t, bold(cellStyle(t, tf, "Sheet1", "A1")), "the header is bold")
	require.Equal(t, timeFormat, numFmt(cellStyle(t, tf, "Sheet1", "J2")), "created_at is a date")
	require.Equal(t, excelize.CellTypeBool, cellType(t, tf, "Sheet1", "I2"), "paid is a boolean")
	require.Equal(t, excelize.CellTypeInlineString, cellType(t, tf, "Sheet1", "B2"), "order_no is text")
	require.Equal(t, excelize.CellTypeUnset, cellType(t, tf, "Sheet1", "H2"), "amount is a number")
}

// edgeTexts are strings whose XML needs care: markup, entities, spaces
// that must be preserved, line breaks, tabs, non-Latin scripts, an
// underscore that is not an Excel escape, and the empty string.
var edgeTexts = []string{
	`<b>"Tom" & 'Jerry'</b> ]]>`,
	"  leading and trailing  ",
	"line one\nline two\ttabbed",
	"Zürich 北京 Москва 🚀",
	"snake_case_x12_",
	"",
}

// writePlain makes the workbook with excelize's own StreamWriter, styled
// as the writer styles its workbook.
func writePlain(t *testing.T, fields []domain.Field, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer func() { require.NoError(t, f.Close()) }()
	boldID, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	require.NoError(t, err)
	tf := timeFormat
	timeID, err := f.NewStyle(&excelize.Style{CustomNumFmt: &tf})
	require.NoError(t, err)
	sw, err := f.NewStreamWriter("Sheet1")
	require.NoError(t, err)
	require.NoError(t, sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}))
	vals := make([]any, len(fields))
	for i, fd := range fields {
		vals[i] = excelize.Cell{StyleID: boldID, Value: fd.Header}
	}
	require.NoError(t, sw.SetRow("A1", vals))
	for i, r := range rows {
		for j, v := range r {
			switch v := v.(type) {
			case domain.Decimal:
				n, err := strconv.ParseFloat(string(v), 64)
				require.NoError(t, err)
				vals[j] = n
			case time.Time:
				vals[j] = excelize.Cell{StyleID: timeID, Value: v}
			default:
				vals[j] = v
			}
		}
		require.NoError(t, sw.SetRow(cellName(t, 0, i+1), vals))
	}
	require.NoError(t, sw.Flush())
	var buf bytes.Buffer
	_, err = f.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

func getRows(t *testing.T, f *excelize.File, opts ...excelize.Options) [][]string {
	t.Helper()
	rows, err := f.GetRows("Sheet1", opts...)
	require.NoError(t, err)
	return rows
}

// cellName names the cell of 0-based column c and row r (row 0 is the
// header, the sheet's row 1).
func cellName(t *testing.T, c, r int) string {
	t.Helper()
	name, err := excelize.CoordinatesToCellName(c+1, r+1)
	require.NoError(t, err)
	return name
}

func bold(s *excelize.Style) bool { return s.Font != nil && s.Font.Bold }

// numFmt is a style's number format: the custom code, or the built-in id.
func numFmt(s *excelize.Style) string {
	if s.CustomNumFmt != nil {
		return *s.CustomNumFmt
	}
	return "builtin " + strconv.Itoa(s.NumFmt)
}
