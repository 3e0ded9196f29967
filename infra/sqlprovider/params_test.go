package sqlprovider

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func TestBindValue(t *testing.T) {
	t.Parallel()
	shanghai := time.FixedZone("+08:00", 8*3600)
	tests := []struct {
		name   string
		kind   domain.ValueKind
		in     any
		want   any
		reason string
	}{
		{"decimal number", domain.KindDecimal, json.Number("12345678.91"), "12345678.91", ""},
		{"decimal keeps trailing zeros", domain.KindDecimal, json.Number("0.10"), "0.10", ""},
		{"decimal string", domain.KindDecimal, "-100.5", "-100.5", ""},
		{"decimal plus sign", domain.KindDecimal, "+7", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got "+7"`},
		{"decimal exponent", domain.KindDecimal, json.Number("1.25e3"), nil, "must be a decimal like -12.50 (a number or a string, no exponent), got 1.25e3"},
		{"decimal leading zero", domain.KindDecimal, json.Number("007"), nil, "must be a decimal like -12.50 (a number or a string, no exponent), got 007"},
		{"decimal float", domain.KindDecimal, 0.1, "0.1", ""},
		{"decimal int", domain.KindDecimal, 42, "42", ""},
		{"decimal injection", domain.KindDecimal, "0 OR 1=1", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got "0 OR 1=1"`},
		{"decimal comment", domain.KindDecimal, "1 -- x", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got "1 -- x"`},
		{"decimal spaces", domain.KindDecimal, " 1", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got " 1"`},
		{"decimal hex", domain.KindDecimal, "0x10", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got "0x10"`},
		{"decimal bare point", domain.KindDecimal, "1.", nil, `must be a decimal like -12.50 (a number or a string, no exponent), got "1."`},
		{"decimal bool", domain.KindDecimal, true, nil, "must be a decimal like -12.50 (a number or a string, no exponent), got a boolean"},
		{"decimal too many fraction digits", domain.KindDecimal, "0." + strings.Repeat("1", 31), nil, "has more than 30 digits after the point"},
		{"decimal too large", domain.KindDecimal, strings.Repeat("9", 36), nil, "is out of range"},
		{"decimal huge exponent", domain.KindDecimal, json.Number("1e999999"), nil, "must be a decimal like -12.50 (a number or a string, no exponent), got 1e999999"},
		{"int number", domain.KindInt, json.Number("-42"), int64(-42), ""},
		{"int big", domain.KindInt, json.Number("9007199254740993"), int64(9007199254740993), ""},
		{"int string refused", domain.KindInt, "42", nil, `must be an integer (no fraction or exponent), got "42"`},
		{"int with fraction refused", domain.KindInt, json.Number("5.0"), nil, "must be an integer (no fraction or exponent), got 5.0"},
		{"int exponent refused", domain.KindInt, json.Number("1e3"), nil, "must be an integer (no fraction or exponent), got 1e3"},
		{"int float", domain.KindInt, float64(3), int64(3), ""},
		{"int fraction", domain.KindInt, json.Number("1.5"), nil, "must be an integer (no fraction or exponent), got 1.5"},
		{"int injection", domain.KindInt, "1 OR 1=1", nil, `must be an integer (no fraction or exponent), got "1 OR 1=1"`},
		{"int overflow", domain.KindInt, json.Number("9223372036854775808"), nil, "is out of range"},
		{"string", domain.KindString, "Zoë 客户 😀 ' OR ''='", "Zoë 客户 😀 ' OR ''='", ""},
		{"string number", domain.KindString, json.Number("1"), nil, "must be a string, got 1"},
		{"string too long", domain.KindString, strings.Repeat("é", MaxStringParam+1), nil, "must be at most 4096 characters"},
		{"string at limit", domain.KindString, strings.Repeat("é", MaxStringParam), strings.Repeat("é", MaxStringParam), ""},
		{"string invalid utf8", domain.KindString, "\xff", nil, "must be valid UTF-8"},
		{"bool", domain.KindBool, false, false, ""},
		{"bool string", domain.KindBool, "true", nil, `must be true or false, got "true"`},
		{"time rfc3339", domain.KindTime, "2024-03-01T10:00:00Z", time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), ""},
		{"date is midnight in the zone", domain.KindTime, "2024-03-01", time.Date(2024, 3, 1, 0, 0, 0, 0, shanghai), ""},
		{"time sql form", domain.KindTime, "2024-03-01 10:00:00", nil, `must be an RFC 3339 time like 2026-01-02T15:04:05Z or a date like 2026-01-02, got "2024-03-01 10:00:00"`},
		{"time number", domain.KindTime, json.Number("1700000000"), nil, "must be an RFC 3339 time like 2026-01-02T15:04:05Z or a date like 2026-01-02, got 1700000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, reason := bindValue(tt.kind, shanghai, tt.in)
			require.Equal(t, tt.reason, reason)
			if wantTime, ok := tt.want.(time.Time); ok {
				require.True(t, wantTime.Equal(got.(time.Time)), "got %v", got)
				return
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	decl := map[string]Param{
		"min_amount": {Kind: domain.KindDecimal, Required: true},
		"city":       {Kind: domain.KindString},
		"since":      {Kind: domain.KindTime},
	}
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any
		errs []domain.FieldError
	}{
		{
			name: "optional params absent are bound as NULL",
			in:   map[string]any{"min_amount": json.Number("10")},
			want: map[string]any{"min_amount": "10", "city": nil, "since": nil},
		},
		{
			name: "null is absent",
			in:   map[string]any{"min_amount": json.Number("10"), "city": nil},
			want: map[string]any{"min_amount": "10", "city": nil, "since": nil},
		},
		{
			name: "every problem at once",
			in:   map[string]any{"city": 5, "since": "yesterday", "zzz": 1, "aaa": 2},
			errs: []domain.FieldError{
				{Field: "params.city", Reason: "must be a string, got a Go int"},
				{Field: "params.min_amount", Reason: "is required"},
				{Field: "params.since", Reason: `must be an RFC 3339 time like 2026-01-02T15:04:05Z or a date like 2026-01-02, got "yesterday"`},
				{Field: "params.aaa", Reason: "unknown parameter"},
				{Field: "params.zzz", Reason: "unknown parameter"},
			},
		},
		{
			name: "required null",
			in:   map[string]any{"min_amount": nil},
			errs: []domain.FieldError{{Field: "params.min_amount", Reason: "is required"}},
		},
		{
			name: "injection",
			in:   map[string]any{"min_amount": "0 OR 1=1"},
			errs: []domain.FieldError{{Field: "params.min_amount", Reason: `must be a decimal like -12.50 (a number or a string, no exponent), got "0 OR 1=1"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseParams(decl, time.UTC, tt.in)
			if tt.errs == nil {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			var fe *domain.FieldErrors
			require.True(t, errors.As(err, &fe), "got %v", err)
			require.Equal(t, tt.errs, fe.Errors)
			require.Equal(t, domain.KindInvalid, domain.KindOf(err))
		})
	}
}
