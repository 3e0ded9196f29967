// Package sqlprovider serves export types declared as SQL named queries
// against MySQL or MariaDB, so a new export needs a few lines of YAML
// instead of code.
//
// Each export type is one SELECT with :name params. Params are checked by
// kind when a task is created. On the business contract's path (Fetch,
// Count, Check) they are bound as ? placeholders, which the driver fills
// in itself, escaping each value for the connection (go-sql-driver's
// interpolateParams, as the task store does), so a batch is one text
// protocol query and its rows come as text, which is what an export
// writes. The runner's path (FetchText, StreamText) reads the result off
// the socket itself (wire.go) and sends the query with its values written
// as literals of a fixed grammar: integers, decimals and times as digits,
// strings quoted with quotes doubled; a string holding a backslash (which
// means different things under different sql_modes) sends that batch
// through the driver instead (sqlLiteral).
//
// Rows are read by keyset paging on a unique key column: the query is
// wrapped as a derived table,
//
//	SELECT <columns> FROM (<query>) AS dc_q WHERE dc_q.key > ? ORDER BY dc_q.key LIMIT ?
//
// which MariaDB and MySQL merge into the query when it is simple, so each
// batch is an index range scan however deep the export is. (A query with
// GROUP BY, DISTINCT or LIMIT cannot be merged; the servers then push the
// key condition into it where they can, else every batch re-runs it.) A
// stream (stream.go) reads a window of many batches with one such query.
//
// Statements are bounded by a client-side timeout; a cancelled statement
// runs on in the server until it next writes to the closed connection. To
// also stop it there, set a server cap in the DSN, which the driver sends
// as a session variable: "max_statement_time=60" (MariaDB, seconds) or
// "max_execution_time=60000" (MySQL, ms). Use a read-only account.
package sqlprovider

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/downloadcenter/dc/domain"
	mysqldriver "github.com/go-sql-driver/mysql"
)

// Batch limits, as in the other providers.
const (
	// DefaultLimit is the batch size when a request asks for none.
	DefaultLimit = 1000
	// MaxLimit bounds a batch so one Fetch cannot allocate without limit.
	MaxLimit = 100_000
	// rowsPerBlock is how many rows' values share one allocation.
	rowsPerBlock = 1024
)

// Provider serves one export type from a SQL query. It implements
// domain.Provider and domain.Counter and is safe for concurrent use.
type Provider struct {
	typ     string
	fields  []domain.Field
	cols    []Column
	keyIdx  int
	intKey  bool
	params  map[string]Param
	names   []string // the param bound at each placeholder, in order
	query   query    // the user's query, for statements with literals (wire path)
	key     string
	stmts   statements
	timeout time.Duration
	zone    zone
	db      *sql.DB
	red     redactor
}

// New checks cfg, resolves its DSN (reading cfg.DSNEnv through getenv) and
// returns its provider, with its connection pool taken from pools. It does
// not connect; Check does.
func New(cfg Config, pools *Pools, getenv func(string) string) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pools == nil {
		return nil, fmt.Errorf("sql export type %q: no connection pools", cfg.Type)
	}
	dsn := cfg.DSN
	if cfg.DSNEnv != "" {
		if getenv == nil {
			return nil, fmt.Errorf("sql export type %q: dsn_env is set but no environment was given", cfg.Type)
		}
		if dsn = getenv(cfg.DSNEnv); dsn == "" {
			return nil, fmt.Errorf("sql export type %q: environment variable %s (dsn_env) is empty or unset", cfg.Type, cfg.DSNEnv)
		}
	}
	dcfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("sql export type %q: dsn: %s", cfg.Type, newRedactor(dsn, nil).clean(err.Error()))
	}
	red := newRedactor(dsn, dcfg)
	z, _ := loadZone(cfg.TimeZone) // checked by Validate
	db, err := pools.db(dsn, z, connConfig(dcfg, z))
	if err != nil {
		return nil, fmt.Errorf("sql export type %q: open pool: %s", cfg.Type, red.clean(err.Error()))
	}

	q, _ := parseQuery(cfg.Query) // checked by Validate
	p := &Provider{
		typ:     cfg.Type,
		cols:    append([]Column(nil), cfg.Columns...),
		params:  make(map[string]Param, len(cfg.Params)),
		names:   q.names,
		query:   q,
		key:     cfg.Key,
		timeout: cfg.Timeout,
		zone:    z,
		db:      db,
		red:     red,
	}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	for name, prm := range cfg.Params {
		p.params[name] = prm
	}
	for i, c := range p.cols {
		if c.Header == "" {
			p.cols[i].Header = c.Field
		}
		p.fields = append(p.fields, domain.Field{Name: c.Field, Header: p.cols[i].Header, Kind: c.Kind})
		if c.Field == cfg.Key {
			p.keyIdx, p.intKey = i, c.Kind == domain.KindInt
		}
	}
	inner := q.render(func(name string) string {
		if cfg.Params[name].Kind == domain.KindDecimal {
			return decimalCast
		}
		return "?"
	})
	p.stmts = buildStatements(inner, p.cols, cfg.Key)
	return p, nil
}

// Type returns the export type the provider serves.
func (p *Provider) Type() string { return p.typ }

// Fields lists the configured columns. The caller may modify the slice.
func (p *Provider) Fields() []domain.Field {
	return append([]domain.Field(nil), p.fields...)
}

// Validate checks params by their declared kinds: required ones present,
// no unknown ones, every value of its kind.
func (p *Provider) Validate(params map[string]any) error {
	_, err := parseParams(p.params, p.zone.loc, params)
	return err
}

// args returns the values bound to the query's placeholders.
func (p *Provider) args(params map[string]any, extra ...any) ([]any, error) {
	bound, err := parseParams(p.params, p.zone.loc, params)
	if err != nil {
		// Validated at create time; failing now means the declaration
		// changed under a stored task, which a retry cannot fix.
		return nil, domain.Permanent(fmt.Errorf("sql export type %q: params: %w", p.typ, err))
	}
	args := make([]any, 0, len(p.names)+len(extra))
	for _, name := range p.names {
		args = append(args, bound[name])
	}
	return append(args, extra...), nil
}

// Count returns how many rows the query selects for params.
func (p *Provider) Count(ctx context.Context, params map[string]any) (int64, error) {
	args, err := p.args(params)
	if err != nil {
		return 0, err
	}
	qctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errTimeout)
	defer cancel()
	var n int64
	if err := p.db.QueryRowContext(qctx, p.stmts.count, args...).Scan(&n); err != nil {
		return 0, p.fail(ctx, qctx, "count", err)
	}
	return n, nil
}

// Fetch returns the rows after req.Cursor, the key of the last row already
// written, in key order.
func (p *Provider) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	return p.fetch(ctx, req, p.scan)
}

// FetchText is Fetch with the rows as text (domain.TextFetcher): what the
// runner uses, sparing a Go value per cell. Where it can, it reads the
// result off the connection's socket itself (the wire path, wire.go),
// else the driver's rows directly (raw.go).
func (p *Provider) FetchText(ctx context.Context, req domain.FetchRequest, into *domain.TextRows) (domain.Batch, error) {
	stmt, args, limit, err := p.batchQuery(req)
	if err != nil {
		return domain.Batch{}, err
	}
	qctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errTimeout)
	defer cancel()
	conn, err := p.db.Conn(qctx)
	if err != nil {
		return domain.Batch{}, p.fail(ctx, qctx, "query", err)
	}
	defer conn.Close()
	var b domain.Batch
	op := "query"
	err = conn.Raw(func(dc any) error {
		if wc, ok := dc.(*wireConn); ok && wc.sock != nil {
			if lit, ok := p.literalBatch(req, limit+1); ok {
				rows, err := wc.query(qctx, lit)
				if err != nil {
					return err
				}
				op = "read rows"
				b, err = p.scanWire(rows, limit, req.Cursor, into)
				if cerr := rows.close(); err == nil {
					err = cerr
				}
				return err
			}
		}
		rows, err := queryRaw(qctx, dc, stmt, args)
		if err != nil {
			return err
		}
		op = "read rows"
		b, err = p.scanText(rows, limit, req.Cursor, into)
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		return err
	})
	if err != nil {
		if domain.IsPermanent(err) {
			return domain.Batch{}, err
		}
		return domain.Batch{}, p.fail(ctx, qctx, op, err)
	}
	return b, nil
}

// literalBatch is the statement of the rows after req.Cursor, at most
// limit of them, with its values written into it as SQL literals
// (sqlLiteral), for the wire path, which sends a query as text. It
// returns false when a value has no literal form here; the driver then
// binds them.
func (p *Provider) literalBatch(req domain.FetchRequest, limit int) (string, bool) {
	bound, err := parseParams(p.params, p.zone.loc, req.Params)
	if err != nil {
		return "", false // batchQuery accepted them: not reached
	}
	ok := true
	inner := p.query.render(func(name string) string {
		lit, lok := sqlLiteral(bound[name], p.zone.loc)
		ok = ok && lok
		if p.params[name].Kind == domain.KindDecimal {
			return strings.Replace(decimalCast, "?", lit, 1)
		}
		return lit
	})
	after := ""
	if req.Cursor != "" {
		c, err := p.parseCursor(req.Cursor)
		if err != nil {
			return "", false
		}
		var cok bool
		after, cok = sqlLiteral(c, p.zone.loc)
		ok = ok && cok
	}
	if !ok {
		return "", false
	}
	return batchSQL(inner, p.cols, p.key, after, strconv.Itoa(limit)), true
}

// batchQuery is the statement and args of the batch after req.Cursor,
// and the batch's size.
func (p *Provider) batchQuery(req domain.FetchRequest) (string, []any, int, error) {
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	stmt := p.stmts.first
	var extra []any
	if req.Cursor != "" {
		after, err := p.parseCursor(req.Cursor)
		if err != nil {
			return "", nil, 0, domain.Permanent(err)
		}
		stmt, extra = p.stmts.next, []any{after}
	}
	// One row more than asked tells whether another batch follows, saving
	// the empty query that would otherwise end every export.
	args, err := p.args(req.Params, append(extra, int64(limit)+1)...)
	if err != nil {
		return "", nil, 0, err
	}
	return stmt, args, limit, nil
}

// fetch runs the keyset query for the batch after req.Cursor and reads
// its rows with scan.
func (p *Provider) fetch(ctx context.Context, req domain.FetchRequest, scan func(rows *sql.Rows, limit int, cursor string) (domain.Batch, error)) (domain.Batch, error) {
	stmt, args, limit, err := p.batchQuery(req)
	if err != nil {
		return domain.Batch{}, err
	}
	qctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(qctx, stmt, args...)
	if err != nil {
		return domain.Batch{}, p.fail(ctx, qctx, "query", err)
	}
	defer rows.Close()
	b, err := scan(rows, limit, req.Cursor)
	if err != nil {
		if domain.IsPermanent(err) {
			return domain.Batch{}, err
		}
		return domain.Batch{}, p.fail(ctx, qctx, "read rows", err)
	}
	return b, nil
}

// errTimeout is the cause of a statement's own deadline, told apart from
// the caller's.
var errTimeout = errors.New("statement timed out")

// fail reports a failed statement. The caller's cancel or deadline is
// returned as such (the runner knows why it stopped); the statement's own
// timeout is retryable; anything else is classified by the server's error.
func (p *Provider) fail(ctx, qctx context.Context, op string, err error) error {
	prefix := fmt.Sprintf("sql export type %q: %s", p.typ, op)
	switch {
	case ctx.Err() != nil:
		return &dbError{msg: prefix + ": " + context.Cause(ctx).Error(), cause: context.Cause(ctx)}
	case errors.Is(context.Cause(qctx), errTimeout):
		return &dbError{msg: fmt.Sprintf("%s: timed out after %s", prefix, p.timeout), cause: context.DeadlineExceeded}
	}
	return p.red.wrap(prefix, err)
}

// parseCursor reads the key of the last row written: numeric for int keys,
// so the server compares numbers, else the text itself.
func (p *Provider) parseCursor(c string) (any, error) {
	if !p.intKey {
		return c, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("sql export type %q: bad cursor %q: want an integer key", p.typ, c)
	}
	return n, nil
}

// columnTypes checks the query returns the declared number of columns
// and tells which are BITs.
func (p *Provider) columnTypes(rows *sql.Rows) ([]bool, error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	if len(types) != len(p.cols) {
		return nil, domain.Permanent(fmt.Errorf("sql export type %q: query returned %d columns, want %d", p.typ, len(types), len(p.cols)))
	}
	bits := make([]bool, len(types))
	for i, t := range types {
		bits[i] = t.DatabaseTypeName() == "BIT"
	}
	return bits, nil
}

// scan reads up to limit rows and tells whether more follow.
func (p *Provider) scan(rows *sql.Rows, limit int, cursor string) (domain.Batch, error) {
	bits, err := p.columnTypes(rows)
	if err != nil {
		return domain.Batch{}, err
	}
	n := len(p.cols)
	cells := make([]cell, n)
	dest := make([]any, n)
	text := &rowText{}
	for i := range cells {
		cells[i] = cell{kind: p.cols[i].Kind, bit: bits[i], zone: p.zone.loc, text: text}
		dest[i] = &cells[i]
	}

	var (
		out  [][]any
		vals []any
		more bool
	)
	keys := p.newKeyCheck(cursor)
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		text.start()
		if err := rows.Scan(dest...); err != nil {
			return domain.Batch{}, err
		}
		text.finish(cells)
		if len(vals)+n > cap(vals) {
			// Values are allocated in blocks of rows rather than row by row;
			// a block never outgrows what the batch can still hold.
			vals = make([]any, 0, min(limit-len(out), rowsPerBlock)*n)
		}
		key := cells[p.keyIdx].v
		for i := range cells {
			if cells[i].bad != "" {
				return domain.Batch{}, p.badValue(i, cells[i].bad, key, len(out), cursor)
			}
		}
		var err error
		switch k := key.(type) {
		case nil:
			err = keys.null(len(out))
		case int64:
			err = keys.int(k)
		case string:
			err = keys.text(k)
		}
		if err != nil {
			return domain.Batch{}, err
		}
		start := len(vals)
		for i := range cells {
			vals = append(vals, cells[i].v)
		}
		out = append(out, vals[start:len(vals):len(vals)])
	}
	if err := rows.Err(); err != nil {
		return domain.Batch{}, err
	}
	return domain.Batch{Rows: out, NextCursor: keys.cursor(), Done: !more}, nil
}

// scanText is scan with the rows appended to out as text, read from the
// driver.
func (p *Provider) scanText(rows *rawRows, limit int, cursor string, out *domain.TextRows) (domain.Batch, error) {
	n := len(p.cols)
	if got := len(rows.rows.Columns()); got != n {
		return domain.Batch{}, domain.Permanent(fmt.Errorf("sql export type %q: query returned %d columns, want %d", p.typ, got, n))
	}
	out.Reset(n)
	cells := p.textCells(rows.bits(), out)
	vals := make([]driver.Value, n)
	more := false
	keys := p.newKeyCheck(cursor)
	for {
		err := rows.rows.Next(vals)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return domain.Batch{}, err
		}
		row := out.Len()
		if row == limit {
			more = true
			break
		}
		for i := range cells {
			if err := cells[i].Scan(vals[i]); err != nil {
				return domain.Batch{}, err
			}
		}
		if err := p.checkTextRow(cells, keys, row, cursor); err != nil {
			return domain.Batch{}, err
		}
	}
	return domain.Batch{NextCursor: keys.cursor(), Done: !more}, nil
}

// scanWire is scanText for a result read off the wire.
func (p *Provider) scanWire(rows *wireRows, limit int, cursor string, out *domain.TextRows) (domain.Batch, error) {
	n := len(p.cols)
	if got := len(rows.cols); got != n {
		return domain.Batch{}, domain.Permanent(fmt.Errorf("sql export type %q: query returned %d columns, want %d", p.typ, got, n))
	}
	bits := make([]bool, n)
	for i, c := range rows.cols {
		bits[i] = c.typ == typeBit
	}
	out.Reset(n)
	cells := p.textCells(bits, out)
	more := false
	keys := p.newKeyCheck(cursor)
	for {
		ok, err := rows.next()
		if err != nil {
			return domain.Batch{}, err
		}
		if !ok {
			break
		}
		row := out.Len()
		if row == limit {
			more = true
			break
		}
		for i, b := range rows.cells {
			if err := cells[i].scanWire(rows.cols[i], b); err != nil {
				return domain.Batch{}, err
			}
		}
		if err := p.checkTextRow(cells, keys, row, cursor); err != nil {
			return domain.Batch{}, err
		}
	}
	return domain.Batch{NextCursor: keys.cursor(), Done: !more}, nil
}

// textCells returns the cells that append a row to out, one per column;
// bits tells which columns are BITs.
func (p *Provider) textCells(bits []bool, out *domain.TextRows) []textCell {
	cells := make([]textCell, len(p.cols))
	for i := range cells {
		cells[i] = textCell{typed: cell{kind: p.cols[i].Kind, bit: bits[i], zone: p.zone.loc}, utc: p.zone.loc == time.UTC, out: out}
	}
	return cells
}

// checkTextRow checks the row just appended: every value of its kind, the
// key not NULL and after the one before.
func (p *Provider) checkTextRow(cells []textCell, keys *keyCheck, row int, cursor string) error {
	out := cells[0].out
	key := out.Cell(row, p.keyIdx)
	for i := range cells {
		if bad := cells[i].typed.bad; bad != "" {
			return p.badValue(i, bad, p.textKey(key), row, cursor)
		}
	}
	switch {
	case key == nil:
		return keys.null(row)
	case p.intKey:
		k, ok := atoi64(key) // the canonical text of an int
		if !ok {
			_, err := strconv.ParseInt(string(key), 10, 64)
			return domain.Permanent(fmt.Errorf("sql export type %q: key %s: %w", p.typ, p.cols[p.keyIdx].Field, err))
		}
		return keys.int(k)
	}
	return keys.textBytes(key)
}

// textKey is a key cell's value for rowName.
func (p *Provider) textKey(key []byte) any {
	if key == nil {
		return nil
	}
	if p.intKey {
		if k, err := strconv.ParseInt(string(key), 10, 64); err == nil {
			return k
		}
	}
	return string(key)
}

// badValue is the error for a value that does not fit its column's kind.
func (p *Provider) badValue(col int, bad string, key any, row int, cursor string) error {
	return domain.Permanent(fmt.Errorf("sql export type %q: column %s of %s: %s (declared kind %s)",
		p.typ, p.cols[col].Field, p.rowName(key, row, cursor), bad, p.cols[col].Kind))
}

// keyCheck follows the keys of a batch's rows. Keyset paging skips or
// repeats rows unless keys are unique, not null and come in the order the
// server compares them in; what can be seen from here is checked. The
// first row must come after the cursor, like each row after the one
// before it.
type keyCheck struct {
	p       *Provider
	cursor0 string
	have    bool // a key to compare with: the cursor's or a row's
	seen    bool // a row's
	prevInt int64
	prevStr []byte
}

func (p *Provider) newKeyCheck(cursor string) *keyCheck {
	k := &keyCheck{p: p, cursor0: cursor, have: cursor != ""}
	if k.have {
		if p.intKey {
			k.prevInt, _ = strconv.ParseInt(cursor, 10, 64) // parsed by fetch
		} else {
			k.prevStr = []byte(cursor)
		}
	}
	return k
}

func (k *keyCheck) null(row int) error {
	return domain.Permanent(fmt.Errorf("sql export type %q: key %s is NULL in %s; the key must be unique and not null",
		k.p.typ, k.p.cols[k.p.keyIdx].Field, k.p.rowName(nil, row, k.cursor0)))
}

func (k *keyCheck) int(n int64) error {
	if k.have && n <= k.prevInt {
		return domain.Permanent(fmt.Errorf("sql export type %q: key %s is not unique and ascending (%d came after %d); is it an integer column?",
			k.p.typ, k.p.cols[k.p.keyIdx].Field, n, k.prevInt))
	}
	k.prevInt, k.have, k.seen = n, true, true
	return nil
}

func (k *keyCheck) text(s string) error {
	if k.have && s == string(k.prevStr) {
		return domain.Permanent(fmt.Errorf("sql export type %q: key %s is not unique (%s repeats)",
			k.p.typ, k.p.cols[k.p.keyIdx].Field, quoteValue(s)))
	}
	k.prevStr, k.have, k.seen = append(k.prevStr[:0], s...), true, true
	return nil
}

func (k *keyCheck) textBytes(b []byte) error {
	if k.have && string(b) == string(k.prevStr) {
		return k.text(string(b))
	}
	k.prevStr, k.have, k.seen = append(k.prevStr[:0], b...), true, true
	return nil
}

// cursor is the batch's NextCursor: the last row's key, or the cursor it
// started from when it had no rows.
func (k *keyCheck) cursor() string {
	switch {
	case !k.seen:
		return k.cursor0
	case k.p.intKey:
		return strconv.FormatInt(k.prevInt, 10)
	}
	return string(k.prevStr)
}

// rowName names a row in an error message by its key when it has one.
func (p *Provider) rowName(key any, i int, cursor string) string {
	switch k := key.(type) {
	case int64:
		return fmt.Sprintf("the row with %s=%d", p.cols[p.keyIdx].Field, k)
	case string:
		return fmt.Sprintf("the row with %s=%s", p.cols[p.keyIdx].Field, quoteValue(k))
	}
	if cursor == "" {
		return fmt.Sprintf("row %d of the first batch", i+1)
	}
	return fmt.Sprintf("row %d after cursor %s", i+1, quoteValue(cursor))
}

// Check runs the query once with every param NULL and LIMIT 0, so a
// syntax error, an unknown table or column, a missing grant or an
// unreachable database shows when the process starts rather than in the
// first task. The server resolves every name without reading rows.
func (p *Provider) Check(ctx context.Context) error {
	args := make([]any, len(p.names), len(p.names)+1)
	args = append(args, int64(0))
	qctx, cancel := context.WithTimeoutCause(ctx, p.timeout, errTimeout)
	defer cancel()
	rows, err := p.db.QueryContext(qctx, p.stmts.first, args...)
	if err != nil {
		return p.fail(ctx, qctx, "check", err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return p.fail(ctx, qctx, "check", err)
	}
	return nil
}

// Params implements domain.ParamDeclarer.
func (p *Provider) Params() []domain.Param {
	out := make([]domain.Param, 0, len(p.params))
	for name, prm := range p.params {
		out = append(out, domain.Param{Name: name, Kind: prm.Kind, Required: prm.Required, Description: prm.Description})
	}
	return out
}
