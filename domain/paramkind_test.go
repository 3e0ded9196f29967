package domain_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// TestParamGrammar is the one grammar of param kinds every provider uses.
func TestParamGrammar(t *testing.T) {
	t.Parallel()
	n := func(s string) json.Number { return json.Number(s) }
	zone := time.FixedZone("+08:00", 8*3600)
	tests := []struct {
		kind domain.ValueKind
		in   any
		want any // nil: refused
	}{
		{domain.KindInt, n("42"), int64(42)},
		{domain.KindInt, n("-9223372036854775808"), int64(-9223372036854775808)},
		{domain.KindInt, n("0"), int64(0)},
		{domain.KindInt, "42", nil},
		{domain.KindInt, n("5.0"), nil},
		{domain.KindInt, n("1e3"), nil},
		{domain.KindInt, n("042"), nil},
		{domain.KindInt, n("9223372036854775808"), nil},
		{domain.KindInt, true, nil},
		{domain.KindInt, 7, int64(7)},
		{domain.KindDecimal, n("-12.50"), domain.Decimal("-12.50")},
		{domain.KindDecimal, "0.125", domain.Decimal("0.125")},
		{domain.KindDecimal, n("1e2"), nil},
		{domain.KindDecimal, "+1", nil},
		{domain.KindDecimal, "1.", nil},
		{domain.KindDecimal, "01", nil},
		{domain.KindDecimal, strings.Repeat("9", 36), nil},
		{domain.KindDecimal, "0." + strings.Repeat("1", 31), nil},
		{domain.KindDecimal, 3, domain.Decimal("3")},
		{domain.KindString, "Zoë", "Zoë"},
		{domain.KindString, n("1"), nil},
		{domain.KindString, strings.Repeat("x", domain.MaxStringParam+1), nil},
		{domain.KindBool, false, false},
		{domain.KindBool, "true", nil},
		{domain.KindTime, "2026-01-31T08:00:00Z", time.Date(2026, 1, 31, 8, 0, 0, 0, time.UTC)},
		{domain.KindTime, "2026-01-31", time.Date(2026, 1, 31, 0, 0, 0, 0, zone)},
		{domain.KindTime, "2026-01-31 08:00:00", nil},
		{domain.KindTime, n("1700000000"), nil},
	}
	for _, tt := range tests {
		got, reason := domain.ParseParam(tt.kind, tt.in, zone)
		if tt.want == nil {
			require.NotEmpty(t, reason, "%s %#v must be refused", tt.kind, tt.in)
			continue
		}
		require.Empty(t, reason, "%s %#v", tt.kind, tt.in)
		if w, ok := tt.want.(time.Time); ok {
			require.True(t, w.Equal(got.(time.Time)), "%s %#v: %v", tt.kind, tt.in, got)
			continue
		}
		require.Equal(t, tt.want, got, "%s %#v", tt.kind, tt.in)
	}
}

func TestCheckParams(t *testing.T) {
	t.Parallel()
	decl := map[string]domain.ParamSpec{"year": {Kind: domain.KindInt, Required: true}, "city": {Kind: domain.KindString}}
	got, err := domain.CheckParams(decl, map[string]any{"year": json.Number("2026"), "city": nil}, domain.ParamOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"year": int64(2026), "city": nil}, got)
	_, err = domain.CheckParams(decl, map[string]any{"city": 1, "zz": 1}, domain.ParamOptions{})
	var fe *domain.FieldErrors
	require.ErrorAs(t, err, &fe)
	require.Equal(t, []string{"params.city", "params.year", "params.zz"}, []string{fe.Errors[0].Field, fe.Errors[1].Field, fe.Errors[2].Field})
	_, err = domain.CheckParams(decl, map[string]any{"year": json.Number("1"), "zz": 1}, domain.ParamOptions{AllowUnknown: true})
	require.NoError(t, err)
}
