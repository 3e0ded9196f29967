package proctest

import (
	"bytes"
	stdcsv "encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
)

// CheckDemoXLSX opens an xlsx export of the demo provider with all its
// columns and checks every sheet's header, the total row count, that
// rows are numbered 1..rows in order, and spot-checks values.
func CheckDemoXLSX(t *testing.T, path string, rows int64, sheetRows int) {
	t.Helper()
	// Raw values: the decimal's exact text as stored, not as formatted.
	f, err := excelize.OpenFile(path, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	defer f.Close()
	sheets := f.GetSheetList()
	want := 1
	if rows > 0 {
		want = int((rows + int64(sheetRows) - 1) / int64(sheetRows))
	}
	require.Len(t, sheets, want, "sheet count")
	fields := demo.Fields()
	var next int64 = 1
	for _, sh := range sheets {
		it, err := f.Rows(sh)
		require.NoError(t, err)
		first := true
		for it.Next() {
			cells, err := it.Columns()
			require.NoError(t, err)
			if first {
				for i, fd := range fields {
					require.Equal(t, fd.Header, cells[i], "header of %s", sh)
				}
				first = false
				continue
			}
			id, err := strconv.ParseInt(cells[0], 10, 64)
			require.NoError(t, err, "row %d of %s", next, sh)
			require.Equal(t, next, id, "rows in order without gaps")
			if id%9973 == 1 || id == rows {
				expect := demo.Row(id)
				require.Equal(t, expect[1], cells[1])
				require.Equal(t, string(expect[7].(domain.Decimal)), cells[7], "amount of row %d", id)
			}
			next++
		}
		require.NoError(t, it.Close())
	}
	require.Equal(t, rows, next-1, "data rows")
}

// CheckDemoCSV checks a csv export of the demo provider with all columns.
func CheckDemoCSV(t *testing.T, path string, rows int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(b, []byte("\xEF\xBB\xBF")), "UTF-8 byte-order mark")
	r := stdcsv.NewReader(bytes.NewReader(b[3:]))
	head, err := r.Read()
	require.NoError(t, err)
	for i, fd := range demo.Fields() {
		require.Equal(t, fd.Header, head[i])
	}
	var n int64
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		n++
		require.Equal(t, strconv.FormatInt(n, 10), rec[0])
		if n%7919 == 1 || n == rows {
			expect := demo.Row(n)
			require.Equal(t, expect[1], rec[1])
			require.Equal(t, string(expect[7].(domain.Decimal)), rec[7])
			require.Equal(t, expect[9].(time.Time).UTC().Format(time.RFC3339), rec[9], fmt.Sprint("created_at of row ", n))
		}
	}
	require.Equal(t, rows, n)
}
