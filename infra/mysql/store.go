// Package mysql is the task store: GORM over MySQL/MariaDB in production,
// and over SQLite (pure Go, no cgo) in the embedded mode and in tests. One
// code path serves both so the repository tests prove both.
package mysql

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/glebarez/sqlite"
	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/pressly/goose/v3"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/downloadcenter/dc/domain"
)

//go:embed migrations
var migrations embed.FS

// Store keeps tasks in a SQL database.
type Store struct {
	db *gorm.DB
	// clock is the database's clock (MySQL); nil means the local one.
	clock *dbClock
}

// OpenMySQL connects to MySQL or MariaDB and applies pending migrations.
// The DSN is the go-sql-driver form (user:pw@tcp(host:3306)/db); times
// are forced to UTC, parameters are interpolated by the driver, and found
// rows are counted so that an update that matches a row but changes
// nothing is not mistaken for a lost race.
func OpenMySQL(ctx context.Context, dsn string, log *slog.Logger) (*Store, error) {
	cfg, err := mysqlConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	// Interpolating parameters in the driver (it escapes for the
	// connection's charset) saves the prepare and close round trips of a
	// server-side statement: it doubled create throughput (BENCHMARKS.md).
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	db, err := gorm.Open(gormmysql.Open(cfg.FormatDSN()), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open mysql %s/%s: %w", cfg.Addr, cfg.DBName, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open mysql: %w", err)
	}
	sqlDB.SetMaxOpenConns(50)
	sqlDB.SetMaxIdleConns(50)
	sqlDB.SetConnMaxLifetime(5 * time.Minute)
	if err := migrate(ctx, sqlDB, goose.DialectMySQL, "migrations/mysql", &mysqlLocker{}, log); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	s := &Store{db: db, clock: &dbClock{local: time.Now}}
	if err := s.syncClock(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// Network timeouts a DSN gets unless it sets its own: without them a
// half-open connection (a database host gone, a dropped NAT entry) stalls
// its caller until the kernel gives up, 15 minutes on Linux.
const (
	defaultDialTimeout  = 10 * time.Second
	defaultReadTimeout  = 30 * time.Second
	defaultWriteTimeout = 30 * time.Second
)

// mysqlConfig parses dsn and sets what the store relies on: UTC times,
// interpolated parameters, found rows, and network timeouts.
func mysqlConfig(dsn string) (*mysqldriver.Config, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse mysql dsn: %w", err)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultDialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = defaultReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = defaultWriteTimeout
	}
	return cfg, nil
}

// OpenSQLite opens (creating when missing) an SQLite database file and
// applies pending migrations.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (*Store, error) {
	// WAL lets readers run beside the writer; busy_timeout makes writers
	// wait for each other instead of failing; the time format keeps stored
	// times comparable as text.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	db, err := gorm.Open(sqlite.Open(dsn), gormConfig())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	sqlDB.SetMaxOpenConns(4)
	if err := migrate(ctx, sqlDB, goose.DialectSQLite3, "migrations/sqlite", nil, log); err != nil {
		_ = sqlDB.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

func gormConfig() *gorm.Config {
	return &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	}
}

// migrate applies the embedded migrations of one dialect. With a locker,
// the whole run holds a lock on a connection of its own: goose's own
// session locker covers only Up, while its pending-migrations check
// creates the version table unlocked, so two processes starting at once
// on an empty database could see the table without its first row
// ("missing zero version migration").
func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, locker *mysqlLocker, log *slog.Logger) error {
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if locker != nil {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		defer conn.Close()
		if err := locker.SessionLock(ctx, conn); err != nil {
			return err
		}
		defer func() { _ = locker.SessionUnlock(context.WithoutCancel(ctx), conn) }()
	}
	p, err := goose.NewProvider(dialect, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range res {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path)
	}
	return nil
}

// mysqlLocker serialises migrations across processes starting at once
// with a named lock held by the migrating session.
type mysqlLocker struct{}

const migrationLock = "download_center_migrations"

func (mysqlLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 120)", migrationLock).Scan(&got); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	if got.Int64 != 1 {
		return errors.New("take migration lock: timed out after 120s")
	}
	return nil
}

func (mysqlLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK(?)", migrationLock); err != nil {
		return fmt.Errorf("release migration lock: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// taskRow is the tasks table's row.
type taskRow struct {
	ID              int64 `gorm:"primaryKey"`
	Tenant          string
	Owner           string
	Name            string
	Type            string
	Format          string
	Params          string
	ColumnDefs      string
	Status          string
	Attempts        int
	Error           string
	Permanent       bool
	RowsWritten     int64
	RowsTotal       int64
	FileName        *string
	FileSize        int64
	FileRows        int64
	FileSheets      int
	FileRemovedAt   *time.Time
	WorkerID        string
	CancelRequested bool
	LeaseUntil      *time.Time
	NextAttemptAt   *time.Time
	IntentSentAt    *time.Time
	IdempotencyKey  *string
	RequestHash     string
	CreatedAt       time.Time `gorm:"autoCreateTime:false"`
	StartedAt       *time.Time
	FinishedAt      *time.Time
	UpdatedAt       time.Time `gorm:"autoUpdateTime:false"`
}

func (taskRow) TableName() string { return "tasks" }

// maxErrorLen bounds the stored error text (a TEXT column holds 64 KiB).
const maxErrorLen = 4000

func toRow(t *domain.Task) (*taskRow, error) {
	cols, err := json.Marshal(t.Columns)
	if err != nil {
		return nil, fmt.Errorf("encode columns: %w", err)
	}
	r := &taskRow{
		ID: t.ID, Tenant: t.Tenant, Owner: t.Owner, Name: t.Name, Type: t.Type, Format: string(t.Format), Params: string(t.Params),
		ColumnDefs: string(cols), Status: string(t.Status), Attempts: t.Attempts, Error: t.Error,
		Permanent: t.Permanent, RowsWritten: t.RowsWritten, RowsTotal: t.RowsTotal,
		WorkerID: t.WorkerID, CancelRequested: t.CancelRequested, LeaseUntil: utc(t.LeaseUntil),
		NextAttemptAt: utc(t.NextAttemptAt), IntentSentAt: utc(t.IntentSentAt), RequestHash: t.RequestHash,
		CreatedAt: t.CreatedAt.UTC(), StartedAt: utc(t.StartedAt), FinishedAt: utc(t.FinishedAt),
		UpdatedAt: t.UpdatedAt.UTC(),
	}
	if t.IdempotencyKey != "" {
		k := t.IdempotencyKey
		r.IdempotencyKey = &k
	}
	if t.File != nil {
		n := t.File.Name
		r.FileName, r.FileSize, r.FileRows, r.FileSheets = &n, t.File.Size, t.File.Rows, t.File.Sheets
		r.FileRemovedAt = utc(t.File.RemovedAt)
	}
	return r, nil
}

func fromRow(r *taskRow) (*domain.Task, error) {
	t := &domain.Task{
		ID: r.ID, Tenant: r.Tenant, Owner: r.Owner, Name: r.Name, Type: r.Type, Format: domain.Format(r.Format), Params: json.RawMessage(r.Params),
		Status: domain.Status(r.Status), Attempts: r.Attempts, Error: r.Error, Permanent: r.Permanent,
		RowsWritten: r.RowsWritten, RowsTotal: r.RowsTotal, WorkerID: r.WorkerID,
		CancelRequested: r.CancelRequested, LeaseUntil: utc(r.LeaseUntil), NextAttemptAt: utc(r.NextAttemptAt),
		IntentSentAt: utc(r.IntentSentAt), RequestHash: r.RequestHash, CreatedAt: r.CreatedAt.UTC(),
		StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if err := json.Unmarshal([]byte(r.ColumnDefs), &t.Columns); err != nil {
		return nil, fmt.Errorf("decode columns of task %d: %w", r.ID, err)
	}
	if r.IdempotencyKey != nil {
		t.IdempotencyKey = *r.IdempotencyKey
	}
	if r.FileName != nil {
		t.File = &domain.FileInfo{Name: *r.FileName, Size: r.FileSize, Rows: r.FileRows, Sheets: r.FileSheets, RemovedAt: utc(r.FileRemovedAt)}
	}
	return t, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func statuses(ss []domain.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}
