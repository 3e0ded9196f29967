package sqlprovider

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The server's DATETIME text becomes what time.RFC3339Nano writes for the
// same instant in UTC; anything else is left to the typed path.
func TestAppendSQLTime(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"2026-01-01 00:00:01", "2026-01-01", "1000-01-01 00:00:00", "9999-12-31 23:59:59.999999",
		"2024-02-29 12:00:00.500000", "2026-06-30 08:09:10.000000", "2026-06-30 08:09:10.120", "0001-01-01 00:00:00"} {
		layout := "2006-01-02 15:04:05.999999"
		if len(s) == 10 {
			layout = time.DateOnly
		}
		want, err := time.ParseInLocation(layout, s, time.UTC)
		require.NoError(t, err)
		got, ok := appendSQLTime([]byte("x"), []byte(s))
		require.True(t, ok, s)
		require.Equal(t, "x"+want.Format(time.RFC3339Nano), string(got), s)
	}
	for _, s := range []string{"0000-00-00 00:00:00", "0000-00-00", "2026-02-30", "2023-02-29 00:00:00", "2026-13-01", "2026-00-10",
		"2026-01-01 24:00:00", "2026-01-01 00:60:00", "2026-01-01 00:00:60", "2026-01-01T00:00:00", "2026-01-01 00:00:00.",
		"2026-1-01", "20260101", "2026-01-01 00:00:00.1234567", "2026-01-01 00:00:0x", "", "2x26-01-01", "2026-0a-01 00:00:00",
		"2026-01-01 0:000:00", "2026-01-01 00:00:00.12x456", "2026-01-01 00:00:00.-1", "2026/01/01", "2026-01-01 00-00-00"} {
		got, ok := appendSQLTime([]byte("x"), []byte(s))
		require.False(t, ok, s)
		require.Equal(t, "x", string(got), s)
	}
}

// canonicalInt accepts exactly what strconv.FormatInt writes.
func TestCanonicalInt(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{0, 1, -1, 42, -42, 1 << 62, math.MaxInt64, math.MinInt64} {
		require.True(t, canonicalInt([]byte(strconv.FormatInt(n, 10))), n)
	}
	for _, s := range []string{"", "-", "00", "01", "-0", "-01", "+1", "1.0", "9223372036854775808", "-9223372036854775809",
		"00000000000000000001", "1e3", " 1", "1 "} {
		require.False(t, canonicalInt([]byte(s)), s)
	}
	n, err := parseWireInt([]byte("00042")) // ZEROFILL
	require.NoError(t, err)
	require.EqualValues(t, 42, n)
}
