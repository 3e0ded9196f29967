package xlsx_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/xlsx"
)

// The benchmarks write orders shaped like the demo provider's (which this
// package must not import): 10 columns of ints, strings, decimals, a bool
// and a time. DC_BENCH_ROWS overrides the row count, e.g. 1000000 for the
// figures the performance target is stated in.

var benchCols = []domain.SheetColumn{
	{Column: domain.Column{Field: "id", Header: "Order ID"}, Kind: domain.KindInt},
	{Column: domain.Column{Field: "order_no", Header: "Order No"}, Kind: domain.KindString},
	{Column: domain.Column{Field: "customer", Header: "Customer"}, Kind: domain.KindString},
	{Column: domain.Column{Field: "city", Header: "City"}, Kind: domain.KindString},
	{Column: domain.Column{Field: "status", Header: "Status"}, Kind: domain.KindString},
	{Column: domain.Column{Field: "quantity", Header: "Quantity"}, Kind: domain.KindInt},
	{Column: domain.Column{Field: "unit_price", Header: "Unit Price", Format: "0.00"}, Kind: domain.KindDecimal},
	{Column: domain.Column{Field: "amount", Header: "Amount", Format: "0.00"}, Kind: domain.KindDecimal},
	{Column: domain.Column{Field: "paid", Header: "Paid"}, Kind: domain.KindBool},
	{Column: domain.Column{Field: "created_at", Header: "Created At"}, Kind: domain.KindTime},
}

// benchRows is a pool of rows the benchmarks cycle through, made up front
// so only writing is measured.
var benchRows = func() [][]any {
	cities := []string{"Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan", "Xi'an", "Nanjing"}
	statuses := []string{"pending", "paid", "shipped", "delivered", "refunded"}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := make([][]any, 4096)
	for i := range rows {
		id := int64(i + 1)
		qty := id%20 + 1
		cents := 99 + (id*7919)%99901
		rows[i] = []any{
			id, "ORD-" + pad7(id), "customer-" + strconv.FormatInt(id%997+1, 10),
			cities[id%8], statuses[id%5], qty, centsText(cents), centsText(qty * cents),
			id%5 != 0, base.Add(time.Duration(id) * time.Minute),
		}
	}
	return rows
}()

func pad7(n int64) string {
	s := strconv.FormatInt(n, 10)
	for len(s) < 7 {
		s = "0" + s
	}
	return s
}

func centsText(c int64) domain.Decimal {
	return domain.Decimal(strconv.FormatInt(c/100, 10) + "." + strconv.FormatInt(c%100/10, 10) + strconv.FormatInt(c%10, 10))
}

func benchRowCount(b *testing.B) int {
	if s := os.Getenv("DC_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("DC_BENCH_ROWS: %v", err)
		}
		return n
	}
	return 100_000
}

// BenchmarkWrite measures this package's writer onto a file.
func BenchmarkWrite(b *testing.B) {
	n := benchRowCount(b)
	path := filepath.Join(b.TempDir(), "out.xlsx")
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := xlsx.NewWithOptions(f, benchCols, xlsx.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := w.WriteRow(benchRows[i%len(benchRows)]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := w.Close(); err != nil {
			b.Fatal(err)
		}
		if size, err = f.Seek(0, 1); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size), "file-bytes")
}

// BenchmarkPlainExcelize is the baseline: the recipe in excelize's own
// documentation, a StreamWriter fed raw values and SaveAs, for the same
// rows (decimals as float64, since excelize would write a Decimal as text).
func BenchmarkPlainExcelize(b *testing.B) {
	n := benchRowCount(b)
	path := filepath.Join(b.TempDir(), "out.xlsx")
	header := make([]any, len(benchCols))
	for i, c := range benchCols {
		header[i] = c.Header
	}
	b.ReportAllocs()
	var size int64
	for b.Loop() {
		f := excelize.NewFile(excelize.Options{TmpDir: b.TempDir()})
		sw, err := f.NewStreamWriter("Sheet1")
		if err != nil {
			b.Fatal(err)
		}
		if err := sw.SetRow("A1", header); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			src := benchRows[i%len(benchRows)]
			row := make([]any, len(src))
			for j, v := range src {
				if d, ok := v.(domain.Decimal); ok {
					v, _ = strconv.ParseFloat(string(d), 64)
				}
				row[j] = v
			}
			cell, err := excelize.CoordinatesToCellName(1, i+2)
			if err != nil {
				b.Fatal(err)
			}
			if err := sw.SetRow(cell, row); err != nil {
				b.Fatal(err)
			}
		}
		if err := sw.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.SaveAs(path); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(size), "file-bytes")
}
