package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/csv"
	"github.com/downloadcenter/dc/infra/httpapi"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/webhook"
	"github.com/downloadcenter/dc/infra/xlsx"
)

// Embedded reports whether the database is the embedded SQLite file.
func (c Config) Embedded() bool { return c.MySQLDSN == "" }

// InProcessQueue reports whether intents go through the in-process queue
// (and so the api process runs the worker too).
func (c Config) InProcessQueue() bool { return c.RocketMQNamesrv == "" }

// Core is the adapters both binaries need, wired.
type Core struct {
	Config Config
	Store  *mysql.Store
	Files  domain.FileStore
	// Links is the file store when downloads redirect to it (a bucket
	// clients can reach); nil when they stream through dc-api.
	Links     domain.FileLinker
	Providers domain.Registry
	Log       *slog.Logger
	providers *Providers
	tenants   *domain.Tenants
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
	files, err := openFiles(ctx, cfg, log)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return &Core{Config: cfg, Store: store, Files: files.files, Links: files.links, Log: log}, nil
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

// Tasks is the client-facing use cases, under the tenants' limits.
func (c *Core) Tasks(sender domain.IntentSender) *domain.Tasks {
	return &domain.Tasks{
		Store: c.Store, Sender: sender, Providers: c.Providers, Now: c.Store.Now, Log: c.Log,
		Gate: c.Tenants(), Files: c.Files, FileTTL: c.Config.FileTTL,
	}
}

// Changes is this replica's feed of task changes for the page's live
// events.
func (c *Core) Changes() *domain.Changes {
	return &domain.Changes{Store: c.Store, Now: c.Store.Now, Every: c.Config.EventsPoll, FileTTL: c.Config.FileTTL, Log: c.Log}
}

// cacheTTL is how long a replica trusts what it read of a key or a
// tenant's limits: a revocation or a limit change applies everywhere
// within it (the issue asks for 5 s).
const cacheTTL = 2 * time.Second

// Tenants is the per-tenant limits, one instance per process (it holds
// the create-rate buckets).
func (c *Core) Tenants() *domain.Tenants {
	if c.tenants == nil {
		c.tenants = NewTenants(c.Store, c.Config)
	}
	return c.tenants
}

// NewTenants is the limits with the configured defaults.
func NewTenants(store domain.TenantStore, cfg Config) *domain.Tenants {
	return &domain.Tenants{Store: store, CacheTTL: cacheTTL, Now: now, Defaults: domain.Limits{
		MaxActive: int64(cfg.TenantMaxActive), CreatesPerMinute: int64(cfg.TenantCreatesPerMinute),
		MaxRows: int64(cfg.MaxRows), MaxFileBytes: int64(cfg.MaxFileBytes),
	}}
}

// Keys is the API keys.
func NewKeys(store domain.KeyStore) *domain.Keys {
	return &domain.Keys{Store: store, Now: now, CacheTTL: cacheTTL}
}

// SentBatcher records sent intents in batches, well within the
// scheduler's UnsentAfter.
func (c *Core) SentBatcher() *domain.SentBatcher {
	return &domain.SentBatcher{Store: c.Store, Every: 100 * time.Millisecond, Log: c.Log}
}

// Runner is the worker's task runner.
func (c *Core) Runner() *domain.Runner {
	hb := min(time.Second, c.Config.LeaseTTL/3)
	return &domain.Runner{
		Store: c.Store, Providers: c.Providers, Files: c.Files, Writers: c.Writers(), Retry: c.RetryPolicy(),
		Worker: c.Config.WorkerID, BatchSize: c.Config.BatchSize, LeaseTTL: c.Config.LeaseTTL,
		HeartbeatEvery: hb, FinishRetryFor: c.Config.LeaseTTL, StallTimeout: c.Config.StallTimeout,
		Limits: c.Tenants(), Now: c.Store.Now, Log: c.Log,
	}
}

// IdleClaimer keeps the worker's slots busy from the database; slots is
// the semaphore it shares with the intent consumer.
func (c *Core) IdleClaimer(runner *domain.Runner, slots chan struct{}) *domain.IdleClaimer {
	return &domain.IdleClaimer{Runner: runner, Store: c.Store, Slots: slots, Every: c.Config.IdlePoll, Log: c.Log}
}

// Scheduler is the sweeping job.
func (c *Core) Scheduler(sender domain.IntentSender) *domain.Scheduler {
	return &domain.Scheduler{
		Store: c.Store, Sender: sender, Files: c.Files, Retry: c.RetryPolicy(),
		UnsentAfter: 2 * time.Second,
		TempMaxAge:  6 * time.Hour, Batch: 100, Now: c.Store.Now, Log: c.Log,
		Retention: &domain.Retention{
			Store: c.Store, Files: c.Files, Lister: orphanLister(c.Files), FileTTL: c.Config.FileTTL, TaskTTL: c.Config.TaskTTL,
			OrphanGrace: c.Config.OrphanGrace, Batch: 100, Now: c.Store.Now, Log: c.Log,
		},
	}
}

// Webhooks is the webhook endpoints' use cases.
func (c *Core) Webhooks() *domain.Webhooks {
	return &domain.Webhooks{Store: c.Store, Targets: &webhook.Targets{AllowPrivate: c.Config.AllowPrivateWebhooks()}, Now: c.Store.Now}
}

// Dispatcher delivers webhook events; links signs the file links of the
// task JSON it sends, as the API's answers do.
func (c *Core) Dispatcher(tasks *domain.Tasks, links *httpapi.Links) *domain.Dispatcher {
	return &domain.Dispatcher{
		Store: c.Store, Sender: webhook.New(webhook.Config{AllowPrivate: c.Config.AllowPrivateWebhooks()}),
		Payload: func(t *domain.Task) (json.RawMessage, error) { return httpapi.TaskJSON(links, tasks.Present(t)) },
		Backoff: c.Config.WebhookBackoff, MaxBackoff: time.Hour, RetryFor: c.Config.WebhookRetryFor,
		Every: time.Second, Concurrency: 16, PerEndpoint: 4,
		// Longer than a send (10 s) and its record can take.
		Lease: time.Minute, KeepFor: 7 * 24 * time.Hour, Now: c.Store.Now, Log: c.Log,
	}
}

// orphanLister is the store's lister of orphaned files, when it has one (the
// volume does; a bucket's unreferenced objects are left to its lifecycle rules).
func orphanLister(files domain.FileStore) domain.FileLister {
	l, _ := files.(domain.FileLister)
	return l
}

// OpenDB opens just the database, for the admin subcommands.
func OpenDB(ctx context.Context, cfg Config, log *slog.Logger) (*mysql.Store, error) {
	if cfg.Embedded() {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		return mysql.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "dc.db"), log)
	}
	return mysql.OpenMySQL(ctx, cfg.MySQLDSN, log)
}

// LinkSecret is the key signing download links: DC_LINK_SECRET, or in the
// embedded mode a random one generated at first start and kept in the
// data dir (so links survive a restart). The MySQL mode runs several
// replicas, which must share one: there it is required.
func LinkSecret(cfg Config) ([]byte, error) {
	if cfg.LinkSecret != "" {
		return []byte(cfg.LinkSecret), nil
	}
	if !cfg.Embedded() {
		return nil, errors.New("DC_LINK_SECRET is required with DC_MYSQL_DSN (the same secret of at least 32 characters on every dc-api; e.g. openssl rand -hex 32)")
	}
	path := filepath.Join(cfg.DataDir, "link.secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read link secret: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("make link secret: %w", err)
	}
	secret := []byte(hex.EncodeToString(raw[:]))
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// O_EXCL: two processes starting at once agree on the first one written.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		time.Sleep(100 * time.Millisecond)
		b, rerr := os.ReadFile(path)
		if rerr != nil || len(b) < 32 {
			return nil, fmt.Errorf("read link secret %s: it is shorter than 32 bytes or unreadable", path)
		}
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("write link secret: %w", err)
	}
	if _, err := f.Write(secret); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write link secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write link secret: %w", err)
	}
	return secret, nil
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
