package httpprovider

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// decodeValue converts one value of a response row, as decoded with
// UseNumber, to the Go type of its kind. null is nil for every kind. The
// error says what was wanted and what came.
func decodeValue(kind domain.ValueKind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch kind {
	case domain.KindString:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case domain.KindInt:
		if n, ok := v.(json.Number); ok {
			i, err := parseIntegral(string(n))
			if err != nil {
				return nil, fmt.Errorf("want an integer, got %s: %w", describe(v), err)
			}
			return i, nil
		}
	case domain.KindDecimal:
		// A number's text is kept as written; only the plain notation is
		// taken because the file writers expect it ("-12.50", no exponent).
		var s string
		switch t := v.(type) {
		case json.Number:
			s = string(t)
		case string:
			s = t
		default:
			return nil, fmt.Errorf("want a decimal, got %s", describe(v))
		}
		if !domain.Decimal(s).Valid() {
			return nil, fmt.Errorf("want a decimal in plain notation like -12.50 (no exponent, sign only -, no leading zeros), got %s", describe(v))
		}
		return domain.Decimal(s), nil
	case domain.KindBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case domain.KindTime:
		if s, ok := v.(string); ok {
			t, err := parseTime(s)
			if err != nil {
				return nil, fmt.Errorf("want an RFC 3339 time like 2026-01-02T15:04:05Z, got %s", describe(v))
			}
			return t, nil
		}
	}
	return nil, fmt.Errorf("want %s, got %s", kindNoun(kind), describe(v))
}

func parseTime(s string) (time.Time, error) {
	// RFC3339 parsing also accepts fractional seconds.
	return time.Parse(time.RFC3339, s)
}

func kindNoun(k domain.ValueKind) string {
	switch k {
	case domain.KindString:
		return "a string"
	case domain.KindInt:
		return "an integer"
	case domain.KindDecimal:
		return "a decimal"
	case domain.KindBool:
		return "a boolean"
	case domain.KindTime:
		return "an RFC 3339 time string"
	}
	return string(k)
}

// maxShown bounds how much of a rejected value an error quotes.
const maxShown = 40

// describe names a rejected value for an error message, quoting at most
// maxShown bytes of it.
func describe(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case json.Number:
		return shorten(string(t))
	case string:
		return "the string " + strconv.Quote(shorten(t))
	case bool:
		return "the boolean " + strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a Go %T", v)
}

func shorten(s string) string {
	if len(s) <= maxShown {
		return s
	}
	// Cut on a rune boundary so the quoted text stays valid UTF-8.
	cut := maxShown
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// maxExp bounds the exponent read from a number, so "1e999999999" costs
// nothing; any exponent that large is out of the int64 range anyway.
const maxExp = 10_000

// Why a number is not an int.
var (
	errNotIntegral = errors.New("not integral")
	errIntRange    = errors.New("out of the 64-bit integer range")
	errNotNumber   = errors.New("not a number")
)

// parseIntegral reads a JSON number whose value is an integer in the
// int64 range. "5.0" and "1e3" qualify: their values are integral, as
// some serializers write whole numbers that way. It is exact: no float
// is involved.
func parseIntegral(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	neg, digits, exp, ok := splitNumber(s)
	if !ok {
		return 0, errNotNumber
	}
	digits = strings.TrimLeft(digits, "0")
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	switch {
	case digits == "":
		return 0, nil
	case exp < 0:
		return 0, errNotIntegral
	case len(digits)+exp > 19:
		return 0, errIntRange
	}
	text := digits + strings.Repeat("0", exp)
	if neg {
		text = "-" + text
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, errIntRange
	}
	return n, nil
}

// splitNumber parses the JSON number grammar into a sign, all significant
// digits (integer and fraction part together) and the power of ten to
// scale them by, clamped to ±maxExp.
func splitNumber(s string) (neg bool, digits string, exp int, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start || (i-start > 1 && s[start] == '0') {
		return false, "", 0, false
	}
	digits = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == fs {
			return false, "", 0, false
		}
		digits += s[fs:i]
		exp = -(i - fs)
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		e := 0
		for i < len(s) && isDigit(s[i]) {
			if e < maxExp {
				e = e*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return false, "", 0, false
		}
		e = min(e, maxExp)
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(s) {
		return false, "", 0, false
	}
	return neg, digits, exp, true
}
