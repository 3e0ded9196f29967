package demo

import (
	"errors"
	"fmt"
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

// paramSpecs declares the params by the one param grammar
// (domain.CheckParams); their ranges are checked after.
var paramSpecs = map[string]domain.ParamSpec{
	ParamRows:      {Kind: domain.KindInt, Required: true, Description: fmt.Sprintf("rows to make up, 0 to %d", MaxRows)},
	ParamFailTimes: {Kind: domain.KindInt, Description: fmt.Sprintf("fail the task's first N attempts (retryable), 0 to %d", maxFailTimes)},
	ParamDelayMS:   {Kind: domain.KindInt, Description: fmt.Sprintf("pause per batch in milliseconds, 0 to %d", MaxDelayMS)},
}

// parseParams checks every param and reports all wrong ones at once.
func parseParams(m map[string]any) (params, error) {
	typed, err := domain.CheckParams(paramSpecs, m, domain.ParamOptions{})
	var fe domain.FieldErrors
	if err != nil {
		var pe *domain.FieldErrors
		if !errors.As(err, &pe) {
			return params{}, err
		}
		fe = *pe
	}
	var p params
	p.rows = inRange(&fe, typed, ParamRows, 0, MaxRows)
	p.failTimes = int(inRange(&fe, typed, ParamFailTimes, 0, maxFailTimes))
	p.delay = time.Duration(inRange(&fe, typed, ParamDelayMS, 0, MaxDelayMS)) * time.Millisecond
	if err := fe.Err(); err != nil {
		return params{}, err
	}
	return p, nil
}

// inRange reads a checked int param, recording in fe when it is outside
// [lo, hi]; absent or already wrong reads as 0.
func inRange(fe *domain.FieldErrors, typed map[string]any, name string, lo, hi int64) int64 {
	n, ok := typed[name].(int64)
	switch {
	case !ok:
		return 0
	case n < lo:
		fe.Add("params."+name, "must be at least %d", lo)
	case n > hi:
		fe.Add("params."+name, "must be at most %d", hi)
	default:
		return n
	}
	return 0
}
