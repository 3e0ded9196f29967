package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The scale row: a backlog of equal exports drained by 2 one-slot workers
// and by 8. Each export is bound by provider time, as the issue asks (the
// machine has 2 cores): the demo provider sleeps delay_ms per batch, and
// the rows are few so writing them costs little CPU.
const (
	scaleLow, scaleHigh = 2, 8
	scaleRows           = 2000
	scaleBatch          = 100 // DC_BATCH_SIZE of the scale workers: 20 batches
	scaleDelayMS        = 100 // per batch: 2 s of provider time per export
	scaleMust           = 0.9
	scaleAim            = 0.95
)

// Keys of the scale row's samples.
const (
	kScaleLow  = "scale.low.s"  // makespan with scaleLow workers
	kScaleHigh = "scale.high.s" // makespan with scaleHigh workers
	kScaleEff  = "scale.efficiency"
	kScaleIdle = "scale.idle_workers" // workers that ran nothing, both sizes
)

// scale measures one run of the scale row.
func (b *bench) scale(ctx context.Context, run int) error {
	spans := map[int]time.Duration{}
	idle := 0
	for _, n := range []int{scaleLow, scaleHigh} {
		span, perWorker, err := b.drain(ctx, n)
		if err != nil {
			return err
		}
		spans[n] = span
		for _, c := range perWorker {
			if c == 0 {
				idle++
			}
		}
		b.logf("scale run %d/%d: %d workers drained %d tasks in %s; per worker %v", run, b.cfg.Runs, n, b.cfg.ScaleTasks,
			span.Round(10*time.Millisecond), perWorker)
	}
	eff := (spans[scaleLow].Seconds() / spans[scaleHigh].Seconds()) / (float64(scaleHigh) / float64(scaleLow))
	b.s.add(kScaleLow, spans[scaleLow].Seconds())
	b.s.add(kScaleHigh, spans[scaleHigh].Seconds())
	b.s.add(kScaleEff, eff)
	b.s.add(kScaleIdle, float64(idle))
	return nil
}

// drain starts n one-slot workers, creates the backlog and waits it out.
// The makespan is the server's own record: the first task's created_at to
// the last one's finished_at, so polling adds nothing to it.
func (b *bench) drain(ctx context.Context, n int) (time.Duration, []int, error) {
	ws, err := b.startWorkers(ctx, n, map[string]string{"DC_WORKER_SLOTS": "1", "DC_BATCH_SIZE": fmt.Sprint(scaleBatch)})
	if err != nil {
		return 0, nil, err
	}
	defer stopAll(ws)
	body, _ := json.Marshal(map[string]any{ // cannot fail
		"name": "scale", "type": "demo", "format": "csv",
		"params": map[string]int{"rows": scaleRows, "delay_ms": scaleDelayMS},
	})
	ids := make([]int64, b.cfg.ScaleTasks)
	for i := range ids {
		t, err := b.stackC.create(ctx, body)
		if err != nil {
			return 0, nil, err
		}
		ids[i] = t.ID
	}
	var first, last time.Time
	ran := map[string]int{}
	for _, id := range ids {
		done, _, err := b.stackC.wait(ctx, id, 100*time.Millisecond, exportTimeout, task.finished, append(ws, b.stackAPI)...)
		if err != nil {
			return 0, nil, fmt.Errorf("scale: %w", err)
		}
		if done.Status != "SUCCESS" || done.FinishedAt == nil || done.Attempts != 1 {
			return 0, nil, fmt.Errorf("scale: task %d ended %s after %d attempts: %s", id, done.Status, done.Attempts, done.Error)
		}
		if first.IsZero() || done.CreatedAt.Before(first) {
			first = done.CreatedAt
		}
		if done.FinishedAt.After(last) {
			last = *done.FinishedAt
		}
		ran[done.Worker]++
	}
	// Workers that ran nothing count as zeros.
	perWorker := make([]int, 0, n)
	for _, c := range ran {
		perWorker = append(perWorker, c)
	}
	for len(perWorker) < n {
		perWorker = append(perWorker, 0)
	}
	slices.Sort(perWorker)
	slices.Reverse(perWorker)
	return last.Sub(first), perWorker, nil
}

// scaleRow is the table's line for the scale row.
func scaleRow(cfg Config, s samples) row {
	r := row{
		id: "6",
		measure: fmt.Sprintf("scale-out: %d exports (%d s provider time each, demo delay_ms), %d vs %d one-slot workers, MariaDB + RocketMQ: (T%d/T%d)/(%d/%d)",
			cfg.ScaleTasks, scaleRows/scaleBatch*scaleDelayMS/1000, scaleLow, scaleHigh, scaleLow, scaleHigh, scaleHigh, scaleLow),
		target: fmt.Sprintf("≥ %.2f / ≥ %.2f of linear; every worker ran some", scaleMust, scaleAim),
	}
	if s.has(kScaleEff, kScaleLow, kScaleHigh) {
		eff := s.median(kScaleEff)
		idle := s.median(kScaleIdle)
		r.result = fmt.Sprintf("%.2f of linear (%s with %d workers, %s with %d); idle workers %.0f",
			eff, secs(s.median(kScaleLow)), scaleLow, secs(s.median(kScaleHigh)), scaleHigh, idle)
		r.verdict = judge(eff >= scaleMust && idle == 0, eff >= scaleAim && idle == 0)
	}
	return r
}
