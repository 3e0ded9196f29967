package demo

import (
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// params are the checked params of a task.
type params struct {
	rows      int64
	failTimes int
	delay     time.Duration
}

// maxFailTimes bounds fail_times; no retry policy comes near it.
const maxFailTimes = 1000

// parseParams checks every param and reports all wrong ones at once.
func parseParams(m map[string]any) (params, error) {
	var (
		p  params
		fe domain.FieldErrors
	)
	if v, ok := m[ParamRows]; ok {
		p.rows = intParam(&fe, ParamRows, v, 0, MaxRows)
	} else {
		fe.Add("params."+ParamRows, "is required")
	}
	if v, ok := m[ParamFailTimes]; ok {
		p.failTimes = int(intParam(&fe, ParamFailTimes, v, 0, maxFailTimes))
	}
	if v, ok := m[ParamDelayMS]; ok {
		p.delay = time.Duration(intParam(&fe, ParamDelayMS, v, 0, MaxDelayMS)) * time.Millisecond
	}
	// Sorted so the message is the same for the same params.
	var unknown []string
	for k := range m {
		if k != ParamRows && k != ParamFailTimes && k != ParamDelayMS {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		fe.Add("params."+k, "unknown parameter")
	}
	if err := fe.Err(); err != nil {
		return params{}, err
	}
	return p, nil
}

// intParam reads an integer param between lo and hi. Params come from JSON
// decoded with UseNumber, so json.Number is the usual type; float64 and Go
// integers are accepted for callers that build params in code. A number
// written with a fraction or exponent ("5.0", "1e3") is fine when its value
// is integral. A wrong value is recorded in fe and read as 0.
func intParam(fe *domain.FieldErrors, name string, v any, lo, hi int64) int64 {
	field := "params." + name
	n, ok := toInt(v)
	switch {
	case !ok:
		fe.Add(field, "must be an integer, got %s", describe(v))
	case n < lo:
		fe.Add(field, "must be at least %d", lo)
	case n > hi:
		fe.Add(field, "must be at most %d", hi)
	default:
		return n
	}
	return 0
}

// toInt converts an integral number to int64; n is clamped to the int64
// range, which is far outside any limit.
func toInt(v any) (n int64, ok bool) {
	switch v := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return n, true
		}
		f, err := strconv.ParseFloat(string(v), 64)
		// Beyond float64's range ParseFloat gives ±Inf, which clamps.
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		return floatToInt(f)
	case float64:
		return floatToInt(v)
	case float32:
		return floatToInt(float64(v))
	case int:
		return int64(v), true
	case int8:
		return int64(v), true
	case int16:
		return int64(v), true
	case int32:
		return int64(v), true
	case int64:
		return v, true
	case uint:
		return clampUint(uint64(v)), true
	case uint8:
		return int64(v), true
	case uint16:
		return int64(v), true
	case uint32:
		return int64(v), true
	case uint64:
		return clampUint(v), true
	}
	return 0, false
}

func floatToInt(f float64) (int64, bool) {
	switch {
	case math.IsNaN(f) || f != math.Trunc(f):
		return 0, false
	case f >= math.MaxInt64:
		return math.MaxInt64, true
	case f <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(f), true
}

func clampUint(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

// describe names a rejected value for the error message without echoing
// arbitrarily long input.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		if len(v) > 20 {
			return "a non-integral number"
		}
		return string(v)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "a value of another type"
}
