// Command bench measures Download Center as its users meet it — real
// dc-api and dc-worker processes driven over HTTP — against plain programs
// doing the same work, and prints one table: xlsx and csv export speed,
// peak memory, create→EXECUTING latency and create throughput, each with
// its target. Every figure is a ratio of two things measured in the same
// run on the same machine, repeated (-runs) and reported as medians, since
// absolute times on a shared machine mean little. docs/BENCHMARKS.md
// explains the rows and records a full run.
//
//	go run ./cmd/bench            # full sizes; needs MariaDB + RocketMQ (make services-up)
//	go run ./cmd/bench -quick     # a smoke run in about a minute
//	go run ./cmd/bench -stack=false -only xlsx,csv,rss   # embedded parts only
package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/downloadcenter/dc/cmd/internal/app"
)

func main() { app.Main("bench", run) }

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := parseConfig(args, getenv, stdout)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, b.close(ctx, err != nil)) }()
	started := time.Now()
	if err := b.measure(ctx); err != nil {
		return err
	}
	b.report(started)
	return nil
}
