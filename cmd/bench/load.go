package main

import (
	"context"
	"sync"
	"time"
)

// loadResult is one closed-loop load run: what completed in the measured
// window.
type loadResult struct {
	ok, failed int
	elapsed    time.Duration
	latencies  []time.Duration // of the successful operations
	firstErr   error
}

// perSecond is the successful operations per second.
func (r loadResult) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

// runLoad calls op from conc goroutines, each starting its next call as
// soon as the last returns, for warmup and then for dur. Only calls
// started after the warm-up count; the window ends when the last of them
// returns, so calls still running at the deadline are not lost from the
// rate.
func runLoad(ctx context.Context, conc int, warmup, dur time.Duration, op func(context.Context) error) loadResult {
	start := time.Now().Add(warmup)
	end := start.Add(dur)
	type worker struct {
		ok, failed int
		last       time.Time
		lat        []time.Duration
		err        error
	}
	ws := make([]worker, conc)
	var wg sync.WaitGroup
	for i := range ws {
		w := &ws[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(ctx)
				t1 := time.Now()
				if t0.Before(start) {
					continue
				}
				w.last = t1
				if err != nil {
					w.failed++
					if w.err == nil {
						w.err = err
					}
					continue
				}
				w.ok++
				w.lat = append(w.lat, t1.Sub(t0))
			}
		})
	}
	wg.Wait()
	var r loadResult
	last := start
	for _, w := range ws {
		r.ok += w.ok
		r.failed += w.failed
		r.latencies = append(r.latencies, w.lat...)
		if w.last.After(last) {
			last = w.last
		}
		if r.firstErr == nil {
			r.firstErr = w.err
		}
	}
	r.elapsed = last.Sub(start)
	return r
}
