package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
)

// Compile-time checks that the provider fits the ports.
var (
	_ domain.Provider = (*demo.Provider)(nil)
	_ domain.Counter  = (*demo.Provider)(nil)
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]any
		want   []domain.FieldError // nil: valid
	}{
		{name: "json number", params: map[string]any{"rows": json.Number("5")}},
		{name: "zero rows", params: map[string]any{"rows": json.Number("0")}},
		{name: "max rows", params: map[string]any{"rows": json.Number("10000000")}},
		{name: "fraction refused: one grammar for int", params: map[string]any{"rows": json.Number("5.0")}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got 5.0"}}},
		{name: "exponent refused", params: map[string]any{"rows": json.Number("1e3")}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got 1e3"}}},
		{name: "integral float64", params: map[string]any{"rows": 5.0}},
		{name: "int", params: map[string]any{"rows": 5}},
		{name: "int64", params: map[string]any{"rows": int64(5)}},
		{name: "uint8", params: map[string]any{"rows": uint8(5)}},
		{name: "all params", params: map[string]any{"rows": json.Number("5"), "fail_times": json.Number("2"), "delay_ms": json.Number("10000")}},
		{name: "nil params", params: nil, want: []domain.FieldError{{Field: "params.rows", Reason: "is required"}}},
		{name: "missing rows", params: map[string]any{}, want: []domain.FieldError{{Field: "params.rows", Reason: "is required"}}},
		{name: "string rows", params: map[string]any{"rows": "5"}, want: []domain.FieldError{{Field: "params.rows", Reason: `must be an integer (no fraction or exponent), got "5"`}}},
		{name: "null rows", params: map[string]any{"rows": nil}, want: []domain.FieldError{{Field: "params.rows", Reason: "is required"}}},
		{name: "bool rows", params: map[string]any{"rows": true}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got a boolean"}}},
		{name: "negative", params: map[string]any{"rows": json.Number("-1")}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be at least 0"}}},
		{name: "fraction", params: map[string]any{"rows": json.Number("2.5")}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got 2.5"}}},
		{name: "float fraction", params: map[string]any{"rows": 2.5}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got 2.5"}}},
		{name: "too many", params: map[string]any{"rows": json.Number("10000001")}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be at most 10000000"}}},
		{name: "huge", params: map[string]any{"rows": json.Number("99999999999999999999")}, want: []domain.FieldError{{Field: "params.rows", Reason: "is out of range"}}},
		{name: "huge uint", params: map[string]any{"rows": uint64(1 << 63)}, want: []domain.FieldError{{Field: "params.rows", Reason: "is out of range"}}},
		{name: "array", params: map[string]any{"rows": []any{json.Number("1")}}, want: []domain.FieldError{{Field: "params.rows", Reason: "must be an integer (no fraction or exponent), got an array"}}},
		{name: "negative fail_times", params: map[string]any{"rows": json.Number("1"), "fail_times": json.Number("-2")}, want: []domain.FieldError{{Field: "params.fail_times", Reason: "must be at least 0"}}},
		{name: "delay too long", params: map[string]any{"rows": json.Number("1"), "delay_ms": json.Number("10001")}, want: []domain.FieldError{{Field: "params.delay_ms", Reason: "must be at most 10000"}}},
		{
			name:   "unknown params sorted, all errors reported",
			params: map[string]any{"rows": "x", "zeta": 1, "alpha": 2},
			want: []domain.FieldError{
				{Field: "params.rows", Reason: `must be an integer (no fraction or exponent), got "x"`},
				{Field: "params.alpha", Reason: "unknown parameter"},
				{Field: "params.zeta", Reason: "unknown parameter"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := demo.New().Validate(tc.params)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			var fe *domain.FieldErrors
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tc.want, fe.Errors)
			require.Equal(t, domain.KindInvalid, domain.KindOf(err))
		})
	}
}

func TestValidateDecodedJSON(t *testing.T) {
	t.Parallel()
	params, err := domain.DecodeParams(json.RawMessage(`{"rows": 12, "fail_times": 1, "delay_ms": 0}`))
	require.NoError(t, err)
	require.NoError(t, demo.New().Validate(params))
	n, err := demo.New().Count(context.Background(), params)
	require.NoError(t, err)
	require.EqualValues(t, 12, n)
}

func TestCountRejectsBadParams(t *testing.T) {
	t.Parallel()
	_, err := demo.New().Count(context.Background(), map[string]any{"rows": "1"})
	require.Error(t, err)
	require.True(t, domain.IsPermanent(err))
}

func TestFields(t *testing.T) {
	t.Parallel()
	f := demo.New().Fields()
	require.Len(t, f, demo.NumFields)
	names := make([]string, len(f))
	for i, x := range f {
		require.True(t, x.Kind.Valid(), x.Name)
		require.NotEmpty(t, x.Header, x.Name)
		names[i] = x.Name
	}
	require.Equal(t, []string{"id", "order_no", "customer", "city", "status", "quantity", "unit_price", "amount", "paid", "created_at"}, names)
	f[0].Name = "changed"
	require.Equal(t, "id", demo.Fields()[0].Name, "Fields must return a copy")
}

func TestRow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   int64
		want []any
	}{
		{id: 1, want: []any{int64(1), "ORD-0000001", "customer-2", "Beijing", "paid", int64(2), domain.Decimal("80.18"), domain.Decimal("160.36"), true, time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC)}},
		{id: 5, want: []any{int64(5), "ORD-0000005", "customer-6", "Wuhan", "pending", int64(6), domain.Decimal("396.94"), domain.Decimal("2381.64"), false, time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC)}},
		{id: 12345678, want: []any{int64(12345678), "ORD-12345678", "customer-825", "Xi'an", "delivered", int64(19), domain.Decimal("628.52"), domain.Decimal("11941.88"), true, demo.BaseTime.Add(12345678 * time.Minute)}},
	}
	for _, tc := range tests {
		t.Run(strconv.FormatInt(tc.id, 10), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, demo.Row(tc.id))
		})
	}
}

// TestRowInvariants checks what the columns promise over many rows: the
// amount is exactly quantity × unit price, and the time has no monotonic
// reading (so == and file round trips compare as expected).
func TestRowInvariants(t *testing.T) {
	t.Parallel()
	for id := int64(1); id <= 45_000; id++ {
		r := demo.Row(id)
		require.Len(t, r, demo.NumFields)
		qty := r[5].(int64)
		require.True(t, qty >= 1 && qty <= 20)
		price := cents(t, r[6].(domain.Decimal))
		require.True(t, price >= 99 && price <= 99999, price)
		require.Equal(t, qty*price, cents(t, r[7].(domain.Decimal)))
		at := r[9].(time.Time)
		require.Equal(t, at, at.Round(0), "no monotonic clock reading")
		require.Equal(t, time.UTC, at.Location())
		require.Equal(t, r[4] != "pending", r[8])
	}
}

// cents parses a "123.45" decimal.
func cents(t *testing.T, d domain.Decimal) int64 {
	t.Helper()
	s := string(d)
	require.Regexp(t, `^[0-9]+\.[0-9]{2}$`, s)
	whole, err := strconv.ParseInt(s[:len(s)-3], 10, 64)
	require.NoError(t, err)
	frac, err := strconv.ParseInt(s[len(s)-2:], 10, 64)
	require.NoError(t, err)
	return whole*100 + frac
}

func TestFetchPaging(t *testing.T) {
	t.Parallel()
	const limit = 7
	for _, rows := range []int{0, 1, limit - 1, limit, limit + 1, 3*limit + 2} {
		t.Run(strconv.Itoa(rows), func(t *testing.T) {
			t.Parallel()
			p := demo.New()
			params := map[string]any{"rows": json.Number(strconv.Itoa(rows))}
			var got []int64
			cursor := ""
			for batches := 0; ; batches++ {
				require.Less(t, batches, rows+2, "paging does not end")
				b, err := p.Fetch(context.Background(), domain.FetchRequest{TaskID: 1, Attempt: 1, Params: params, Cursor: cursor, Limit: limit})
				require.NoError(t, err)
				require.LessOrEqual(t, len(b.Rows), limit)
				for _, r := range b.Rows {
					require.Equal(t, demo.Row(r[0].(int64)), r)
					got = append(got, r[0].(int64))
				}
				if b.Done {
					break
				}
				require.NotEqual(t, cursor, b.NextCursor)
				cursor = b.NextCursor
			}
			want := make([]int64, rows)
			for i := range want {
				want[i] = int64(i + 1)
			}
			if rows == 0 {
				want = nil
			}
			require.Equal(t, want, got)
		})
	}
}

func TestFetchRowsDoNotShareMemory(t *testing.T) {
	t.Parallel()
	b, err := demo.New().Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: map[string]any{"rows": 3}, Limit: 10})
	require.NoError(t, err)
	require.Len(t, b.Rows, 3)
	b.Rows[0] = append(b.Rows[0], "extra")
	require.Equal(t, demo.Row(2), b.Rows[1], "appending to a row must not clobber the next")
}

func TestFetchDefaultsAndCaps(t *testing.T) {
	t.Parallel()
	p := demo.New()
	params := map[string]any{"rows": json.Number("250000")}
	b, err := p.Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: params})
	require.NoError(t, err)
	require.Len(t, b.Rows, demo.DefaultLimit)
	require.Equal(t, strconv.Itoa(demo.DefaultLimit), b.NextCursor)
	b, err = p.Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: params, Limit: 1 << 30})
	require.NoError(t, err)
	require.Len(t, b.Rows, demo.MaxLimit)
}

func TestFetchBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		params map[string]any
		cursor string
	}{
		{name: "bad params", params: map[string]any{"rows": "3"}},
		{name: "unknown param", params: map[string]any{"rows": 3, "x": 1}},
		{name: "cursor not a number", params: map[string]any{"rows": 3}, cursor: "abc"},
		{name: "negative cursor", params: map[string]any{"rows": 3}, cursor: "-1"},
		{name: "cursor past the end", params: map[string]any{"rows": 3}, cursor: "4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := demo.New().Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: tc.params, Cursor: tc.cursor, Limit: 2})
			require.Error(t, err)
			require.True(t, domain.IsPermanent(err), "no retry can fix %v", err)
		})
	}
}

func TestFetchFailTimes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		rows      int
		failTimes int
		attempt   int
		// failAt is the 1-based batch that fails; 0 means none does.
		failAt int
	}{
		{name: "no failures asked", rows: 10, failTimes: 0, attempt: 1, failAt: 0},
		{name: "first attempt fails on second batch", rows: 10, failTimes: 2, attempt: 1, failAt: 2},
		{name: "last failing attempt", rows: 10, failTimes: 2, attempt: 2, failAt: 2},
		{name: "attempt after the failures succeeds", rows: 10, failTimes: 2, attempt: 3, failAt: 0},
		{name: "single batch fails on the first", rows: 4, failTimes: 1, attempt: 1, failAt: 1},
		{name: "empty table fails too", rows: 0, failTimes: 1, attempt: 1, failAt: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := demo.New()
			params := map[string]any{"rows": tc.rows, "fail_times": tc.failTimes}
			cursor := ""
			for batch := 1; ; batch++ {
				b, err := p.Fetch(context.Background(), domain.FetchRequest{Attempt: tc.attempt, Params: params, Cursor: cursor, Limit: 4})
				if batch == tc.failAt {
					require.ErrorIs(t, err, demo.ErrSimulated)
					require.False(t, domain.IsPermanent(err), "a simulated failure must be retryable")
					return
				}
				require.NoError(t, err, "batch %d", batch)
				if b.Done {
					require.Zero(t, tc.failAt, "no failure happened")
					return
				}
				cursor = b.NextCursor
			}
		})
	}
}

func TestFetchDelay(t *testing.T) {
	t.Parallel()
	p := demo.New()
	params := map[string]any{"rows": 3, "delay_ms": 30}
	start := time.Now()
	b, err := p.Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: params, Limit: 10})
	require.NoError(t, err)
	require.Len(t, b.Rows, 3)
	require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
}

func TestFetchCancelDuringDelay(t *testing.T) {
	t.Parallel()
	cause := errors.New("user cancelled")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	params := map[string]any{"rows": 3, "delay_ms": 10_000}
	start := time.Now()
	_, err := demo.New().Fetch(ctx, domain.FetchRequest{Attempt: 1, Params: params, Limit: 10})
	require.ErrorIs(t, err, cause)
	require.Less(t, time.Since(start), 5*time.Second, "the delay must end with ctx")
}

func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := demo.New().Fetch(ctx, domain.FetchRequest{Attempt: 1, Params: map[string]any{"rows": 3}, Limit: 10})
	require.ErrorIs(t, err, context.Canceled)
}

// BenchmarkFetch measures row generation, the fixture of the writer
// benchmarks.
func BenchmarkFetch(b *testing.B) {
	p := demo.New()
	params := map[string]any{"rows": json.Number(strconv.Itoa(demo.MaxRows))}
	const limit = 1000
	b.ReportAllocs()
	cursor := ""
	rows := 0
	for b.Loop() {
		batch, err := p.Fetch(context.Background(), domain.FetchRequest{Attempt: 1, Params: params, Cursor: cursor, Limit: limit})
		if err != nil {
			b.Fatal(err)
		}
		rows += len(batch.Rows)
		cursor = batch.NextCursor
		if batch.Done {
			cursor = ""
		}
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
