package sqlprovider

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	mysqldriver "github.com/go-sql-driver/mysql"
)

func TestCellScan(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("+08:00", 8*3600)
	at := time.Date(2024, 1, 2, 3, 4, 5, 600000000, time.UTC)
	tests := []struct {
		name string
		kind domain.ValueKind
		bit  bool
		src  any
		want any
		bad  string
	}{
		{"null", domain.KindDecimal, false, nil, nil, ""},
		{"decimal text as is", domain.KindDecimal, false, []byte("12345678.91"), domain.Decimal("12345678.91"), ""},
		{"decimal trailing zero kept", domain.KindDecimal, false, []byte("0.10"), domain.Decimal("0.10"), ""},
		{"decimal negative", domain.KindDecimal, false, []byte("-0.50"), domain.Decimal("-0.50"), ""},
		{"decimal from int", domain.KindDecimal, false, int64(-7), domain.Decimal("-7"), ""},
		{"decimal from double", domain.KindDecimal, false, 0.1, domain.Decimal("0.1"), ""},
		{"decimal from float", domain.KindDecimal, false, float32(0.1), domain.Decimal("0.1"), ""},
		{"decimal from big unsigned", domain.KindDecimal, false, []byte("18446744073709551615"), domain.Decimal("18446744073709551615"), ""},
		{"decimal from text", domain.KindDecimal, false, []byte("abc"), nil, `value "abc" is not a decimal number`},
		{"decimal exponent", domain.KindDecimal, false, []byte("1e5"), nil, `value "1e5" is not a decimal number`},
		{"int", domain.KindInt, false, int64(42), int64(42), ""},
		{"int from decimal zero fraction", domain.KindInt, false, []byte("12.00"), int64(12), ""},
		{"int from decimal fraction", domain.KindInt, false, []byte("12.50"), nil, `value "12.50" is not an integer`},
		{"int overflow", domain.KindInt, false, []byte("18446744073709551615"), nil, `value "18446744073709551615" overflows int64`},
		{"int from bit", domain.KindInt, true, []byte{0x01, 0x00}, int64(256), ""},
		{"int from text", domain.KindInt, false, []byte("Zoë"), nil, `value "Zoë" is not an integer`},
		{"string", domain.KindString, false, []byte("客户 😀"), "客户 😀", ""},
		{"string from int", domain.KindString, false, int64(5), "5", ""},
		{"string from binary", domain.KindString, false, []byte{0xff, 0xfe}, nil, "value is not UTF-8 text (binary data?)"},
		{"time in zone", domain.KindTime, false, at, at.In(zone), ""},
		{"zero date is empty", domain.KindTime, false, time.Time{}, nil, ""},
		{"time from text", domain.KindTime, false, []byte("2024-01-02 03:04:05"), time.Date(2024, 1, 2, 3, 4, 5, 0, zone), ""},
		{"time from bad text", domain.KindTime, false, []byte("soon"), nil, `value "soon" is not a date or time`},
		{"bool tinyint", domain.KindBool, false, int64(1), true, ""},
		{"bool tinyint zero", domain.KindBool, false, int64(0), false, ""},
		{"bool bit", domain.KindBool, true, []byte{0x01}, true, ""},
		{"bool bit zero", domain.KindBool, true, []byte{0x00}, false, ""},
		{"bool text", domain.KindBool, false, []byte("0"), false, ""},
		{"bool bad", domain.KindBool, false, []byte("maybe"), nil, `value "maybe" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := cell{kind: tt.kind, bit: tt.bit, zone: zone}
			require.NoError(t, c.Scan(tt.src))
			require.Equal(t, tt.bad, c.bad)
			if w, ok := tt.want.(time.Time); ok {
				got := c.v.(time.Time)
				require.True(t, w.Equal(got))
				require.Equal(t, zone, got.Location())
				return
			}
			require.Equal(t, tt.want, c.v)
		})
	}
}

func TestQuoteValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 30)
	got := quoteValue(long)
	require.True(t, strings.HasSuffix(got, "…"))
	require.LessOrEqual(t, len(got), 48)
}

func TestClassify(t *testing.T) {
	t.Parallel()
	state := func(s string) [5]byte { var b [5]byte; copy(b[:], s); return b }
	tests := []struct {
		name      string
		err       error
		permanent bool
	}{
		{"unknown column", &mysqldriver.MySQLError{Number: 1054, SQLState: state("42S22")}, true},
		{"syntax", &mysqldriver.MySQLError{Number: 1064, SQLState: state("42000")}, true},
		{"no table", &mysqldriver.MySQLError{Number: 1146, SQLState: state("42S02")}, true},
		{"select denied", &mysqldriver.MySQLError{Number: 1142, SQLState: state("42000")}, true},
		{"wrong password", &mysqldriver.MySQLError{Number: 1045, SQLState: state("28000")}, true},
		{"unknown zone", &mysqldriver.MySQLError{Number: 1298, SQLState: state("HY000")}, true},
		{"data exception", &mysqldriver.MySQLError{Number: 1690, SQLState: state("22003")}, true},
		{"deadlock", &mysqldriver.MySQLError{Number: 1213, SQLState: state("40001")}, false},
		{"lock wait", &mysqldriver.MySQLError{Number: 1205, SQLState: state("HY000")}, false},
		{"too many user connections", &mysqldriver.MySQLError{Number: 1203, SQLState: state("42000")}, false},
		{"statement time", &mysqldriver.MySQLError{Number: 1969, SQLState: state("70100")}, false},
		{"unknown server error", &mysqldriver.MySQLError{Number: 1105, SQLState: state("HY000")}, false},
		{"bad connection", mysqldriver.ErrInvalidConn, false},
		{"network", errors.New("dial tcp 10.0.0.1:3306: connect: connection refused"), false},
		{"auth plugin", mysqldriver.ErrUnknownPlugin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := redactor{}.wrap("fetch", tt.err)
			require.Equal(t, tt.permanent, domain.IsPermanent(err))
			var me *mysqldriver.MySQLError
			require.False(t, errors.As(err, &me), "the driver's error must not be reachable")
		})
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	cfg, err := mysqldriver.ParseDSN("reader:S3cr3t-pw@tcp(db:3306)/shop")
	require.NoError(t, err)
	r := newRedactor("reader:S3cr3t-pw@tcp(db:3306)/shop", cfg)
	for _, msg := range []string{
		"Error 1045 (28000): Access denied for user 'reader'@'10.0.0.5' (using password: YES)",
		"connect reader:S3cr3t-pw@tcp(db:3306)/shop failed",
		"password S3cr3t-pw echoed, user reader@db",
		"SELECT command denied to user `reader`@`%` for table 'orders'",
	} {
		got := r.clean(msg)
		require.NotContains(t, got, "S3cr3t-pw")
		require.NotContains(t, got, "'reader'")
		require.NotContains(t, got, "reader@")
		require.NotContains(t, got, "`reader`")
	}
	// Unparsable DSNs are scrubbed by their user:password@ part.
	r = newRedactor("reader:S3cr3t-pw@tcp(db:3306/shop", nil)
	require.Equal(t, "bad *** for '***'", r.clean("bad S3cr3t-pw for 'reader'"))
}

// Cells of one row sharing a rowText get the same values as cells
// scanned alone, cut from one string.
func TestCellScanRowText(t *testing.T) {
	t.Parallel()
	var text rowText
	kinds := []domain.ValueKind{domain.KindString, domain.KindDecimal, domain.KindInt, domain.KindString, domain.KindDecimal, domain.KindString}
	cells := make([]cell, len(kinds))
	for i, k := range kinds {
		cells[i] = cell{kind: k, zone: time.UTC, text: &text}
	}
	rows := [][]any{
		{[]byte("Zoë"), []byte("12.50"), int64(7), []byte(""), nil, []byte("x")},
		{[]byte("b"), []byte("-0.10"), int64(1000), nil, []byte("3"), []byte("")},
	}
	want := [][]any{
		{"Zoë", domain.Decimal("12.50"), int64(7), "", nil, "x"},
		{"b", domain.Decimal("-0.10"), int64(1000), nil, domain.Decimal("3"), ""},
	}
	for r, row := range rows {
		text.start()
		for i, src := range row {
			b, ok := src.([]byte)
			if !ok {
				require.NoError(t, cells[i].Scan(src))
				continue
			}
			buf := slices.Clone(b)
			require.NoError(t, cells[i].Scan(buf))
			clear(buf) // the driver reuses its buffer
		}
		text.finish(cells)
		for i := range cells {
			require.Empty(t, cells[i].bad)
			require.Equal(t, want[r][i], cells[i].v, "row %d cell %d", r, i)
		}
	}
	text.start()
	require.NoError(t, cells[0].Scan([]byte{0xff}))
	require.NoError(t, cells[1].Scan([]byte("1e5")))
	text.finish(cells)
	require.Equal(t, "value is not UTF-8 text (binary data?)", cells[0].bad)
	require.Equal(t, `value "1e5" is not a decimal number`, cells[1].bad)
	require.Nil(t, cells[0].v)
}
