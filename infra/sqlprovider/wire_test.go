package sqlprovider

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// alone is m.orders with a connection pool of its own, so a test can
// count the connections its provider holds.
func (m *mariaDB) alone(t *testing.T, change func(c *Config)) *Provider {
	t.Helper()
	pools := NewPools(PoolLimits{})
	t.Cleanup(func() { require.NoError(t, pools.Close()) })
	mm := *m
	mm.pools = pools
	return mm.orders(t, change)
}

// textOf is a batch's rows as their canonical text, NULL as nil.
func textOf(t *testing.T, rows [][]any) [][]*string {
	t.Helper()
	out := make([][]*string, len(rows))
	for i, r := range rows {
		out[i] = make([]*string, len(r))
		for j, v := range r {
			if v == nil {
				continue
			}
			b, ok := appendCanonical(nil, v)
			require.True(t, ok, "%T", v)
			s := string(b)
			out[i][j] = &s
		}
	}
	return out
}

// streamAll reads the whole export through a stream (the runner's path),
// windows of window rows dropped after age, and checks the batches'
// shape: full but for the last, each cursor the last row's key.
func streamAll(t *testing.T, p *Provider, params map[string]any, limit, window int, age time.Duration) [][]*string {
	t.Helper()
	ts, err := p.StreamText(context.Background(), domain.FetchRequest{Params: params, Limit: limit})
	require.NoError(t, err)
	s := ts.(*stream)
	s.window, s.age = window, age
	defer func() { require.NoError(t, ts.Close()) }()
	var out [][]*string
	var tr domain.TextRows
	for {
		b, err := ts.Next(context.Background(), &tr)
		require.NoError(t, err)
		require.Empty(t, b.Rows)
		if !b.Done {
			require.Equal(t, limit, tr.Len(), "only the last batch may be short")
		}
		for r := range tr.Len() {
			row := make([]*string, tr.Width())
			for c := range row {
				if cell := tr.Cell(r, c); cell != nil {
					s := string(cell)
					row[c] = &s
				}
			}
			out = append(out, row)
		}
		if tr.Len() > 0 {
			require.Equal(t, *out[len(out)-1][p.keyIdx], b.NextCursor)
		}
		if b.Done {
			return out
		}
	}
}

// The stream reads what the batches read, row for row and cell for cell,
// whatever the window's size against the batch's (windows ending inside a
// batch, one batch, many) and when every window is dropped for its age
// and read again from the cursor.
func (m *mariaDB) testStreamMatchesBatches(t *testing.T) {
	t.Parallel()
	p := m.alone(t, nil)
	params := map[string]any{"min_amount": json.Number("80000.00")}
	rows, _ := fetchAll(t, p, params, 1000)
	require.Greater(t, len(rows), 10_000)
	want := textOf(t, rows)
	for _, tc := range []struct {
		window int
		age    time.Duration
	}{{2500, windowAge}, {1000, windowAge}, {40_000, windowAge}, {1 << 30, windowAge}, {3000, 0}} {
		got := streamAll(t, p, params, 1000, tc.window, tc.age)
		require.Equal(t, len(want), len(got), "window %d, age %s", tc.window, tc.age)
		require.Equal(t, want, got, "window %d, age %s", tc.window, tc.age)
	}
	require.Zero(t, p.db.Stats().InUse, "every window gave its connection back")
}

// A stream closed in the middle of a window gives its connection up
// (closed: the rest of the result is never read) and the pool goes on.
func (m *mariaDB) testStreamClosedEarly(t *testing.T) {
	t.Parallel()
	p := m.alone(t, nil)
	params := map[string]any{"min_amount": json.Number("0")}
	ts, err := p.StreamText(context.Background(), domain.FetchRequest{Params: params, Limit: 500})
	require.NoError(t, err)
	var tr domain.TextRows
	for range 3 {
		b, err := ts.Next(context.Background(), &tr)
		require.NoError(t, err)
		require.False(t, b.Done)
	}
	require.Equal(t, 1, p.db.Stats().InUse, "the open window holds its connection")
	require.NoError(t, ts.Close())
	require.Zero(t, p.db.Stats().InUse)
	b, err := ts.Next(context.Background(), &tr)
	require.NoError(t, err)
	require.True(t, b.Done, "a closed stream has nothing more")

	got := streamAll(t, p, map[string]any{"min_amount": json.Number("99000.00")}, 100, 250, windowAge)
	rows, _ := fetchAll(t, p, map[string]any{"min_amount": json.Number("99000.00")}, 100)
	require.Equal(t, textOf(t, rows), got, "the pool serves the next export")
}

// Cancelling the export in the middle of a window returns the cancel
// and breaks only that connection.
func (m *mariaDB) testStreamCancelled(t *testing.T) {
	t.Parallel()
	p := m.alone(t, nil)
	params := map[string]any{"min_amount": json.Number("0")}
	ts, err := p.StreamText(context.Background(), domain.FetchRequest{Params: params, Limit: 1000})
	require.NoError(t, err)
	defer ts.Close()
	var tr domain.TextRows
	_, err = ts.Next(context.Background(), &tr)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = ts.Next(ctx, &tr)
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, domain.IsPermanent(err))
	require.NoError(t, ts.Close())
	require.Zero(t, p.db.Stats().InUse, "%+v", p.db.Stats())
	_, err = both(t, p).Fetch(context.Background(), domain.FetchRequest{Params: params, Limit: 10})
	require.NoError(t, err)
}

// Rows inserted while a stream runs: one behind the cursor is never read,
// one beyond the open window is, none twice (as with batches, at a
// window's grain).
func (m *mariaDB) testStreamInsertsDuringExport(t *testing.T) {
	t.Parallel()
	_, err := m.db.Exec(`CREATE TABLE growing_stream (id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) NOT NULL)`)
	require.NoError(t, err)
	_, err = m.db.Exec(`INSERT INTO growing_stream SELECT seq, CONCAT('start-', seq) FROM seq_2_to_4000_step_2`)
	require.NoError(t, err)
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, note FROM growing_stream"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "note", Kind: domain.KindString}}
	})
	ts, err := p.StreamText(context.Background(), domain.FetchRequest{Limit: 100})
	require.NoError(t, err)
	ts.(*stream).window = 300 // rows: 600 ids
	defer ts.Close()
	var (
		ids []int64
		tr  domain.TextRows
		ins = newInserts(m, "growing_stream")
	)
	for {
		b, err := ts.Next(context.Background(), &tr)
		require.NoError(t, err)
		for r := range tr.Len() {
			n, ok := atoi64(tr.Cell(r, 0))
			require.True(t, ok)
			ids = append(ids, n)
		}
		if b.Done {
			break
		}
		last := ids[len(ids)-1]
		// A window covers at most 600 ids, and the last one (all that is
		// left, from about 3400) opens later: an id 1201 ahead, up to
		// 2600, is in a window not yet open.
		ahead := last + 1201
		if ahead > 2600 {
			ahead = last - 1
		}
		ins.add(t, last, last-1, ahead)
	}
	ins.check(t, ids, 4000)
}

// The wire path reads every column type as the driver does (both paths
// agree cell for cell): ZEROFILL and unsigned integers, floats, BITs,
// YEAR, DATE, fractional TIMESTAMPs, a cell larger than the socket's
// read buffer, and text that is not UTF-8, which both refuse.
func (m *mariaDB) testWireTypes(t *testing.T) {
	t.Parallel()
	_, err := m.db.Exec(`CREATE TABLE wire_types (
		id INT UNSIGNED ZEROFILL NOT NULL PRIMARY KEY, big BIGINT UNSIGNED, f FLOAT, d DOUBLE, b8 BIT(8), y YEAR,
		dt DATE, ts TIMESTAMP(6) NULL, small TINYINT, long_text MEDIUMTEXT, neg BIGINT)`)
	require.NoError(t, err)
	_, err = m.db.Exec(`INSERT INTO wire_types VALUES
		(1, 18446744073709551615, 1.5, 0.1, b'10100101', 2026, '2026-02-28', '2026-01-01 00:00:00.123456', -128, REPEAT('x', 300000), -9223372036854775808),
		(2, 9223372036854775807, -3.25e10, 1e-300, b'0', 1999, '1000-01-01', NULL, 127, REPEAT('é', 200000), 9223372036854775807),
		(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '', 0)`)
	require.NoError(t, err)
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, big, f, d, b8, y, dt, ts, small, long_text, neg FROM wire_types WHERE id <= 2"
		c.Params = nil
		c.TimeZone = "UTC"
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "big", Kind: domain.KindDecimal},
			{Field: "f", Kind: domain.KindDecimal}, {Field: "d", Kind: domain.KindDecimal}, {Field: "b8", Kind: domain.KindInt},
			{Field: "y", Kind: domain.KindInt}, {Field: "dt", Kind: domain.KindTime}, {Field: "ts", Kind: domain.KindTime},
			{Field: "small", Kind: domain.KindBool}, {Field: "long_text", Kind: domain.KindString}, {Field: "neg", Kind: domain.KindInt}}
	})
	rows, _ := fetchAll(t, p, nil, 10)
	require.Len(t, rows, 2)
	require.Equal(t, int64(1), rows[0][0], "ZEROFILL's zeros are not part of the number")
	require.Equal(t, domain.Decimal("18446744073709551615"), rows[0][1])
	require.Equal(t, int64(0xa5), rows[0][4])
	require.Len(t, rows[0][9], 300_000)
	require.Equal(t, strings.Repeat("é", 200_000), rows[1][9])
	require.Equal(t, textOf(t, rows), streamAll(t, p, nil, 10, 400, windowAge))

	all := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, big, f, d, b8, y, dt, ts, small, long_text, neg FROM wire_types"
		c.Params, c.TimeZone, c.Columns = nil, "UTC", p.cols
	})
	rows, _ = fetchAll(t, all, nil, 10)
	require.Len(t, rows, 3)
	require.Nil(t, rows[2][1])
	require.Equal(t, "", rows[2][9])

	bad := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, UNHEX('FF00') AS raw FROM wire_types"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "raw", Kind: domain.KindString}}
	})
	_, err = both(t, bad).Fetch(context.Background(), domain.FetchRequest{Limit: 10})
	require.True(t, domain.IsPermanent(err))
	require.ErrorContains(t, err, "not UTF-8")
}

// Params the wire path writes as literals mean what the driver binds: a
// quote stays inside its string, and a backslash, which the wire path
// cannot write for every sql_mode, sends the batch through the driver.
func (m *mariaDB) testWireParams(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, order_no, customer FROM orders WHERE id <= 20 AND (:name IS NULL OR customer <> :name)"
		c.Params = map[string]Param{"name": {Kind: domain.KindString}}
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "order_no", Kind: domain.KindString}, {Field: "customer", Kind: domain.KindString}}
	})
	for _, name := range []string{`O'Brien`, `x' OR '1'='1`, `''`, `back\slash`, `\' OR 1=1 -- `, "客户-1", "Ωmega-2"} {
		params := map[string]any{"name": name}
		_, lit := p.literalBatch(domain.FetchRequest{Params: params}, 10)
		require.Equal(t, !strings.ContainsRune(name, '\\'), lit, "%q", name)
		rows, _ := fetchAll(t, p, params, 7)
		want := 20
		if name == "客户-1" || name == "Ωmega-2" {
			want = 19 // the one customer with that name is left out
		}
		require.Len(t, rows, want, "%q is a value, not SQL", name)
		require.Equal(t, textOf(t, rows), streamAll(t, p, params, 7, 9, windowAge), "%q", name)
	}
}

// A server error in the middle of a result (after rows were sent) fails
// the batch as the driver reports it, and the connection stays usable.
func (m *mariaDB) testWireErrorMidResult(t *testing.T) {
	t.Parallel()
	_, err := m.db.Exec(`CREATE TABLE two_rows (k INT, n INT)`)
	require.NoError(t, err)
	_, err = m.db.Exec(`INSERT INTO two_rows VALUES (1, 10), (1, 11), (0, 5)`)
	require.NoError(t, err)
	p := m.alone(t, func(c *Config) {
		// The subquery returns two rows once id passes 300: error 1242.
		c.Query = "SELECT o.id, (SELECT n FROM two_rows WHERE k = IF(o.id > 300, 1, 0)) AS v FROM orders o WHERE o.id <= 1000"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "v", Kind: domain.KindInt}}
	})
	_, err = both(t, p).Fetch(context.Background(), domain.FetchRequest{Limit: 900})
	require.Error(t, err)
	require.ErrorContains(t, err, "Error 1242")
	require.True(t, domain.IsPermanent(err))

	ts, err := p.StreamText(context.Background(), domain.FetchRequest{Limit: 100})
	require.NoError(t, err)
	defer ts.Close()
	var tr domain.TextRows
	for i := 0; ; i++ {
		_, err = ts.Next(context.Background(), &tr)
		if err != nil {
			break
		}
		require.Less(t, i, 3, "the rows up to id 300 come first")
	}
	require.ErrorContains(t, err, "Error 1242")
	require.True(t, domain.IsPermanent(err))
	require.NoError(t, ts.Close())
	require.Zero(t, p.db.Stats().InUse)

	ok := m.orders(t, nil)
	_, err = both(t, ok).Fetch(context.Background(), domain.FetchRequest{Params: map[string]any{"min_amount": json.Number("1")}, Limit: 5})
	require.NoError(t, err, "the pool goes on")
}

// The wire path reads only sockets that carry the plain protocol.
func TestWireReadable(t *testing.T) {
	t.Parallel()
	for dsn, want := range map[string]bool{
		"u:p@tcp(127.0.0.1:3306)/db":                   true,
		"u:p@tcp(127.0.0.1:3306)/db?parseTime=true":    true,
		"u:p@tcp(127.0.0.1:3306)/db?tls=true":          false,
		"u:p@tcp(127.0.0.1:3306)/db?tls=skip-verify":   false,
		"u:p@tcp(127.0.0.1:3306)/db?tls=preferred":     false,
		"u:p@tcp(127.0.0.1:3306)/db?compress=true":     false,
		"u:p@unix(/run/mysqld/mysqld.sock)/db":         false,
		"u:p@tcp(127.0.0.1:3306)/db?tls=false":         true,
		"u:p@tcp(127.0.0.1:3306)/db?compress=false":    true,
		"u:p@tcp(127.0.0.1:3306)/db?allowOldPasswords": true,
	} {
		cfg, err := mysqldriver.ParseDSN(dsn)
		require.NoError(t, err, dsn)
		require.Equal(t, want, wireReadable(connConfig(cfg, zone{loc: time.UTC, session: "+00:00"})), dsn)
	}
}

// Malformed column definitions and rows are refused, never a panic.
func TestWireRejectsMalformedPackets(t *testing.T) {
	t.Parallel()
	good := []byte{3, 'd', 'e', 'f', 0, 0, 0, 1, 'x', 0, 0x0c, 0x21, 0, 10, 0, 0, 0, 0x03, 0x20, 0, 0, 0, 0}
	col, ok := readColumnDef(good)
	require.True(t, ok)
	require.Equal(t, wireColumn{typ: 0x03, flags: 0x20}, col)
	for i := range good {
		_, ok := readColumnDef(good[:i])
		require.False(t, ok, "cut at %d", i)
	}
	for _, bad := range [][]byte{{0xfb}, {0xff}, {0xfe, 1}, {0xfc, 0xff, 0xff}, {200, 'a'}} {
		_, ok := readColumnDef(bad)
		require.False(t, ok, "%x", bad)
	}
	_, _, ok = lenencInt(nil)
	require.False(t, ok)
	for _, tc := range []struct {
		in   []byte
		n    uint64
		w    int
		want bool
	}{{[]byte{0}, 0, 1, true}, {[]byte{250}, 250, 1, true}, {[]byte{0xfc, 1, 2}, 0x0201, 3, true}, {[]byte{0xfd, 1, 2, 3}, 0x030201, 4, true},
		{[]byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0}, 1, 9, true}, {[]byte{0xfd, 1}, 0, 0, false}, {[]byte{0xfb}, 0, 0, false}} {
		n, w, ok := lenencInt(tc.in)
		require.Equal(t, tc.want, ok, "%x", tc.in)
		if ok {
			require.Equal(t, tc.n, n)
			require.Equal(t, tc.w, w)
		}
	}
	status, ok := endStatus([]byte{0xfe, 0, 0, 0x08, 0})
	require.True(t, ok)
	require.EqualValues(t, statusMoreResults, status, "an EOF packet's status")
	status, ok = endStatus([]byte{0xfe, 0, 0, 0x22, 0, 0, 0})
	require.True(t, ok)
	require.EqualValues(t, 0x22, status, "an OK packet's status")
	_, ok = endStatus([]byte{0xfe, 0, 0})
	require.False(t, ok)
	err := serverError([]byte{0xff, 0x7a, 0x04, '#', '4', '2', 'S', '0', '2', 'n', 'o', 'p', 'e'})
	require.EqualError(t, err, "Error 1146 (42S02): nope")
	require.True(t, isPermanent(err))
}
