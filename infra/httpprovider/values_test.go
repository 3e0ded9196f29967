package httpprovider_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

func TestRowValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    domain.ValueKind
		raw     string // the value's JSON in the response
		want    any
		wantErr string
	}{
		{kind: domain.KindString, raw: `"Zoë"`, want: "Zoë"},
		{kind: domain.KindString, raw: `""`, want: ""},
		{kind: domain.KindString, raw: `null`, want: nil},
		{kind: domain.KindString, raw: `5`, wantErr: "want a string, got 5"},
		{kind: domain.KindString, raw: `{"a": 1}`, wantErr: "want a string, got an object"},

		{kind: domain.KindInt, raw: `42`, want: int64(42)},
		{kind: domain.KindInt, raw: `-9223372036854775808`, want: int64(-9223372036854775808)},
		{kind: domain.KindInt, raw: `9223372036854775807`, want: int64(9223372036854775807)},
		{kind: domain.KindInt, raw: `5.0`, want: int64(5)},
		{kind: domain.KindInt, raw: `1e3`, want: int64(1000)},
		{kind: domain.KindInt, raw: `12.5e1`, want: int64(125)},
		{kind: domain.KindInt, raw: `-0`, want: int64(0)},
		{kind: domain.KindInt, raw: `9007199254740993.0`, want: int64(9007199254740993)},
		{kind: domain.KindInt, raw: `1.5`, wantErr: "want an integer, got 1.5: not integral"},
		{kind: domain.KindInt, raw: `1e-1`, wantErr: "not integral"},
		{kind: domain.KindInt, raw: `9223372036854775808`, wantErr: "out of the 64-bit integer range"},
		{kind: domain.KindInt, raw: `1e19`, wantErr: "out of the 64-bit integer range"},
		{kind: domain.KindInt, raw: `1e999999999999`, wantErr: "out of the 64-bit integer range"},
		{kind: domain.KindInt, raw: `"5"`, wantErr: `want an integer, got the string "5"`},
		{kind: domain.KindInt, raw: `true`, wantErr: "want an integer, got the boolean true"},

		{kind: domain.KindDecimal, raw: `-12.50`, want: domain.Decimal("-12.50")},
		{kind: domain.KindDecimal, raw: `"-12.50"`, want: domain.Decimal("-12.50")},
		{kind: domain.KindDecimal, raw: `0`, want: domain.Decimal("0")},
		{kind: domain.KindDecimal, raw: `"0.000000000000000000000000001"`, want: domain.Decimal("0.000000000000000000000000001")},
		{kind: domain.KindDecimal, raw: `123456789012345678901234567890.123456789`, want: domain.Decimal("123456789012345678901234567890.123456789")},
		{kind: domain.KindDecimal, raw: `1e3`, wantErr: "want a decimal in plain notation like -12.50 (no exponent, sign only -, no leading zeros), got 1e3"},
		{kind: domain.KindDecimal, raw: `"1E-7"`, wantErr: `got the string "1E-7"`},
		{kind: domain.KindDecimal, raw: `"+1"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `"007"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `"1."`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `".5"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `" 1"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `"1,5"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `""`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `"NaN"`, wantErr: "plain notation"},
		{kind: domain.KindDecimal, raw: `false`, wantErr: "want a decimal, got the boolean false"},

		{kind: domain.KindBool, raw: `true`, want: true},
		{kind: domain.KindBool, raw: `false`, want: false},
		{kind: domain.KindBool, raw: `"true"`, wantErr: `want a boolean, got the string "true"`},
		{kind: domain.KindBool, raw: `1`, wantErr: "want a boolean, got 1"},

		{kind: domain.KindTime, raw: `"2026-01-02T03:04:05Z"`, want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{kind: domain.KindTime, raw: `"2026-01-02T03:04:05.123456789Z"`, want: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
		{kind: domain.KindTime, raw: `"2026-01-02T11:04:05+08:00"`, want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{kind: domain.KindTime, raw: `"2026-01-02"`, wantErr: `want an RFC 3339 time like 2026-01-02T15:04:05Z, got the string "2026-01-02"`},
		{kind: domain.KindTime, raw: `"2026-01-02 03:04:05"`, wantErr: "want an RFC 3339 time"},
		{kind: domain.KindTime, raw: `1767323045`, wantErr: "want an RFC 3339 time string, got 1767323045"},
		{kind: domain.KindTime, raw: `"` + longText + `"`, wantErr: `got the string "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…"`},
	}
	for _, tt := range tests {
		name := tt.raw
		if len(name) > 30 {
			name = name[:30] + "..."
		}
		t.Run(string(tt.kind)+" "+name, func(t *testing.T) {
			t.Parallel()
			svc := newService(t, one(200, `{"rows": [{"v": `+tt.raw+`}], "next_cursor": null}`))
			p := newProvider(t, svc.URL, func(c *httpprovider.Config) {
				c.Columns = []httpprovider.Column{{Field: "v", Kind: tt.kind}}
			})
			b, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 10})
			if tt.wantErr != "" {
				requireFailed(t, err, true, "invoices service: rows[0].v: ", tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Len(t, b.Rows, 1)
			got := b.Rows[0][0]
			if want, ok := tt.want.(time.Time); ok {
				require.IsType(t, time.Time{}, got)
				require.True(t, want.Equal(got.(time.Time)), "got %v", got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

// longText is a value too long to quote whole in an error.
var longText = strings.Repeat("a", 500)

func TestMissingFieldIsEmpty(t *testing.T) {
	t.Parallel()
	svc := newService(t, func(t *testing.T, w http.ResponseWriter, _ wireRequest, _ int64) {
		reply(w, 200, `{"rows": [{}, {"note": "x"}], "next_cursor": "c2"}`)
	})
	b, err := newProvider(t, svc.URL).Fetch(t.Context(), domain.FetchRequest{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, domain.Batch{Rows: [][]any{{nil, nil, nil, nil, nil}, {nil, nil, nil, nil, "x"}}, NextCursor: "c2"}, b)
}

func TestValidateParams(t *testing.T) {
	t.Parallel()
	declared := map[string]httpprovider.Param{
		"year":   {Kind: domain.KindInt, Required: true},
		"rate":   {Kind: domain.KindDecimal},
		"region": {Kind: domain.KindString},
		"paid":   {Kind: domain.KindBool},
		"from":   {Kind: domain.KindTime},
	}
	n := func(s string) json.Number { return json.Number(s) }
	tests := []struct {
		name   string
		free   bool
		params map[string]any
		want   []domain.FieldError // nil: valid
	}{
		{name: "required only", params: map[string]any{"year": n("2026")}},
		{name: "all kinds", params: map[string]any{
			"year": n("2026"), "rate": n("0.125"), "region": "east", "paid": true, "from": "2026-01-01T00:00:00+08:00",
		}},
		{name: "decimal as string", params: map[string]any{"year": n("2026"), "rate": "-0.125"}},
		{name: "go types", params: map[string]any{
			"year": 2026, "rate": domain.Decimal("1.5"), "from": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		}},
		{name: "integral float", params: map[string]any{"year": 2026.0}},
		{name: "integral number text refused: one grammar for int", params: map[string]any{"year": n("2026.0")},
			want: []domain.FieldError{{Field: "params.year", Reason: "must be an integer (no fraction or exponent), got 2026.0"}}},
		{name: "int as string refused", params: map[string]any{"year": "2026"},
			want: []domain.FieldError{{Field: "params.year", Reason: `must be an integer (no fraction or exponent), got "2026"`}}},
		{name: "date is a time", params: map[string]any{"year": n("2026"), "from": "2026-01-31"}},
		{name: "optional null", params: map[string]any{"year": n("2026"), "region": nil}},
		{name: "missing required", params: map[string]any{},
			want: []domain.FieldError{{Field: "params.year", Reason: "is required"}}},
		{name: "null required", params: map[string]any{"year": nil},
			want: []domain.FieldError{{Field: "params.year", Reason: "is required"}}},
		{name: "nil map", params: nil,
			want: []domain.FieldError{{Field: "params.year", Reason: "is required"}}},
		{name: "wrong kinds, sorted by name", params: map[string]any{
			"year": n("2026.5"), "rate": n("1e2"), "region": n("5"), "paid": "yes", "from": "yesterday",
		}, want: []domain.FieldError{
			{Field: "params.from", Reason: `must be an RFC 3339 time like 2026-01-02T15:04:05Z or a date like 2026-01-02, got "yesterday"`},
			{Field: "params.paid", Reason: `must be true or false, got "yes"`},
			{Field: "params.rate", Reason: "must be a decimal like -12.50 (a number or a string, no exponent), got 1e2"},
			{Field: "params.region", Reason: "must be a string, got 5"},
			{Field: "params.year", Reason: "must be an integer (no fraction or exponent), got 2026.5"},
		}},
		{name: "go float decimal", params: map[string]any{"year": 1, "rate": 0.1}},
		{name: "unknown refused", params: map[string]any{"year": n("1"), "zeta": 1, "alpha": "x"},
			want: []domain.FieldError{
				{Field: "params.alpha", Reason: "unknown parameter"},
				{Field: "params.zeta", Reason: "unknown parameter"},
			}},
		{name: "unknown allowed", free: true, params: map[string]any{"year": n("1"), "zeta": map[string]any{"any": "thing"}}},
		{name: "unknown allowed but declared still checked", free: true, params: map[string]any{"zeta": 1},
			want: []domain.FieldError{{Field: "params.year", Reason: "is required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Params, c.AllowUnknownParams = declared, tt.free
			p, err := httpprovider.New(c, nil, nil)
			require.NoError(t, err)
			err = p.Validate(tt.params)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var fe *domain.FieldErrors
			require.ErrorAs(t, err, &fe)
			require.Equal(t, tt.want, fe.Errors)
		})
	}
}
