package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startAPI starts a dc-api on a free port with env added and returns it
// with a client of it.
func (b *bench) startAPI(ctx context.Context, name string, env map[string]string) (*proc, *client, error) {
	// No tenant limits: the bench measures throughput, and its one tenant
	// creates far more than 600 tasks a minute.
	full := map[string]string{"DC_HTTP_ADDR": "127.0.0.1:0", "DC_LOG_LEVEL": "info",
		"DC_TENANT_MAX_ACTIVE": "0", "DC_TENANT_CREATES_PER_MINUTE": "0", "DC_LINK_SECRET": "bench-link-secret-0123456789abcdef01"}
	for k, v := range env {
		full[k] = v
	}
	p, err := startProc(name, b.apiBin, b.logDir, full, b.cfg.ProcEnv)
	if err != nil {
		return nil, nil, err
	}
	m, err := p.waitFor(ctx, listening, startTimeout)
	if err != nil {
		p.stop(stopGrace)
		return nil, nil, err
	}
	key, err := makeKey(ctx, b.apiBin, full, b.cfg.ProcEnv)
	if err != nil {
		p.stop(stopGrace)
		return nil, nil, err
	}
	return p, newClient(m[1], key, 2*b.cfg.Concurrency), nil
}

// makeKey runs `dc-api keys create` on the database of the dc-api started
// with env and extra, returning the key.
func makeKey(ctx context.Context, bin string, env, extra map[string]string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, "keys", "create", "--tenant", "bench", "--name", "bench")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for _, m := range []map[string]string{env, extra} {
		for k, v := range m {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("dc-api keys create: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// stackEnv is the environment of the stack's processes on database dsn.
func (b *bench) stackEnv(dsn string) map[string]string {
	return map[string]string{
		"DC_MYSQL_DSN": dsn, "DC_ROCKETMQ_NAMESRV": b.cfg.Namesrv, "DC_ROCKETMQ_TOPIC": b.st.topic, "DC_WORKER_HTTP_ADDR": "127.0.0.1:0",
		"DC_STORAGE_DIR": b.stackFiles, "DC_DATA_DIR": filepath.Join(b.work, "stack-data"), "DC_LOG_LEVEL": "info",
		"DC_DEMO": "true",
	}
}

// startStackAPI starts the dc-api the stack's exports and latency runs go
// through, on a database of its own.
func (b *bench) startStackAPI(ctx context.Context) error {
	var err error
	if b.stackDB, b.stackDSN, err = b.st.newDB(ctx); err != nil {
		return err
	}
	b.stackFiles = filepath.Join(b.work, "stack-files")
	b.stackAPI, b.stackC, err = b.startAPI(ctx, "api-stack", b.stackEnv(b.stackDSN))
	return err
}

// stopStackAPI stops the stack's dc-api and drops its database.
func (b *bench) stopStackAPI(ctx context.Context) {
	if b.stackAPI != nil {
		b.stackC.close()
		b.stackAPI.stop(stopGrace)
		b.stackAPI = nil
	}
	if b.stackDB != "" && b.st != nil {
		if err := b.st.dropDB(ctx, b.stackDB); err != nil {
			b.log.Warn("drop stack database", "err", err)
		}
		b.stackDB = ""
	}
}

// startWorkers starts n dc-workers in a new consumer group on the stack's
// database and returns once they have finished warm-up tasks, so the group
// owns every queue of the topic. A new group per start keeps a worker from
// inheriting another's queue assignment mid-rebalance.
func (b *bench) startWorkers(ctx context.Context, n int, extra map[string]string) ([]*proc, error) {
	seq := b.next()
	group := fmt.Sprintf("dc-bench-%s-g%d", b.tag, seq)
	var ws []*proc
	fail := func(err error) ([]*proc, error) {
		stopAll(ws)
		return nil, err
	}
	for i := range n {
		env := b.stackEnv(b.stackDSN)
		env["DC_ROCKETMQ_GROUP"] = group
		env["DC_WORKER_ID"] = fmt.Sprintf("bench-w%d-%d", seq, i+1)
		for k, v := range b.workerExtra {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		p, err := startProc(fmt.Sprintf("worker-%d-%d", seq, i+1), b.workerBin, b.logDir, env, b.cfg.ProcEnv)
		if err != nil {
			return fail(err)
		}
		ws = append(ws, p)
	}
	for _, p := range ws {
		if _, err := p.waitFor(ctx, workerStarted, startTimeout); err != nil {
			return fail(err)
		}
	}
	select {
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(settle):
	}
	body := createBody("warm-up", "csv", 1)
	for range warmups {
		t, err := b.stackC.create(ctx, body)
		if err != nil {
			return fail(err)
		}
		done, _, err := b.stackC.wait(ctx, t.ID, b.cfg.Poll, smallTimeout, task.finished, append(ws, b.stackAPI)...)
		if err != nil {
			return fail(fmt.Errorf("warm-up of worker group %s: %w", group, err))
		}
		if done.Status != "SUCCESS" {
			return fail(fmt.Errorf("warm-up of worker group %s: task ended %s: %s", group, done.Status, done.Error))
		}
	}
	return ws, nil
}

// stopAll stops processes side by side.
func stopAll(ps []*proc) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.stop(stopGrace) })
	}
	wg.Wait()
}

// latency measures create→EXECUTING: one task at a time, each waited out
// to SUCCESS so the workers are idle when the next is created. The
// latency is the server's own record, created_at (stamped by dc-api
// before its INSERT) to started_at (stamped by the worker's claim), both
// from this machine's clock, so polling adds nothing to it.
func (b *bench) latency(ctx context.Context) error {
	ws, err := b.startWorkers(ctx, 2, nil)
	if err != nil {
		return err
	}
	defer stopAll(ws)
	procs := append(ws, b.stackAPI)
	body := createBody("latency", "csv", 1)
	for run := 1; run <= b.cfg.Runs; run++ {
		server := make([]time.Duration, 0, b.cfg.LatencyTasks)
		seenBy := make([]time.Duration, 0, b.cfg.LatencyTasks)
		for range b.cfg.LatencyTasks {
			t0 := time.Now()
			t, err := b.stackC.create(ctx, body)
			if err != nil {
				return err
			}
			started, seen, err := b.stackC.wait(ctx, t.ID, b.cfg.Poll, smallTimeout,
				func(t task) bool { return t.StartedAt != nil || t.finished() }, procs...)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			if started.StartedAt == nil || started.Attempts != 1 {
				return fmt.Errorf("latency: task %d is %s after %d attempts without a start time", t.ID, started.Status, started.Attempts)
			}
			server = append(server, started.StartedAt.Sub(started.CreatedAt))
			seenBy = append(seenBy, seen.Sub(t0))
			done, _, err := b.stackC.wait(ctx, t.ID, b.cfg.Poll, smallTimeout, task.finished, procs...)
			if err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			if done.Status != "SUCCESS" {
				return fmt.Errorf("latency: task %d ended %s: %s", t.ID, done.Status, done.Error)
			}
		}
		p50, p99 := percentile(server, 50), percentile(server, 99)
		b.s.add(kLatP50, ms(p50))
		b.s.add(kLatP99, ms(p99))
		b.s.add(kLatMax, ms(percentile(server, 100)))
		b.s.add(kLatClient, ms(percentile(seenBy, 50)))
		b.logf("latency run %d/%d: %d tasks, p50 %s, p99 %s, max %s", run, b.cfg.Runs, len(server),
			p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), percentile(server, 100).Round(100*time.Microsecond))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// createPair measures one run of the throughput row: the API on a fresh
// database, then the raw loop on another (the order flips every other run).
func (b *bench) createPair(ctx context.Context, run int) error {
	var api, raw loadResult
	steps := []func() error{
		func() (err error) { api, err = b.apiLoad(ctx); return err },
		func() (err error) { raw, err = b.rawLoad(ctx); return err },
	}
	if run%2 == 0 {
		steps[0], steps[1] = steps[1], steps[0]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	ratio := api.perSecond() / raw.perSecond()
	b.s.add(kAPIRate, api.perSecond())
	b.s.add(kRawRate, raw.perSecond())
	b.s.add(kAPIP99, ms(percentile(api.latencies, 99)))
	b.s.add(kRawP99, ms(percentile(raw.latencies, 99)))
	b.s.add(kAPIErrors, float64(api.failed))
	b.s.add(kRawErrors, float64(raw.failed))
	b.s.add(kCreateRatio, ratio)
	b.logf("create run %d/%d: API %.0f/s (p99 %s, %d errors), raw %.0f/s (p99 %s, %d errors): %.0f%%",
		run, b.cfg.Runs, api.perSecond(), percentile(api.latencies, 99).Round(100*time.Microsecond), api.failed,
		raw.perSecond(), percentile(raw.latencies, 99).Round(100*time.Microsecond), raw.failed, ratio*100)
	for _, r := range []loadResult{api, raw} {
		if r.failed > 0 {
			b.log.Warn("create load had errors", "failed", r.failed, "first", r.firstErr)
		}
	}
	return nil
}

// apiLoad runs the create load against a dc-api of its own.
func (b *bench) apiLoad(ctx context.Context) (loadResult, error) {
	name, dsn, err := b.st.newDB(ctx)
	if err != nil {
		return loadResult{}, err
	}
	defer func() { _ = b.st.dropDB(ctx, name) }()
	p, c, err := b.startAPI(ctx, "api-create-"+strconv.Itoa(b.next()), b.stackEnv(dsn))
	if err != nil {
		return loadResult{}, err
	}
	defer p.stop(stopGrace)
	defer c.close()
	body := createBody("create", "csv", 1)
	r := runLoad(ctx, b.cfg.Concurrency, b.cfg.Warmup, b.cfg.Duration, func(ctx context.Context) error {
		_, err := c.create(ctx, body)
		return err
	})
	if err := p.alive(); err != nil {
		return loadResult{}, err
	}
	if r.ok == 0 {
		return loadResult{}, fmt.Errorf("api create load: nothing succeeded: %w", r.firstErr)
	}
	return r, nil
}

// rawLoad runs the raw INSERT + send loop in this process.
func (b *bench) rawLoad(ctx context.Context) (loadResult, error) {
	name, dsn, err := b.st.newDB(ctx)
	if err != nil {
		return loadResult{}, err
	}
	defer func() { _ = b.st.dropDB(ctx, name) }()
	rc, err := newRawCreator(ctx, dsn, b.cfg.Namesrv, b.st.topic, b.log)
	if err != nil {
		return loadResult{}, err
	}
	defer rc.close()
	r := runLoad(ctx, b.cfg.Concurrency, b.cfg.Warmup, b.cfg.Duration, rc.create)
	if r.ok == 0 {
		return loadResult{}, fmt.Errorf("raw create load: nothing succeeded: %w", r.firstErr)
	}
	return r, nil
}
