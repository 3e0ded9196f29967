package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/csv"
	"github.com/downloadcenter/dc/infra/localfs"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/xlsx"
)

// Embedded reports whether the database is the embedded SQLite file.
func (c Config) Embedded() bool { return c.MySQLDSN == "" }

// InProcessQueue reports whether intents go through the in-process queue
// (and so the api process runs the worker too).
func (c Config) InProcessQueue() bool { return c.RocketMQNamesrv == "" }

// Core is the adapters both binaries need, wired.
type Core struct {
	Config    Config
	Store     *mysql.Store
	Files     *localfs.Store
	Providers domain.Registry
	Log       *slog.Logger
	providers *Providers
}

// Open loads the providers and connects the store and the file volume.
func Open(ctx context.Context, cfg Config, getenv func(string) string, log *slog.Logger) (*Core, error) {
	provs, err := LoadProviders(ctx, cfg.ProvidersFile, cfg.Embedded() || cfg.Demo, getenv, log)
	if err != nil {
		return nil, err
	}
	core, err := open(ctx, cfg, log)
	if err != nil {
		_ = provs.Close()
		return nil, err
	}
	core.Providers, core.providers = provs.Registry, provs
	return core, nil
}

func open(ctx context.Context, cfg Config, log *slog.Logger) (*Core, error) {
	var store *mysql.Store
	var err error
	if cfg.Embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		store, err = mysql.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "dc.db"), log)
	} else {
		store, err = openMySQLRetrying(ctx, cfg.MySQLDSN, log)
	}
	if err != nil {
		return nil, err
	}
	files, err := localfs.New(cfg.StorageDir)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return &Core{Config: cfg, Store: store, Files: files, Log: log}, nil
}

// openMySQLRetrying waits for a database that is still starting (a
// container started beside it, a restart) for up to a minute.
func openMySQLRetrying(ctx context.Context, dsn string, log *slog.Logger) (*mysql.Store, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := mysql.OpenMySQL(ctx, dsn, log)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return s, err
		}
		log.Warn("database not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// Close releases the store and the providers' connections.
func (c *Core) Close() error { return errors.Join(c.Store.Close(), c.providers.Close()) }

// Writers returns the file writers by format.
func (c *Core) Writers() map[domain.Format]domain.SheetWriterFactory {
	sheetRows := c.Config.SheetRows
	return map[domain.Format]domain.SheetWriterFactory{
		domain.FormatXLSX: func(w io.Writer, cols []domain.SheetColumn) (domain.SheetWriter, error) {
			return xlsx.NewWithOptions(w, cols, xlsx.Options{SheetRows: sheetRows})
		},
		domain.FormatCSV: csv.Factory(csv.Options{KeepFormulas: !c.Config.CSVFormulaEscape}),
	}
}

// RetryPolicy is the configured retry policy.
func (c *Core) RetryPolicy() domain.RetryPolicy {
	return domain.RetryPolicy{MaxAttempts: c.Config.MaxAttempts, Backoff: c.Config.RetryBackoff, MaxBackoff: time.Hour}
}

// Tasks is the client-facing use cases.
func (c *Core) Tasks(sender domain.IntentSender) *domain.Tasks {
	return &domain.Tasks{Store: c.Store, Sender: sender, Providers: c.Providers, Now: now, Log: c.Log}
}

// SentBatcher records sent intents in batches, well within the
// scheduler's UnsentAfter.
func (c *Core) SentBatcher() *domain.SentBatcher {
	return &domain.SentBatcher{Store: c.Store, Every: 100 * time.Millisecond, Now: now, Log: c.Log}
}

// Runner is the worker's task runner.
func (c *Core) Runner() *domain.Runner {
	hb := min(time.Second, c.Config.LeaseTTL/3)
	return &domain.Runner{
		Store: c.Store, Providers: c.Providers, Files: c.Files, Writers: c.Writers(), Retry: c.RetryPolicy(),
		Worker: c.Config.WorkerID, BatchSize: c.Config.BatchSize, LeaseTTL: c.Config.LeaseTTL,
		HeartbeatEvery: hb, FinishRetryFor: c.Config.LeaseTTL, Now: now, Log: c.Log,
	}
}

// Scheduler is the sweeping job.
func (c *Core) Scheduler(sender domain.IntentSender) *domain.Scheduler {
	return &domain.Scheduler{
		Store: c.Store, Sender: sender, Files: c.Files, Retry: c.RetryPolicy(),
		UnsentAfter: 2 * time.Second, ResendAfter: 10 * time.Minute,
		TempMaxAge: 6 * time.Hour, Batch: 100, Now: now, Log: c.Log,
	}
}

func now() time.Time { return time.Now().UTC() }

// Consume runs consume until ctx ends (a shutdown signal), then lets the
// handlers it started finish for up to grace before cancelling their work
// context, so runners hand unfinished tasks back.
func Consume(ctx context.Context, grace time.Duration, consume func(stop, work context.Context)) {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	done := make(chan struct{})
	go func() {
		defer close(done)
		consume(ctx, work)
	}()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		cancelWork()
		<-done
	}
}
