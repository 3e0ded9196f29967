package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/csv"
)

var _ domain.SheetWriterFactory = csv.New

func col(field, header string, kind domain.ValueKind) domain.SheetColumn {
	return domain.SheetColumn{Column: domain.Column{Field: field, Header: header}, Kind: kind}
}

// read parses a file written by the package, checking the byte-order
// mark and the RFC 4180 line ends on the way.
func read(t *testing.T, data []byte) [][]string {
	t.Helper()
	require.True(t, bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")), "starts with a UTF-8 byte-order mark")
	require.True(t, bytes.HasSuffix(data, []byte("\r\n")), "CRLF line ends")
	r := stdcsv.NewReader(bytes.NewReader(data[3:]))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	require.NoError(t, err)
	return recs
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 3, 5, 13, 45, 30, 500_000_000, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{name: "string", value: "hello", want: "hello"},
		{name: "empty string", value: "", want: ""},
		{name: "nil", value: nil, want: ""},
		{name: "comma", value: "a,b", want: "a,b"},
		{name: "quotes", value: `say "hi"`, want: `say "hi"`},
		{name: "newline", value: "line1\nline2", want: "line1\nline2"},
		{name: "leading space", value: "  x", want: "  x"},
		{name: "unicode", value: "Zürich 北京 🚀", want: "Zürich 北京 🚀"},
		{name: "int64", value: int64(-9223372036854775808), want: "-9223372036854775808"},
		{name: "int", value: 42, want: "42"},
		{name: "int32", value: int32(7), want: "7"},
		{name: "float64", value: 0.1, want: "0.1"},
		{name: "NaN", value: math.NaN(), want: "NaN"},
		{name: "decimal verbatim", value: domain.Decimal("-12.50"), want: "-12.50"},
		{name: "long decimal verbatim", value: domain.Decimal("12345678901234567890.123456789"), want: "12345678901234567890.123456789"},
		{name: "true", value: true, want: "true"},
		{name: "false", value: false, want: "false"},
		{name: "time in UTC", value: at, want: "2024-03-05T05:45:30.5Z"},
		{name: "whole second", value: time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC), want: "2024-01-01T00:01:00Z"},
	}
	cols := []domain.SheetColumn{col("name", "Name", domain.KindString), col("v", "Value, \"quoted\"", domain.KindString), col("n", "N", domain.KindInt)}
	var buf bytes.Buffer
	w, err := csv.New(&buf, cols)
	require.NoError(t, err)
	for i, tc := range tests {
		// A number after the value checks the cutting of the row's text.
		require.NoError(t, w.WriteRow([]any{tc.name, tc.value, int64(i)}))
	}
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	recs := read(t, buf.Bytes())
	require.Len(t, recs, len(tests)+1)
	require.Equal(t, []string{"Name", "Value, \"quoted\"", "N"}, recs[0])
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, []string{tc.name, tc.want, strconv.Itoa(i)}, recs[i+1])
		})
	}
}

func TestManyNumbersInARow(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{
		col("a", "A", domain.KindInt), col("b", "B", domain.KindString), col("c", "C", domain.KindBool),
		col("d", "D", domain.KindTime), col("e", "E", domain.KindDecimal), col("f", "F", domain.KindInt),
	}
	var buf bytes.Buffer
	w, err := csv.New(&buf, cols)
	require.NoError(t, err)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		require.NoError(t, w.WriteRow([]any{int64(i), "s" + strconv.Itoa(i), i%2 == 0, at.Add(time.Duration(i) * time.Hour), domain.Decimal("1.5"), int64(-i)}))
	}
	_, err = w.Close()
	require.NoError(t, err)
	recs := read(t, buf.Bytes())
	require.Len(t, recs, 101)
	for i, r := range recs[1:] {
		require.Equal(t, []string{
			strconv.Itoa(i), "s" + strconv.Itoa(i), strconv.FormatBool(i%2 == 0),
			at.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), "1.5", strconv.Itoa(-i),
		}, r)
	}
}

func TestHeaderOnly(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := csv.New(&buf, []domain.SheetColumn{col("id", "Order ID", domain.KindInt), col("c", "城市", domain.KindString)})
	require.NoError(t, err)
	sheets, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, 1, sheets)
	require.Equal(t, "\uFEFFOrder ID,城市\r\n", buf.String())
}

func TestBadRowsLeaveWriterUsable(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w, err := csv.New(&buf, []domain.SheetColumn{col("id", "ID", domain.KindInt), col("v", "V", domain.KindString)})
	require.NoError(t, err)
	for _, bad := range [][]any{
		{int64(1), []byte("x")},
		{int64(1), uint64(1)},
		{int64(1)},
		{int64(1), "a", "b"},
	} {
		err := w.WriteRow(bad)
		require.Error(t, err, "%#v", bad)
		require.True(t, domain.IsPermanent(err), "no retry fixes %v", err)
	}
	require.NoError(t, w.WriteRow([]any{int64(2), "ok"}))
	_, err = w.Close()
	require.NoError(t, err)
	require.Equal(t, [][]string{{"ID", "V"}, {"2", "ok"}}, read(t, buf.Bytes()))
}

func TestCloseTwiceAndAbort(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("id", "ID", domain.KindInt)}
	w, err := csv.NewWriter(io.Discard, cols, csv.Options{})
	require.NoError(t, err)
	_, err = w.Close()
	require.NoError(t, err)
	_, err = w.Close()
	require.ErrorIs(t, err, csv.ErrClosed)
	require.ErrorIs(t, w.WriteRow([]any{int64(1)}), csv.ErrClosed)

	w, err = csv.NewWriter(io.Discard, cols, csv.Options{})
	require.NoError(t, err)
	require.NoError(t, w.Abort())
	_, err = w.Close()
	require.ErrorIs(t, err, csv.ErrClosed)
}

type failWriter struct{ limit int }

var errDisk = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		return 0, errDisk
	}
	f.limit -= len(p)
	return len(p), nil
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("v", "V", domain.KindString)}

	w, err := csv.New(&failWriter{limit: 100}, cols)
	require.NoError(t, err)
	row := []any{strings.Repeat("x", 1000)}
	for i := 0; ; i++ {
		require.Less(t, i, 10_000, "the write error never surfaced")
		if err = w.WriteRow(row); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, errDisk)
	require.False(t, domain.IsPermanent(err), "a write failure may pass")
	require.ErrorIs(t, w.WriteRow(row), errDisk, "the writer stays failed")
	_, err = w.Close()
	require.ErrorIs(t, err, errDisk)

	w, err = csv.New(&failWriter{}, cols)
	require.NoError(t, err)
	require.NoError(t, w.WriteRow([]any{"x"}))
	_, err = w.Close()
	require.ErrorIs(t, err, errDisk, "Close reports a failed flush")
}

func TestNewRejectsNoColumns(t *testing.T) {
	t.Parallel()
	_, err := csv.New(io.Discard, nil)
	require.Error(t, err)
}

func TestInvalidDecimalIsRefused(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w, err := csv.New(&out, []domain.SheetColumn{{Column: domain.Column{Field: "a", Header: "A"}, Kind: domain.KindDecimal}})
	require.NoError(t, err)
	for _, bad := range []string{"1e5", "NaN", "--1", "01.5", "1.", ".5", ""} {
		err := w.WriteRow([]any{domain.Decimal(bad)})
		require.Error(t, err, bad)
		require.True(t, domain.IsPermanent(err))
	}
	require.NoError(t, w.WriteRow([]any{domain.Decimal("-0.50")}))
	_, err = w.Close()
	require.NoError(t, err)
	require.Contains(t, out.String(), "-0.50")
}

// Text that a spreadsheet would run as a formula is written with a leading
// apostrophe, in headers and values alike; numbers (negative ones too) and
// text that merely contains such a character are left alone.
func TestFormulaEscaping(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{
		col("s", "=HYPERLINK(\"http://x\")", domain.KindString),
		col("n", "-n", domain.KindInt),
		col("d", "Amount", domain.KindDecimal),
	}
	rows := [][]any{
		{"=1+2", int64(-5), domain.Decimal("-12.50")},
		{"+41", int64(0), domain.Decimal("1")},
		{"-cmd", nil, nil},
		{"@SUM(A1)", nil, nil},
		{"\tx", nil, nil},
		{"\rx", nil, nil},
		{"a=b", nil, nil},
		{"", nil, nil},
	}
	write := func(opts csv.Options) [][]string {
		var buf bytes.Buffer
		w, err := csv.NewWriter(&buf, cols, opts)
		require.NoError(t, err)
		for _, r := range rows {
			require.NoError(t, w.WriteRow(r))
		}
		_, err = w.Close()
		require.NoError(t, err)
		return read(t, buf.Bytes())
	}

	got := write(csv.Options{})
	require.Equal(t, []string{"'=HYPERLINK(\"http://x\")", "'-n", "Amount"}, got[0])
	require.Equal(t, []string{"'=1+2", "-5", "-12.50"}, got[1])
	require.Equal(t, []string{"'+41", "0", "1"}, got[2])
	// encoding/csv drops a lone carriage return when it writes CRLF line
	// ends; the escape is there all the same.
	for i, want := range []string{"'-cmd", "'@SUM(A1)", "'\tx", "'x", "a=b", ""} {
		require.Equal(t, want, got[3+i][0], "row %d", 3+i)
	}

	kept := write(csv.Options{KeepFormulas: true})
	require.Equal(t, "=HYPERLINK(\"http://x\")", kept[0][0])
	require.Equal(t, "=1+2", kept[1][0])
}

// The writer quotes exactly as encoding/csv does, through both of its
// paths: every text below, as a header, a value and a text cell, with and
// without the formula escape, comes out as encoding/csv writes the same
// record (after the escape's apostrophe).
func TestQuotingMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	texts := []string{"", "a", " lead", "trail ", "\tx", "\u00a0nbsp", "\u2003em", "\u0085nel", `\.`, `\.x`, "a,b",
		`q"q`, `"`, "\r", "\n", "a\r\nb", "a\nb", "a\rb", "=1+2", "+x", "-3", "@a", "'quoted'", "héllo", "北京,上海",
		"\xff\xfe", "x\"y,z\nw", ",", "\"\"", "=\"a\",b", "-\n", "a plain text longer than sixteen bytes"}
	// Each byte that needs quotes at every place in a text long enough
	// for the eight-bytes-at-a-time check.
	for _, special := range []string{",", `"`, "\n", "\r"} {
		for at := range 18 {
			base := []byte("abcdefghijklmnopq")
			texts = append(texts, string(base[:at])+special+string(base[at:]))
		}
	}
	for _, keep := range []bool{false, true} {
		cols := make([]domain.SheetColumn, len(texts))
		for i, s := range texts {
			cols[i] = col("f"+strconv.Itoa(i), s, domain.KindString)
		}
		var typed, text, want bytes.Buffer
		tw, err := csv.NewWriter(&typed, cols, csv.Options{KeepFormulas: keep})
		require.NoError(t, err)
		xw, err := csv.NewWriter(&text, cols, csv.Options{KeepFormulas: keep})
		require.NoError(t, err)
		plain := stdcsv.NewWriter(&want)
		plain.UseCRLF = true
		want.WriteString("\uFEFF")
		rec := make([]string, len(texts))
		vals := make([]any, len(texts))
		cells := make([][]byte, len(texts))
		for i, s := range texts {
			rec[i] = s
			if !keep && s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
				rec[i] = "'" + s
			}
			vals[i], cells[i] = s, []byte(s)
		}
		require.NoError(t, plain.Write(rec)) // header
		require.NoError(t, plain.Write(rec))
		require.NoError(t, plain.Write(rec))
		plain.Flush()
		require.NoError(t, tw.WriteRow(vals))
		require.NoError(t, tw.WriteRow(vals))
		require.NoError(t, xw.WriteTextRow(cells))
		require.NoError(t, xw.WriteRow(vals))
		_, err = tw.Close()
		require.NoError(t, err)
		_, err = xw.Close()
		require.NoError(t, err)
		require.Equal(t, want.String(), typed.String(), "keep formulas %v", keep)
		require.Equal(t, want.String(), text.String(), "keep formulas %v", keep)
	}
}

// A row given as text writes what the same values write: numbers,
// decimals, booleans and times copied, never escaped, NULL empty.
func TestWriteTextRowMatchesWriteRow(t *testing.T) {
	t.Parallel()
	cols := []domain.SheetColumn{col("s", "S", domain.KindString), col("n", "N", domain.KindInt), col("d", "D", domain.KindDecimal),
		col("b", "B", domain.KindBool), col("t", "T", domain.KindTime), col("e", "E", domain.KindString)}
	at := time.Date(2024, 3, 5, 13, 45, 30, 500_000_000, time.UTC)
	var typed, text bytes.Buffer
	tw, err := csv.New(&typed, cols)
	require.NoError(t, err)
	xw, err := csv.NewWriter(&text, cols, csv.Options{})
	require.NoError(t, err)
	require.NoError(t, tw.WriteRow([]any{"-x", int64(-12), domain.Decimal("-0.50"), true, at, nil}))
	require.NoError(t, xw.WriteTextRow([][]byte{[]byte("-x"), []byte("-12"), []byte("-0.50"), []byte("true"), []byte("2024-03-05T13:45:30.5Z"), nil}))
	require.NoError(t, tw.WriteRow([]any{"", int64(0), domain.Decimal("0"), false, nil, ""}))
	require.NoError(t, xw.WriteTextRow([][]byte{{}, []byte("0"), []byte("0"), []byte("false"), nil, {}}))
	err = xw.WriteTextRow([][]byte{nil, nil, []byte("1e5"), nil, nil, nil})
	require.True(t, domain.IsPermanent(err))
	require.ErrorContains(t, err, `column "d": invalid decimal "1e5"`)
	_, err = tw.Close()
	require.NoError(t, err)
	_, err = xw.Close()
	require.NoError(t, err)
	require.Equal(t, typed.String(), text.String())
	require.Equal(t, []string{"'-x", "-12", "-0.50", "true", "2024-03-05T13:45:30.5Z", ""}, read(t, text.Bytes())[1])
}
