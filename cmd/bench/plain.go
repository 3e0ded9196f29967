package main

import (
	"bufio"
	stdcsv "encoding/csv"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/xlsx"
)

// The baselines: what a program with no Download Center around it would
// write for the same demo rows, timed in this process. They generate the
// rows with demo.Row as they go, since the exports also make up their
// rows, so generation is on both sides of the ratio.

// plainBufferSize is the plain csv program's write buffer: the size the
// csv writer uses, so the ratio measures the pipeline around the writer
// rather than a buffer size.
const plainBufferSize = 256 << 10

// plainXLSX writes rows demo rows with excelize's documented recipe (a
// StreamWriter fed row values, then SaveAs) and returns the file size.
// It styles the workbook as the export does — a bold, frozen header and
// the export's date format on the time column — so both files hold the
// same contents (infra/xlsx/plain_equivalence_test.go proves it for these
// rows). Decimals become float64: excelize takes a named string type for
// text, which would turn the amounts into strings.
func plainXLSX(path, tmpDir string, rows int) (size int64, err error) {
	f := excelize.NewFile(excelize.Options{TmpDir: tmpDir})
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("plain xlsx: close: %w", cerr)
		}
	}()
	boldID, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return 0, fmt.Errorf("plain xlsx: %w", err)
	}
	timeFormat := xlsx.DefaultTimeFormat
	// Without a style of its own a time cell gets excelize's default date
	// style, looked up anew for every cell: slower, and shown differently.
	timeID, err := f.NewStyle(&excelize.Style{CustomNumFmt: &timeFormat})
	if err != nil {
		return 0, fmt.Errorf("plain xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return 0, fmt.Errorf("plain xlsx: %w", err)
	}
	err = sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	})
	if err != nil {
		return 0, fmt.Errorf("plain xlsx: %w", err)
	}
	fields := demo.Fields()
	vals := make([]any, len(fields))
	for i, fd := range fields {
		vals[i] = excelize.Cell{StyleID: boldID, Value: fd.Header}
	}
	if err := sw.SetRow("A1", vals); err != nil {
		return 0, fmt.Errorf("plain xlsx: header: %w", err)
	}
	for id := 1; id <= rows; id++ {
		for i, v := range demo.Row(int64(id)) {
			switch t := v.(type) {
			case domain.Decimal:
				if v, err = strconv.ParseFloat(string(t), 64); err != nil {
					return 0, fmt.Errorf("plain xlsx: row %d: %w", id, err)
				}
			case time.Time:
				v = excelize.Cell{StyleID: timeID, Value: t}
			}
			vals[i] = v
		}
		cell, err := excelize.CoordinatesToCellName(1, id+1)
		if err != nil {
			return 0, fmt.Errorf("plain xlsx: %w", err)
		}
		if err := sw.SetRow(cell, vals); err != nil {
			return 0, fmt.Errorf("plain xlsx: row %d: %w", id, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return 0, fmt.Errorf("plain xlsx: flush: %w", err)
	}
	if err := f.SaveAs(path); err != nil {
		return 0, fmt.Errorf("plain xlsx: save: %w", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("plain xlsx: %w", err)
	}
	return st.Size(), nil
}

// plainCSV writes rows demo rows with encoding/csv through a buffered
// writer and returns the file size. Each value is formatted the obvious
// way, into the same text the export writes (a byte-order mark, CRLF line
// ends, RFC 3339 UTC times), so the two files can be compared byte for
// byte.
func plainCSV(path string, rows int) (size int64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("plain csv: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("plain csv: close: %w", cerr)
		}
	}()
	bw := bufio.NewWriterSize(f, plainBufferSize)
	if _, err := bw.WriteString("\uFEFF"); err != nil {
		return 0, fmt.Errorf("plain csv: %w", err)
	}
	w := stdcsv.NewWriter(bw)
	w.UseCRLF = true
	fields := demo.Fields()
	rec := make([]string, len(fields))
	for i, fd := range fields {
		rec[i] = fd.Header
	}
	if err := w.Write(rec); err != nil {
		return 0, fmt.Errorf("plain csv: header: %w", err)
	}
	for id := 1; id <= rows; id++ {
		for i, v := range demo.Row(int64(id)) {
			switch v := v.(type) {
			case string:
				rec[i] = v
			case domain.Decimal:
				rec[i] = string(v)
			case int64:
				rec[i] = strconv.FormatInt(v, 10)
			case bool:
				rec[i] = strconv.FormatBool(v)
			case time.Time:
				rec[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				return 0, fmt.Errorf("plain csv: row %d: unexpected %T", id, v)
			}
		}
		if err := w.Write(rec); err != nil {
			return 0, fmt.Errorf("plain csv: row %d: %w", id, err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return 0, fmt.Errorf("plain csv: flush: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, fmt.Errorf("plain csv: flush: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("plain csv: %w", err)
	}
	return st.Size(), nil
}
