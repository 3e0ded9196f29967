// Command dc-worker runs exports: it consumes task intents from RocketMQ,
// claims each task in MySQL and writes its file to the shared volume. Run
// any number of them; each records its DC_WORKER_ID on the tasks it runs.
package main

import (
	"context"
	"errors"
	"io"

	"github.com/downloadcenter/dc/cmd/internal/app"
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
	runner := core.Runner()
	// One slot semaphore for both ways a task reaches this worker: an
	// intent from the broker, and the idle claimer taking the oldest
	// waiting task from the database whenever a slot is free. The topic's
	// queues cap how many workers get intents; the claimer keeps the rest
	// (and any worker a busy one holds intents from) working.
	slots := make(chan struct{}, cfg.WorkerSlots)
	consumer, err := rocketmq.NewConsumer(rocketmq.Config{
		NameServer: cfg.RocketMQNamesrv, Topic: cfg.RocketMQTopic, Group: cfg.RocketMQGroup,
		Slots: cfg.WorkerSlots, SharedSlots: slots, InstanceName: cfg.WorkerID,
	}, runner.Run, log)
	if err != nil {
		return err
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
	log.Info("worker started", "slots", cfg.WorkerSlots, "idle_poll", cfg.IdlePoll)
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
