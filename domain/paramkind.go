package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParamSpec declares one param of an export type: the one declaration
// every provider uses (SQL and HTTP types read it from the providers
// file, Go providers write it in code), checked by CheckParams.
type ParamSpec struct {
	Kind ValueKind `yaml:"kind"`
	// Required params must be present and not null. An absent optional
	// param is null (SQL binds NULL; queries test ":name IS NULL OR …").
	Required bool `yaml:"required"`
	// Description tells clients what it means (listed at /api/v1/types).
	Description string `yaml:"description"`
}

// ColumnSpec declares one field an export type yields, with its default
// header: the one column declaration of SQL and HTTP export types.
type ColumnSpec struct {
	Field string `yaml:"field"`
	// Header is the default header; empty means Field.
	Header string    `yaml:"header"`
	Kind   ValueKind `yaml:"kind"`
}

// Limits of param values, the same for every export type.
const (
	MaxStringParam = 4096
	// A decimal param has at most this many digits before and after the
	// point (what MySQL's DECIMAL(65,30) holds exactly).
	MaxDecimalIntDigits  = 35
	MaxDecimalFracDigits = 30
)

// ParamOptions tune CheckParams for one export type.
type ParamOptions struct {
	// AllowUnknown passes params nobody declared (HTTP types may).
	AllowUnknown bool
	// Zone is where a date-only time param is midnight; nil means UTC.
	Zone *time.Location
}

// CheckParams checks params against their declarations and returns the
// typed value of every declared name (nil for an absent optional one).
// All wrong params are named in one *FieldErrors, declared ones first,
// each group sorted.
//
// The grammar, per kind, of a value decoded from JSON with UseNumber:
//
//	string   a JSON string of valid UTF-8, at most 4096 characters
//	int      a JSON number written as an integer, -?(0|[1-9][0-9]*), within
//	         64 bits: no fraction ("5.0"), no exponent ("1e3"), no string ("42")
//	decimal  a JSON number or string in plain notation, -?(0|[1-9][0-9]*)(\.[0-9]+)?,
//	         at most 35 digits before the point and 30 after: no exponent,
//	         no "+"; kept exact as Decimal
//	time     a string in RFC 3339 with a zone (2026-01-31T08:00:00Z,
//	         …+08:00), or a date 2026-01-31 (midnight in the type's zone)
//	bool     JSON true or false
//	null     the same as absent
//
// Callers building params in Go may also pass Go integers (int kind and
// decimal), integral float64 (int), float64 (decimal), Decimal and
// time.Time.
func CheckParams(decl map[string]ParamSpec, in map[string]any, opt ParamOptions) (map[string]any, error) {
	var fe FieldErrors
	out := make(map[string]any, len(decl))
	for _, name := range sortedNames(decl) {
		spec := decl[name]
		v, ok := in[name]
		if !ok || v == nil {
			if spec.Required {
				fe.Add("params."+name, "is required")
			}
			out[name] = nil
			continue
		}
		typed, reason := ParseParam(spec.Kind, v, opt.Zone)
		if reason != "" {
			fe.Add("params."+name, "%s", reason)
			continue
		}
		out[name] = typed
	}
	if !opt.AllowUnknown {
		for _, name := range sortedNames(in) {
			if _, ok := decl[name]; !ok {
				fe.Add("params."+name, "unknown parameter")
			}
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ParseParam reads one non-null param value of kind by the grammar of
// CheckParams. It returns string, int64, Decimal, time.Time or bool, or
// says why the value does not fit.
func ParseParam(kind ValueKind, v any, zone *time.Location) (any, string) {
	wrong := func() (any, string) { return nil, fmt.Sprintf("must be %s, got %s", kindNoun(kind), describeValue(v)) }
	switch kind {
	case KindString:
		s, ok := v.(string)
		switch {
		case !ok:
			return wrong()
		case !utf8.ValidString(s):
			return nil, "must be valid UTF-8"
		case utf8.RuneCountInString(s) > MaxStringParam:
			return nil, "must be at most " + strconv.Itoa(MaxStringParam) + " characters"
		}
		return s, ""
	case KindInt:
		return parseIntParam(v, wrong)
	case KindDecimal:
		var s string
		switch t := v.(type) {
		case json.Number:
			s = string(t)
		case string:
			s = t
		case Decimal:
			s = string(t)
		case float64:
			if math.IsNaN(t) || math.IsInf(t, 0) {
				return wrong()
			}
			s = strconv.FormatFloat(t, 'f', -1, 64)
		default:
			if n, ok := goInt(v); ok {
				return Decimal(strconv.FormatInt(n, 10)), ""
			}
			return wrong()
		}
		if !Decimal(s).Valid() {
			return wrong()
		}
		intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
		if len(intPart) > MaxDecimalIntDigits {
			return nil, "is out of range"
		}
		if len(frac) > MaxDecimalFracDigits {
			return nil, "has more than " + strconv.Itoa(MaxDecimalFracDigits) + " digits after the point"
		}
		return Decimal(s), ""
	case KindBool:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return wrong()
	case KindTime:
		switch t := v.(type) {
		case time.Time:
			return t, ""
		case string:
			if tm, err := time.Parse(time.RFC3339Nano, t); err == nil {
				return tm, ""
			}
			if zone == nil {
				zone = time.UTC
			}
			if tm, err := time.ParseInLocation(time.DateOnly, t, zone); err == nil {
				return tm, ""
			}
		}
		return wrong()
	}
	return nil, "has an unknown kind"
}

func parseIntParam(v any, wrong func() (any, string)) (any, string) {
	switch t := v.(type) {
	case json.Number:
		s := string(t)
		digits := strings.TrimPrefix(s, "-")
		if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 ||
			(len(digits) > 1 && digits[0] == '0') {
			return wrong()
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, "is out of range"
		}
		return n, ""
	case float64:
		if t != math.Trunc(t) || math.IsInf(t, 0) {
			return wrong()
		}
		if math.Abs(t) > 1<<53 {
			return nil, "is out of range"
		}
		return int64(t), ""
	case uint64:
		if t > math.MaxInt64 {
			return nil, "is out of range"
		}
		return int64(t), ""
	case uint:
		if uint64(t) > math.MaxInt64 {
			return nil, "is out of range"
		}
		return int64(t), ""
	}
	if n, ok := goInt(v); ok {
		return n, ""
	}
	return wrong()
}

// goInt reads Go integer types that always fit in int64.
func goInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int8:
		return int64(t), true
	case int16:
		return int64(t), true
	case int32:
		return int64(t), true
	case int64:
		return t, true
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	}
	return 0, false
}

func kindNoun(k ValueKind) string {
	switch k {
	case KindString:
		return "a string"
	case KindInt:
		return "an integer (no fraction or exponent)"
	case KindDecimal:
		return "a decimal like -12.50 (a number or a string, no exponent)"
	case KindBool:
		return "true or false"
	case KindTime:
		return "an RFC 3339 time like 2026-01-02T15:04:05Z or a date like 2026-01-02"
	}
	return string(k)
}

// describeValue names a rejected value without echoing long input.
func describeValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		if utf8.RuneCountInString(t) > 40 || !utf8.ValidString(t) {
			return "a string"
		}
		return strconv.Quote(t)
	case bool:
		return "a boolean"
	case json.Number:
		if len(t) > 40 {
			return "a long number"
		}
		return string(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a Go %T", v)
}
