package csv_test

import (
	stdcsv "encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/csv"
)

// The benchmarks write orders shaped like the demo provider's (which this
// package must not import). DC_BENCH_ROWS overrides the row count.

var benchCols = []domain.SheetColumn{
	col("id", "Order ID", domain.KindInt),
	col("order_no", "Order No", domain.KindString),
	col("customer", "Customer", domain.KindString),
	col("city", "City", domain.KindString),
	col("status", "Status", domain.KindString),
	col("quantity", "Quantity", domain.KindInt),
	col("unit_price", "Unit Price", domain.KindDecimal),
	col("amount", "Amount", domain.KindDecimal),
	col("paid", "Paid", domain.KindBool),
	col("created_at", "Created At", domain.KindTime),
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
			id, fmt.Sprintf("ORD-%07d", id), "customer-" + strconv.FormatInt(id%997+1, 10),
			cities[id%8], statuses[id%5], qty, domain.Decimal(fmt.Sprintf("%d.%02d", cents/100, cents%100)),
			domain.Decimal(fmt.Sprintf("%d.%02d", qty*cents/100, qty*cents%100)),
			id%5 != 0, base.Add(time.Duration(id) * time.Minute),
		}
	}
	return rows
}()

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
	path := filepath.Join(b.TempDir(), "out.csv")
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w, err := csv.New(f, benchCols)
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
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPlainCSV is the baseline: encoding/csv with its default buffer
// straight on the file, each value formatted on its own.
func BenchmarkPlainCSV(b *testing.B) {
	n := benchRowCount(b)
	path := filepath.Join(b.TempDir(), "out.csv")
	header := make([]string, len(benchCols))
	for i, c := range benchCols {
		header[i] = c.Header
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := stdcsv.NewWriter(f)
		if err := w.Write(header); err != nil {
			b.Fatal(err)
		}
		rec := make([]string, len(benchCols))
		for i := range n {
			for j, v := range benchRows[i%len(benchRows)] {
				switch v := v.(type) {
				case string:
					rec[j] = v
				case domain.Decimal:
					rec[j] = string(v)
				case int64:
					rec[j] = strconv.FormatInt(v, 10)
				case bool:
					rec[j] = strconv.FormatBool(v)
				case time.Time:
					rec[j] = v.UTC().Format(time.RFC3339Nano)
				}
			}
			if err := w.Write(rec); err != nil {
				b.Fatal(err)
			}
		}
		w.Flush()
		if err := w.Error(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
