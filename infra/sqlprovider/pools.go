package sqlprovider

import (
	"database/sql"
	"errors"
	"sync"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// Pool defaults. An export reads one batch at a time, so a worker running
// a few exports against one database needs few connections, and a small
// bound keeps a burst of exports from crowding the business database.
const (
	DefaultMaxOpen     = 4
	DefaultMaxIdle     = 2
	DefaultMaxLifetime = 10 * time.Minute
	DefaultMaxIdleTime = 2 * time.Minute
	// DefaultDialTimeout applies when the DSN sets no "timeout".
	DefaultDialTimeout = 10 * time.Second
)

// PoolLimits bounds each connection pool; zero fields take the defaults.
type PoolLimits struct {
	MaxOpen     int
	MaxIdle     int
	MaxLifetime time.Duration
	MaxIdleTime time.Duration
}

func (l PoolLimits) withDefaults() PoolLimits {
	if l.MaxOpen <= 0 {
		l.MaxOpen = DefaultMaxOpen
	}
	if l.MaxIdle <= 0 {
		l.MaxIdle = DefaultMaxIdle
	}
	l.MaxIdle = min(l.MaxIdle, l.MaxOpen)
	if l.MaxLifetime <= 0 {
		l.MaxLifetime = DefaultMaxLifetime
	}
	if l.MaxIdleTime <= 0 {
		l.MaxIdleTime = DefaultMaxIdleTime
	}
	return l
}

// Pools holds one connection pool per database and time zone, shared by
// every export type that reads that database in that zone (the zone is a
// session setting, so it is part of the connection). It is safe for
// concurrent use.
type Pools struct {
	limits PoolLimits

	mu     sync.Mutex
	dbs    map[poolKey]*sql.DB
	closed bool
}

type poolKey struct {
	dsn, zone string
}

// errPoolsClosed is returned by New after Close.
var errPoolsClosed = errors.New("connection pools are closed")

// NewPools returns an empty set of pools bounded by limits.
func NewPools(limits PoolLimits) *Pools {
	return &Pools{limits: limits.withDefaults(), dbs: make(map[poolKey]*sql.DB)}
}

// db returns the pool for a DSN and zone, opening it on first use. Opening
// does not connect, so a database that is down at startup fails the tasks
// that read it (and they retry), not the process.
func (p *Pools) db(dsn string, z zone, cfg *mysqldriver.Config) (*sql.DB, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolsClosed
	}
	key := poolKey{dsn: dsn, zone: z.session}
	if db, ok := p.dbs[key]; ok {
		return db, nil
	}
	conn, err := newWireConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(p.limits.MaxOpen)
	db.SetMaxIdleConns(p.limits.MaxIdle)
	db.SetConnMaxLifetime(p.limits.MaxLifetime)
	db.SetConnMaxIdleTime(p.limits.MaxIdleTime)
	p.dbs[key] = db
	return db, nil
}

// Close closes every pool. Providers made from p fail afterwards.
func (p *Pools) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	var errs []error
	for k, db := range p.dbs {
		errs = append(errs, db.Close())
		delete(p.dbs, k)
	}
	return errors.Join(errs...)
}

// connConfig is the driver config a provider's pool uses: the DSN's, with
// the settings the provider depends on forced. Times arrive as the
// server's text (parseTime off), in the configured zone, which is also the
// session time_zone: the export rewrites that text into its own without
// building a time.Time per value, and the typed path parses it in the
// zone. Params are interpolated by the driver, which escapes them (it
// refuses to for the multibyte charsets where escaping is unsafe), so a
// batch is one round trip in the text protocol; one statement at a time.
func connConfig(cfg *mysqldriver.Config, z zone) *mysqldriver.Config {
	c := cfg.Clone()
	c.ParseTime = false
	c.Loc = z.loc
	c.InterpolateParams = true
	c.MultiStatements = false
	if c.Timeout == 0 {
		c.Timeout = DefaultDialTimeout
	}
	if c.DialFunc == nil && c.Net == "tcp" {
		c.DialFunc = dialBuffered(c.Timeout)
	}
	if c.Params == nil {
		c.Params = make(map[string]string)
	}
	// The driver sends Params as "SET name = value"; loadZone admits only
	// names that are safe inside the quotes.
	c.Params["time_zone"] = "'" + z.session + "'"
	return c
}
