package sqlprovider

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/downloadcenter/dc/domain"
)

// Limits of a decimal param. Decimal params are bound as
// CAST(? AS DECIMAL(65,30)) so MySQL compares them with DECIMAL columns
// exactly instead of as doubles; these are that type's digit limits.
const (
	maxDecimalIntDigits  = 35
	maxDecimalFracDigits = 30
	// decimalCast is the placeholder of a decimal param.
	decimalCast = "CAST(? AS DECIMAL(65,30))"
	// maxExponent bounds the exponent of a decimal written in E notation, so
	// "1e999999999" cannot make a huge string.
	maxExponent = 100
)

// decimalRe is the strict grammar of a decimal param: digits with an
// optional fraction and exponent, nothing else (no spaces, no hex).
var decimalRe = regexp.MustCompile(`^([+-]?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$`)

// parseParams checks params against the declared ones and returns the
// value to bind for each declared name (nil for an absent optional one).
// Every wrong param is reported in one *domain.FieldErrors.
func parseParams(decl map[string]Param, zone *time.Location, in map[string]any) (map[string]any, error) {
	var fe domain.FieldErrors
	out := make(map[string]any, len(decl))
	for _, name := range sortedKeys(decl) {
		p := decl[name]
		field := "params." + name
		v, ok := in[name]
		if !ok || v == nil {
			if p.Required {
				fe.Add(field, "is required")
			}
			out[name] = nil
			continue
		}
		b, reason := bindValue(p.Kind, zone, v)
		if reason != "" {
			fe.Add(field, "%s", reason)
			continue
		}
		out[name] = b
	}
	for _, name := range sortedKeys(in) {
		if _, ok := decl[name]; !ok {
			fe.Add("params."+name, "unknown parameter")
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// bindValue converts one param value to what is bound for its kind, or
// says why it cannot. Params come from JSON decoded with UseNumber, so
// numbers are json.Number; Go numbers are accepted for callers that build
// params in code.
func bindValue(kind domain.ValueKind, zone *time.Location, v any) (any, string) {
	switch kind {
	case domain.KindString:
		s, ok := v.(string)
		switch {
		case !ok:
			return nil, "must be a string"
		case !utf8.ValidString(s):
			return nil, "must be valid UTF-8"
		case utf8.RuneCountInString(s) > MaxStringParam:
			return nil, "must be at most " + strconv.Itoa(MaxStringParam) + " characters"
		}
		return s, ""
	case domain.KindInt:
		return bindInt(v)
	case domain.KindDecimal:
		return bindDecimal(v)
	case domain.KindBool:
		if b, ok := v.(bool); ok {
			return b, ""
		}
		return nil, "must be true or false"
	case domain.KindTime:
		return bindTime(v, zone)
	}
	return nil, "has an unknown kind"
}

const intReason = "must be an integer"

func bindInt(v any) (any, string) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	case int:
		return int64(v), ""
	case int32:
		return int64(v), ""
	case int64:
		return v, ""
	case float64:
		// Integral floats are exact up to 2^53.
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return nil, intReason
		}
		return int64(v), ""
	default:
		return nil, intReason
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return nil, "is out of range"
		}
		return nil, intReason
	}
	return n, ""
}

const decimalReason = "must be a decimal number"

func bindDecimal(v any) (any, string) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	case int:
		return strconv.Itoa(v), ""
	case int64:
		return strconv.FormatInt(v, 10), ""
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, decimalReason
		}
		// The shortest text that reads back as v: the decimal the caller
		// wrote, not the binary float's expansion.
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return nil, decimalReason
	}
	d, reason := normalizeDecimal(s)
	if reason != "" {
		return nil, reason
	}
	return d, ""
}

// normalizeDecimal checks s against the strict decimal grammar and
// rewrites E notation as plain digits, exactly. Plain input is returned
// unchanged apart from a leading "+".
func normalizeDecimal(s string) (string, string) {
	m := decimalRe.FindStringSubmatch(s)
	if m == nil {
		return "", decimalReason
	}
	sign, intPart, frac, exp := m[1], m[2], m[3], m[4]
	if sign == "+" {
		sign = ""
	}
	if exp != "" {
		e, err := strconv.Atoi(exp)
		if err != nil || e > maxExponent || e < -maxExponent {
			return "", "is out of range"
		}
		// Move the point e places within the digit string.
		digits := intPart + frac
		point := len(intPart) + e
		switch {
		case point <= 0:
			digits = strings.Repeat("0", 1-point) + digits
			point = 1
		case point > len(digits):
			digits += strings.Repeat("0", point-len(digits))
		}
		intPart, frac = digits[:point], digits[point:]
		intPart = strings.TrimLeft(intPart, "0")
		if intPart == "" {
			intPart = "0"
		}
		frac = strings.TrimRight(frac, "0")
	}
	if len(strings.TrimLeft(intPart, "0")) > maxDecimalIntDigits {
		return "", "is out of range"
	}
	if len(frac) > maxDecimalFracDigits {
		return "", "has more than " + strconv.Itoa(maxDecimalFracDigits) + " digits after the point"
	}
	if frac == "" {
		return sign + intPart, ""
	}
	return sign + intPart + "." + frac, ""
}

const timeReason = "must be an RFC 3339 time (2006-01-02T15:04:05Z) or a date (2006-01-02)"

// bindTime reads a time param; a date means midnight in the zone. The
// driver sends it as wall-clock time in the same zone, which is also the
// session's time_zone.
func bindTime(v any, zone *time.Location) (any, string) {
	switch v := v.(type) {
	case time.Time:
		return v, ""
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, ""
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, zone); err == nil {
			return t, ""
		}
	}
	return nil, timeReason
}
