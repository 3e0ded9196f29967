// Package demo is a data provider that makes up a deterministic orders
// table of any size. It needs no database, so it serves the embedded mode,
// end-to-end tests (with simulated failures and slow batches) and
// benchmarks of the file writers.
package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// Type is the export type the provider serves.
const Type = "demo"

// Limits on the params.
const (
	// MaxRows is the largest table the provider makes up.
	MaxRows = 10_000_000
	// MaxDelayMS is the longest pause per batch, in milliseconds.
	MaxDelayMS = 10_000
	// DefaultLimit is the batch size when a request asks for none.
	DefaultLimit = 1000
	// MaxLimit bounds a batch so one Fetch cannot allocate without limit.
	MaxLimit = 100_000
)

// The param names.
const (
	ParamRows      = "rows"
	ParamFailTimes = "fail_times"
	ParamDelayMS   = "delay_ms"
)

// BaseTime is the created_at of row 0; row id is id minutes later.
var BaseTime = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// ErrSimulated is the retryable failure fail_times asks for.
var ErrSimulated = errors.New("demo: simulated failure")

var fields = []domain.Field{
	{Name: "id", Header: "Order ID", Kind: domain.KindInt},
	{Name: "order_no", Header: "Order No", Kind: domain.KindString},
	{Name: "customer", Header: "Customer", Kind: domain.KindString},
	{Name: "city", Header: "City", Kind: domain.KindString},
	{Name: "status", Header: "Status", Kind: domain.KindString},
	{Name: "quantity", Header: "Quantity", Kind: domain.KindInt},
	{Name: "unit_price", Header: "Unit Price", Kind: domain.KindDecimal},
	{Name: "amount", Header: "Amount", Kind: domain.KindDecimal},
	{Name: "paid", Header: "Paid", Kind: domain.KindBool},
	{Name: "created_at", Header: "Created At", Kind: domain.KindTime},
}

// NumFields is the number of values in a row.
const NumFields = 10

// The value tables. Their entries are boxed once here so making a row
// does not allocate for them.
var (
	cities   = []string{"Shanghai", "Beijing", "Shenzhen", "Hangzhou", "Chengdu", "Wuhan", "Xi'an", "Nanjing"}
	statuses = []string{"pending", "paid", "shipped", "delivered", "refunded"}
	// paidStatus says which statuses mean the order was paid.
	paidStatus = []bool{false, true, true, true, true}

	cityVals     = boxStrings(cities)
	statusVals   = boxStrings(statuses)
	customerVals = func() []any {
		out := make([]any, customers)
		for i := range out {
			out[i] = "customer-" + strconv.Itoa(i+1)
		}
		return out
	}()
	boolVals  = []any{false, true}
	priceVals = func() []any {
		out := make([]any, prices)
		var t texts
		for i := range out {
			out[i] = t.cents(unitCents(int64(i)))
		}
		return out
	}()
	// amountVals holds every amount: quantity and price both follow from
	// id mod maxQuantity·prices (the two are coprime). Built on first use
	// since it is about a megabyte.
	amountVals = sync.OnceValue(func() []any {
		out := make([]any, maxQuantity*prices)
		var t texts
		for i := range out {
			id := int64(i)
			out[i] = t.cents((id%maxQuantity + 1) * unitCents(id))
		}
		return out
	})
)

const (
	// textBytesPerRow is the usual length of a row's built strings, so a
	// batch's text buffer seldom grows.
	textBytesPerRow = 12
	customers       = 997
	// prices is how many unit prices there are, a prime so a price
	// does not repeat in step with the other columns.
	prices = 1009
	// maxQuantity is the largest quantity of an order line.
	maxQuantity = 20
)

func boxStrings(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// Fields returns the provider's fields, in row order. The caller may
// modify the slice.
func Fields() []domain.Field {
	return append([]domain.Field(nil), fields...)
}

// Row returns row id (1-based, so id >= 1) as Fetch yields it; tests
// elsewhere use it to check file contents.
func Row(id int64) []any {
	row := make([]any, NumFields)
	var t texts
	fill(row, id, &t)
	return row
}

// fill writes row id into row.
func fill(row []any, id int64, t *texts) {
	qty := id%maxQuantity + 1
	status := id % int64(len(statuses))
	row[0] = id
	row[1] = t.orderNo(id)
	row[2] = customerVals[id%customers]
	row[3] = cityVals[id%int64(len(cities))]
	row[4] = statusVals[status]
	row[5] = qty
	row[6] = priceVals[id%prices]
	row[7] = amountVals()[id%(maxQuantity*prices)]
	row[8] = boolVals[b2i(paidStatus[status])]
	row[9] = BaseTime.Add(time.Duration(id) * time.Minute)
}

// unitCents is a deterministic price between 0.99 and 999.99, one of
// prices.
func unitCents(id int64) int64 {
	return 99 + (id%prices*7919)%99901
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// texts builds the strings of a batch in one growing buffer and hands out
// substrings of it, so a batch allocates a few large blocks instead of a
// small string per row. Substrings stay valid: a strings.Builder never
// rewrites bytes it has handed out.
type texts struct{ b strings.Builder }

// orderNo is "ORD-" and the id zero-padded to 7 digits.
func (t *texts) orderNo(id int64) string {
	start := t.b.Len()
	var d [20]byte
	s := strconv.AppendInt(d[:0], id, 10)
	t.b.WriteString("ORD-")
	for i := len(s); i < 7; i++ {
		t.b.WriteByte('0')
	}
	t.b.Write(s)
	return t.b.String()[start:]
}

// cents renders a non-negative amount of cents as an exact decimal.
func (t *texts) cents(c int64) domain.Decimal {
	start := t.b.Len()
	var d [24]byte
	s := strconv.AppendInt(d[:0], c/100, 10)
	frac := c % 100
	s = append(s, '.', byte('0'+frac/10), byte('0'+frac%10))
	t.b.Write(s)
	return domain.Decimal(t.b.String()[start:])
}

// Provider makes up the orders table. The zero value is ready to use and
// it is safe for concurrent use.
type Provider struct{}

// New returns the demo provider.
func New() *Provider { return &Provider{} }

// Fields lists the columns of the orders table.
func (*Provider) Fields() []domain.Field { return Fields() }

// Validate checks the params: rows (required), fail_times and delay_ms.
func (*Provider) Validate(params map[string]any) error {
	_, err := parseParams(params)
	return err
}

// Count returns the number of rows the params ask for.
func (*Provider) Count(_ context.Context, params map[string]any) (int64, error) {
	p, err := parseParams(params)
	if err != nil {
		return 0, domain.Permanent(err)
	}
	return p.rows, nil
}

// Fetch returns the rows after req.Cursor, the last id already written.
func (*Provider) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	p, err := parseParams(req.Params)
	if err != nil {
		return domain.Batch{}, domain.Permanent(err)
	}
	after, err := parseCursor(req.Cursor, p.rows)
	if err != nil {
		return domain.Batch{}, domain.Permanent(err)
	}
	if err := sleep(ctx, p.delay); err != nil {
		return domain.Batch{}, err
	}
	limit := int64(req.Limit)
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	last := min(after+limit, p.rows)
	done := last == p.rows
	// Failing on the second batch shows a retry discards a partly written
	// file; a table of one batch can only fail on its first.
	if req.Attempt <= p.failTimes && (after > 0 || done) {
		return domain.Batch{}, fmt.Errorf("%w on attempt %d (fail_times=%d)", ErrSimulated, req.Attempt, p.failTimes)
	}
	n := int(last - after)
	rows := make([][]any, n)
	vals := make([]any, n*NumFields)
	var t texts
	t.b.Grow(n * textBytesPerRow)
	for i := range rows {
		rows[i] = vals[i*NumFields : (i+1)*NumFields : (i+1)*NumFields]
		fill(rows[i], after+int64(i)+1, &t)
	}
	return domain.Batch{Rows: rows, NextCursor: strconv.FormatInt(last, 10), Done: done}, nil
}

// sleep waits d unless ctx ends first; it reports an ended ctx also
// when there is nothing to wait for.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("demo: %w", context.Cause(ctx))
		}
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("demo: delay: %w", context.Cause(ctx))
	case <-t.C:
		return nil
	}
}

// parseCursor reads the last id written; "" is the start.
func parseCursor(c string, rows int64) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("demo: bad cursor %q", c)
	}
	if n > rows {
		return 0, fmt.Errorf("demo: cursor %q is past the last row %d", c, rows)
	}
	return n, nil
}

// Params implements domain.ParamDeclarer.
func (*Provider) Params() []domain.Param {
	out := make([]domain.Param, 0, len(paramSpecs))
	for name, p := range paramSpecs {
		out = append(out, domain.Param{Name: name, Kind: p.Kind, Required: p.Required, Description: p.Description})
	}
	return out
}
