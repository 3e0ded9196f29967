// Command dc-worker runs exports: it consumes task intents from RocketMQ,
// claims each task in MySQL and writes its file to the shared volume. Run
// any number of them; each records its DC_WORKER_ID on the tasks it runs.
// It serves /healthz, /readyz and /metrics on DC_WORKER_HTTP_ADDR.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/downloadcenter/dc/cmd/internal/app"
	"github.com/downloadcenter/dc/infra/httpapi"
	"github.com/downloadcenter/dc/infra/prom"
	"github.com/downloadcenter/dc/infra/rocketmq"
)

func main() { app.Main("dc-worker", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := app.Parse("dc-worker", args, getenv, stdout)
	if err != nil {
		return err
	}
	if cfg.Embedded() || cfg.InProcessQueue() {
		return errors.New("dc-worker needs a shared database and queue: set DC_MYSQL_DSN and DC_ROCKETMQ_NAMESRV " +
			"(for one process with no services, run dc-api alone: it embeds the worker)")
	}
	log := cfg.Logger(stdout, "worker").With("worker", cfg.WorkerID)
	core, err := app.Open(ctx, cfg, getenv, log)
	if err != nil {
		return err
	}
	defer core.Close()
	metrics := prom.New()
	runner := core.Runner()
	// One slot semaphore for both ways a task reaches this worker: an
	// intent from the broker, and the idle claimer taking the oldest
	// waiting task from the database whenever a slot is free. The topic's
	// queues cap how many workers get intents; the claimer keeps the rest
	// (and any worker a busy one holds intents from) working.
	slots := make(chan struct{}, cfg.WorkerSlots)
	runner.Observe = metrics
	metrics.WatchSlots(cfg.WorkerSlots, runner.Running)
	consumer, err := rocketmq.NewConsumer(rocketmq.Config{
		NameServer: cfg.RocketMQNamesrv, Topic: cfg.RocketMQTopic, Group: cfg.RocketMQGroup,
		Slots: cfg.WorkerSlots, SharedSlots: slots, InstanceName: cfg.WorkerID,
	}, runner.Run, log)
	if err != nil {
		return err
	}

	// The probe listener comes up before the consumer starts: liveness
	// answers at once, readiness once the consumer takes intents.
	ln, err := net.Listen("tcp", cfg.WorkerHTTPAddr)
	switch {
	case err != nil && explicitAddr(args, getenv):
		return fmt.Errorf("listen on %s (DC_WORKER_HTTP_ADDR): %w", cfg.WorkerHTTPAddr, err)
	case err != nil:
		// Several workers on one machine (development) all default to
		// :8081: only the first gets it. A configured address must work.
		log.Warn("no /healthz, /readyz or /metrics: the default DC_WORKER_HTTP_ADDR is taken; set one per worker", "addr", cfg.WorkerHTTPAddr, "err", err)
	default:
		stop := serveProbes(ctx, ln, core, consumer, metrics, log)
		defer stop()
	}

	if err := consumer.Start(); err != nil {
		return err
	}
	claimer := core.IdleClaimer(runner, slots)
	claimed := make(chan struct{})
	go func() {
		defer close(claimed)
		app.Consume(ctx, cfg.ShutdownGrace, claimer.Run)
	}()
	log.Info("worker started", "slots", cfg.WorkerSlots, "idle_poll", cfg.IdlePoll, "http", cfg.WorkerHTTPAddr)
	<-ctx.Done()
	log.Info("worker shutting down", "grace", cfg.ShutdownGrace)
	// Shutdown stops taking intents and claiming tasks, lets running
	// exports finish within the grace, then cancels them: the runner hands
	// their tasks back.
	graceCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownGrace)
	defer cancel()
	if err := consumer.Shutdown(graceCtx); err != nil {
		log.Warn("consumer shutdown", "err", err)
	}
	<-claimed
	return nil
}

// explicitAddr reports whether DC_WORKER_HTTP_ADDR was set, by flag or
// environment, rather than defaulted.
func explicitAddr(args []string, getenv func(string) string) bool {
	if getenv("DC_WORKER_HTTP_ADDR") != "" {
		return true
	}
	for _, a := range args {
		if strings.HasPrefix(strings.TrimLeft(a, "-"), "worker-http-addr") {
			return true
		}
	}
	return false
}

// serveProbes serves /healthz, /readyz and /metrics on ln until the
// returned stop is called.
func serveProbes(ctx context.Context, ln net.Listener, core *app.Core, consumer *rocketmq.Consumer, metrics *prom.Metrics, log *slog.Logger) (stop func()) {
	probes := &http.Server{
		Handler: httpapi.ProbeMux([]httpapi.Check{
			{Name: "database", Probe: core.Store.Ping},
			{Name: "broker", Probe: consumer.Ready},
		}, metrics.Handler(), log),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		if err := probes.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("probe listener stopped", "err", err)
		}
	}()
	log.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = probes.Shutdown(sctx)
	}
}
