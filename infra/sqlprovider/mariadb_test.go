package sqlprovider

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"hash/crc32"
	"strconv"
	"strings"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

// tableRows is the size of the orders table the MariaDB tests export.
const tableRows = 300_000

// ordersDDL and ordersFill build the table from MariaDB's Sequence engine
// in one statement. Every value is a function of id; ids 1–3 hold the
// decimals that expose rounding, every 50th customer and every 97th
// created_at is NULL, and the text mixes scripts and emoji.
const (
	ordersDDL = `CREATE TABLE orders (
		id BIGINT NOT NULL PRIMARY KEY,
		order_no VARCHAR(20) NOT NULL,
		customer VARCHAR(100) NULL,
		city VARCHAR(40) NULL,
		amount DECIMAL(12,2) NOT NULL,
		created_at DATETIME NULL,
		updated_at TIMESTAMP NULL,
		paid TINYINT(1) NOT NULL,
		flag BIT(1) NULL
	) CHARSET utf8mb4`
	ordersFill = `INSERT INTO orders
		SELECT seq, CONCAT('ORD-', LPAD(seq, 7, '0')),
			CASE WHEN seq % 50 = 0 THEN NULL
				ELSE CONCAT(ELT(seq % 4 + 1, 'Zoë', '客户', 'Ωmega', 'plain'), '-', seq, IF(seq % 7 = 0, ' 😀', '')) END,
			ELT(seq % 5 + 1, 'Shanghai', 'Beijing', 'Zürich', '北京', NULL),
			CASE seq WHEN 1 THEN 12345678.91 WHEN 2 THEN 0.10 WHEN 3 THEN -0.50
				ELSE (seq * 7919) % 10000000 / 100 END,
			IF(seq % 97 = 0, NULL, '2024-01-01' + INTERVAL seq MINUTE),
			IF(seq % 97 = 0, NULL, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq MINUTE),
			seq % 2,
			IF(seq % 3 = 0, NULL, seq % 2)
		FROM seq_1_to_300000`
)

// ordersQuery selects orders by a decimal bound and an optional city.
const ordersQuery = `SELECT id, order_no, customer, city, amount, created_at, updated_at, paid, flag
	FROM orders
	WHERE amount >= :min_amount
	  AND (:city IS NULL OR city = :city) -- :not_a_param in a comment
	  AND order_no <> ':not_a_param'`

var ordersColumns = []Column{
	{Field: "id", Header: "Order ID", Kind: domain.KindInt},
	{Field: "order_no", Kind: domain.KindString},
	{Field: "customer", Kind: domain.KindString},
	{Field: "city", Kind: domain.KindString},
	{Field: "amount", Kind: domain.KindDecimal},
	{Field: "created_at", Kind: domain.KindTime},
	{Field: "updated_at", Kind: domain.KindTime},
	{Field: "paid", Kind: domain.KindBool},
	{Field: "flag", Kind: domain.KindBool},
}

// plus8 is the zone the orders export reads times in: a fixed offset, so
// the test does not need the server's zone tables.
var plus8 = time.FixedZone("+08:00", 8*3600)

// mariaDB is the shared fixture: a database holding the orders table.
type mariaDB struct {
	dsn   string
	db    *sql.DB // direct access in UTC, for the expected values
	pools *Pools
}

func TestMariaDB(t *testing.T) {
	dsn := mysqltest.DSN(t)
	if dsn == "" {
		t.Skip("DC_MYSQL_DSN not set")
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	require.NoError(t, err)
	cfg.ParseTime, cfg.Loc = true, time.UTC
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysqldriver.NewConnector(cfg)
	require.NoError(t, err)
	db := sql.OpenDB(conn)
	t.Cleanup(func() { _ = db.Close() })

	start := time.Now()
	_, err = db.Exec(ordersDDL)
	require.NoError(t, err)
	_, err = db.Exec(ordersFill)
	require.NoError(t, err)
	t.Logf("filled %d rows in %s", tableRows, time.Since(start).Round(time.Millisecond))

	pools := NewPools(PoolLimits{})
	t.Cleanup(func() { require.NoError(t, pools.Close()) })
	m := &mariaDB{dsn: dsn, db: db, pools: pools}

	t.Run("export matches the query", m.testExportMatches)
	t.Run("exact values", m.testExactValues)
	t.Run("full table", m.testFullTable)
	t.Run("string key", m.testStringKey)
	t.Run("time param", m.testTimeParam)
	t.Run("bool and optional params", m.testBoolParam)
	t.Run("injection", m.testInjection)
	t.Run("missing param", m.testMissingParam)
	t.Run("query error", m.testQueryError)
	t.Run("value of the wrong kind", m.testWrongKind)
	t.Run("key not unique", m.testKeyNotUnique)
	t.Run("cancel", m.testCancel)
	t.Run("timeout", m.testTimeout)
	t.Run("dsn from env", m.testDSNFromEnv)
	t.Run("credentials never echoed", m.testCredentials)
	t.Run("rows inserted during the export", m.testInsertsDuringExport)
	t.Run("stream matches batches", m.testStreamMatchesBatches)
	t.Run("stream closed early", m.testStreamClosedEarly)
	t.Run("stream cancelled", m.testStreamCancelled)
	t.Run("rows inserted during a stream", m.testStreamInsertsDuringExport)
	t.Run("wire: column types", m.testWireTypes)
	t.Run("wire: params as literals", m.testWireParams)
	t.Run("wire: error in the middle of a result", m.testWireErrorMidResult)
}

// orders returns the orders provider, changed by change.
func (m *mariaDB) orders(t *testing.T, change func(c *Config)) *Provider {
	t.Helper()
	c := Config{
		Type:     "orders",
		DSN:      m.dsn,
		Query:    ordersQuery,
		Key:      "id",
		TimeZone: "+08:00",
		Params: map[string]Param{
			"min_amount": {Kind: domain.KindDecimal, Required: true},
			"city":       {Kind: domain.KindString},
		},
		Columns: ordersColumns,
	}
	if change != nil {
		change(&c)
	}
	p, err := New(c, m.pools, nil)
	require.NoError(t, err)
	return p
}

// fetchAll pages through the whole export and checks the batches' shape.
func fetchAll(t *testing.T, p *Provider, params map[string]any, limit int) (rows [][]any, batches int) {
	t.Helper()
	require.NoError(t, p.Validate(params))
	cursor := ""
	for {
		b, err := both(t, p).Fetch(context.Background(), domain.FetchRequest{Params: params, Cursor: cursor, Limit: limit})
		require.NoError(t, err)
		batches++
		require.LessOrEqual(t, len(b.Rows), limit)
		if !b.Done {
			require.Len(t, b.Rows, limit, "only the last batch may be short")
			require.NotEqual(t, cursor, b.NextCursor)
		}
		rows = append(rows, b.Rows...)
		if b.Done {
			return rows, batches
		}
		cursor = b.NextCursor
	}
}

// cents reads a DECIMAL(12,2) text as an integer number of cents.
func cents(t *testing.T, d domain.Decimal) int64 {
	t.Helper()
	s := string(d)
	whole, frac, ok := strings.Cut(s, ".")
	require.True(t, ok && len(frac) == 2, "amount %q has two decimals", s)
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	require.NoError(t, err)
	return n
}

func (m *mariaDB) testExportMatches(t *testing.T) {
	t.Parallel()
	p := m.orders(t, nil)
	params := map[string]any{"min_amount": json.Number("50000.00")}

	// The server's own figures for the same selection: count, sums and a
	// checksum of every id and amount as MariaDB writes them.
	var (
		wantCount, wantIDs int64
		wantSum            string
		wantCRC            uint32
	)
	require.NoError(t, m.db.QueryRow(`SELECT COUNT(*), SUM(id), SUM(amount), BIT_XOR(CRC32(CONCAT(id, ':', amount)))
		FROM orders WHERE amount >= 50000.00`).Scan(&wantCount, &wantIDs, &wantSum, &wantCRC))
	require.Greater(t, wantCount, int64(100_000))

	n, err := p.Count(context.Background(), params)
	require.NoError(t, err)
	require.Equal(t, wantCount, n)

	rows, batches := fetchAll(t, p, params, 997)
	require.Len(t, rows, int(wantCount))
	require.Equal(t, int((wantCount+996)/997), batches)
	var (
		ids, sum int64
		crc      uint32
		prev     int64
	)
	for _, r := range rows {
		id := r[0].(int64)
		require.Greater(t, id, prev, "ids ascend with no repeats")
		prev = id
		amount := r[4].(domain.Decimal)
		ids += id
		sum += cents(t, amount)
		crc ^= crc32.ChecksumIEEE([]byte(strconv.FormatInt(id, 10) + ":" + string(amount)))
	}
	require.Equal(t, wantIDs, ids)
	require.Equal(t, wantSum, strconv.FormatInt(sum/100, 10)+"."+strconv.FormatInt(sum%100+100, 10)[1:])
	require.Equal(t, wantCRC, crc)

	// The optional param narrows the same export.
	params["city"] = "Zürich"
	var wantCity int64
	require.NoError(t, m.db.QueryRow(`SELECT COUNT(*) FROM orders WHERE amount >= 50000.00 AND city = 'Zürich'`).Scan(&wantCity))
	rows, _ = fetchAll(t, p, params, 4999)
	require.Len(t, rows, int(wantCity))
	for _, r := range rows {
		require.Equal(t, "Zürich", r[3])
	}
}

func (m *mariaDB) testExactValues(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, order_no, customer, city, amount, created_at, updated_at, paid, flag FROM orders WHERE id <= :max_id"
		c.Params = map[string]Param{"max_id": {Kind: domain.KindInt, Required: true}}
	})
	rows, batches := fetchAll(t, p, map[string]any{"max_id": json.Number("100")}, 7)
	require.Len(t, rows, 100)
	require.Equal(t, 15, batches)

	// Expected values straight from the table, as text where exactness
	// matters.
	type want struct {
		customer, city sql.NullString
		amount         string
		created        sql.NullTime // wall clock, read as UTC
		updated        sql.NullTime // instant
		paid           bool
		flag           sql.NullInt64
	}
	res, err := m.db.Query("SELECT customer, city, amount, created_at, updated_at, paid, flag + 0 FROM orders WHERE id <= 100 ORDER BY id")
	require.NoError(t, err)
	defer res.Close()
	for i := 0; res.Next(); i++ {
		var w want
		require.NoError(t, res.Scan(&w.customer, &w.city, &w.amount, &w.created, &w.updated, &w.paid, &w.flag))
		r := rows[i]
		id := int64(i + 1)
		require.Equal(t, id, r[0])
		require.Equal(t, "ORD-"+strings.Repeat("0", 7-len(strconv.FormatInt(id, 10)))+strconv.FormatInt(id, 10), r[1])
		if w.customer.Valid {
			require.Equal(t, w.customer.String, r[2])
		} else {
			require.Nil(t, r[2])
		}
		if w.city.Valid {
			require.Equal(t, w.city.String, r[3])
		} else {
			require.Nil(t, r[3])
		}
		require.Equal(t, domain.Decimal(w.amount), r[4], "decimal text identical to MariaDB's")
		if w.created.Valid {
			// A DATETIME is a wall clock in the configured zone.
			c := w.created.Time
			wantT := time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), plus8)
			got := r[5].(time.Time)
			require.True(t, wantT.Equal(got), "created_at %v, want %v", got, wantT)
			require.Equal(t, plus8, got.Location())
			// A TIMESTAMP is an instant, shown in the configured zone.
			got = r[6].(time.Time)
			require.True(t, w.updated.Time.Equal(got), "updated_at %v, want %v", got, w.updated.Time)
			require.Equal(t, plus8, got.Location())
		} else {
			require.Nil(t, r[5])
			require.Nil(t, r[6])
		}
		require.Equal(t, w.paid, r[7])
		if w.flag.Valid {
			require.Equal(t, w.flag.Int64 != 0, r[8])
		} else {
			require.Nil(t, r[8])
		}
	}
	require.NoError(t, res.Err())

	require.Equal(t, domain.Decimal("12345678.91"), rows[0][4])
	require.Equal(t, domain.Decimal("0.10"), rows[1][4])
	require.Equal(t, domain.Decimal("-0.50"), rows[2][4])
	require.Equal(t, "plain-7 😀", rows[6][2])
	require.Equal(t, "客户-1", rows[0][2])
	require.Nil(t, rows[49][2], "customer of order 50 is NULL")
	require.Equal(t, time.Date(2024, 1, 1, 0, 1, 0, 0, plus8), rows[0][5])
}

func (m *mariaDB) testFullTable(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, order_no, customer, city, amount, created_at, updated_at, paid, flag FROM orders"
		c.Params = nil
	})
	start := time.Now()
	rows, batches := fetchAll(t, p, nil, 5000)
	elapsed := time.Since(start)
	require.Len(t, rows, tableRows)
	require.Equal(t, tableRows/5000, batches, "no trailing empty batch")
	require.Equal(t, int64(tableRows), rows[len(rows)-1][0])
	t.Logf("full fetch: %d rows of 9 columns in %d batches of 5000: %s, %.0f rows/s",
		len(rows), batches, elapsed.Round(time.Millisecond), float64(len(rows))/elapsed.Seconds())
}

func (m *mariaDB) testStringKey(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT order_no, amount FROM orders WHERE id <= :n"
		c.Key = "order_no"
		c.Params = map[string]Param{"n": {Kind: domain.KindInt, Required: true}}
		c.Columns = []Column{{Field: "order_no", Kind: domain.KindString}, {Field: "amount", Kind: domain.KindDecimal}}
	})
	rows, _ := fetchAll(t, p, map[string]any{"n": json.Number("2000")}, 333)
	require.Len(t, rows, 2000)
	for i, r := range rows {
		require.Equal(t, "ORD-"+strconv.FormatInt(int64(10_000_000+i+1), 10)[1:], r[0])
	}
}

func (m *mariaDB) testTimeParam(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, created_at FROM orders WHERE created_at >= :since AND id <= 1000"
		c.Params = map[string]Param{"since": {Kind: domain.KindTime, Required: true}}
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "created_at", Kind: domain.KindTime}}
	})
	var want int64
	require.NoError(t, m.db.QueryRow("SELECT COUNT(*) FROM orders WHERE created_at >= '2024-01-01 02:00:00' AND id <= 1000").Scan(&want))
	for _, since := range []string{"2024-01-01T02:00:00+08:00", "2023-12-31T18:00:00Z"} {
		n, err := p.Count(context.Background(), map[string]any{"since": since})
		require.NoError(t, err)
		require.Equal(t, want, n, "since %s is 02:00 in the zone", since)
	}
	// A date is midnight in the zone: every row with a created_at.
	n, err := p.Count(context.Background(), map[string]any{"since": "2024-01-01"})
	require.NoError(t, err)
	require.Equal(t, int64(1000-1000/97), n)
}

func (m *mariaDB) testBoolParam(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id FROM orders WHERE id <= 100 AND (:paid IS NULL OR paid = :paid)"
		c.Params = map[string]Param{"paid": {Kind: domain.KindBool}}
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}}
	})
	for _, tt := range []struct {
		params map[string]any
		want   int64
	}{
		{map[string]any{"paid": true}, 50},
		{map[string]any{"paid": false}, 50},
		{nil, 100}, // absent: bound as NULL
		{map[string]any{"paid": nil}, 100},
	} {
		n, err := p.Count(context.Background(), tt.params)
		require.NoError(t, err)
		require.Equal(t, tt.want, n, "params %v", tt.params)
	}
}

func (m *mariaDB) testInjection(t *testing.T) {
	t.Parallel()
	p := m.orders(t, nil)
	for _, params := range []map[string]any{
		{"min_amount": "0 OR 1=1"},
		{"min_amount": "0) OR (1=1"},
		{"min_amount": "0; DROP TABLE orders"},
		{"min_amount": json.Number("1"), "city": json.Number("1")},
		{"min_amount": json.Number("1"), "1=1 OR city": "x"},
	} {
		err := p.Validate(params)
		var fe *domain.FieldErrors
		require.True(t, errors.As(err, &fe), "params %v: got %v", params, err)
	}
	err := p.Validate(map[string]any{"min_amount": "0 OR 1=1"})
	require.EqualError(t, err, "invalid request: params.min_amount: must be a decimal like -12.50 (a number or a string, no exponent), got \"0 OR 1=1\"")

	// A string param is bound, not spliced: the classic payload is just a
	// city nobody lives in.
	n, err := p.Count(context.Background(), map[string]any{"min_amount": json.Number("0"), "city": "x' OR '1'='1"})
	require.NoError(t, err)
	require.Zero(t, n)
}

func (m *mariaDB) testMissingParam(t *testing.T) {
	t.Parallel()
	p := m.orders(t, nil)
	err := p.Validate(map[string]any{"city": "Beijing"})
	require.EqualError(t, err, "invalid request: params.min_amount: is required")

	// Params that stopped validating since the task was stored fail for good.
	_, err = both(t, p).Fetch(context.Background(), domain.FetchRequest{Params: map[string]any{}, Limit: 10})
	require.True(t, domain.IsPermanent(err))
	require.ErrorContains(t, err, "params.min_amount: is required")
	_, err = p.Count(context.Background(), nil)
	require.True(t, domain.IsPermanent(err))

	_, err = both(t, p).Fetch(context.Background(), domain.FetchRequest{Params: map[string]any{"min_amount": json.Number("1")}, Cursor: "abc", Limit: 10})
	require.True(t, domain.IsPermanent(err))
	require.ErrorContains(t, err, `bad cursor "abc"`)
}

func (m *mariaDB) testQueryError(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, nope FROM orders WHERE id > :n"
		c.Params = map[string]Param{"n": {Kind: domain.KindInt}}
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "nope", Kind: domain.KindString}}
	})
	ctx := context.Background()
	_, fetchErr := both(t, p).Fetch(ctx, domain.FetchRequest{Limit: 10})
	_, countErr := p.Count(ctx, nil)
	checkErr := p.Check(ctx)
	for _, err := range []error{fetchErr, countErr, checkErr} {
		require.Error(t, err)
		require.True(t, domain.IsPermanent(err), "%v", err)
		require.ErrorContains(t, err, "Error 1054")
		require.ErrorContains(t, err, "Unknown column")
		require.ErrorContains(t, err, `sql export type "orders"`)
	}

	good := m.orders(t, nil)
	require.NoError(t, good.Check(ctx))

	missingTable := m.orders(t, func(c *Config) {
		c.Query = "SELECT id FROM no_such_table"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}}
	})
	err := missingTable.Check(ctx)
	require.True(t, domain.IsPermanent(err))
	require.ErrorContains(t, err, "Error 1146")
}

func (m *mariaDB) testWrongKind(t *testing.T) {
	t.Parallel()
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, customer FROM orders WHERE id BETWEEN 5 AND 10"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "customer", Kind: domain.KindInt}}
	})
	_, err := both(t, p).Fetch(context.Background(), domain.FetchRequest{Limit: 100})
	require.True(t, domain.IsPermanent(err))
	require.EqualError(t, err, `sql export type "orders": column customer of the row with id=5: value "客户-5" is not an integer (declared kind int)`)
}

func (m *mariaDB) testKeyNotUnique(t *testing.T) {
	t.Parallel()
	for name, query := range map[string]string{
		"repeats": "SELECT id % 3 AS k, id FROM orders WHERE id <= 10",
		"null":    "SELECT NULLIF(id, 2) AS k, id FROM orders WHERE id <= 10",
		"as text": "SELECT CAST(id AS CHAR) AS k, id FROM orders WHERE id <= 20",
	} {
		p := m.orders(t, func(c *Config) {
			c.Query = query
			c.Key = "k"
			c.Params = nil
			c.Columns = []Column{{Field: "k", Kind: domain.KindInt}, {Field: "id", Kind: domain.KindInt}}
		})
		_, err := both(t, p).Fetch(context.Background(), domain.FetchRequest{Limit: 100})
		require.True(t, domain.IsPermanent(err), "%s: %v", name, err)
		require.ErrorContains(t, err, "key k is", name)
	}
}

// slowQuery takes seconds in the server without touching a table.
const slowQuery = "SELECT 1 AS id FROM DUAL WHERE SLEEP(:secs) = 0"

func (m *mariaDB) slow(t *testing.T, timeout time.Duration) *Provider {
	return m.orders(t, func(c *Config) {
		c.Query = slowQuery
		c.Timeout = timeout
		c.Params = map[string]Param{"secs": {Kind: domain.KindInt, Required: true}}
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}}
	})
}

func (m *mariaDB) testCancel(t *testing.T) {
	t.Parallel()
	p := m.slow(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := both(t, p).Fetch(ctx, domain.FetchRequest{Params: map[string]any{"secs": json.Number("3")}, Limit: 10})
	require.Less(t, time.Since(start), 2*time.Second, "Fetch returns when ctx ends, not when the query does")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, domain.IsPermanent(err))
}

func (m *mariaDB) testTimeout(t *testing.T) {
	t.Parallel()
	p := m.slow(t, 300*time.Millisecond)
	start := time.Now()
	_, err := p.Count(context.Background(), map[string]any{"secs": json.Number("3")})
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.EqualError(t, err, `sql export type "orders": count: timed out after 300ms`)
	require.False(t, domain.IsPermanent(err), "a timeout may pass on a quieter database")
}

func (m *mariaDB) testDSNFromEnv(t *testing.T) {
	t.Parallel()
	c := Config{
		Type:    "orders_env",
		DSNEnv:  "SHOP_DSN",
		Query:   "SELECT id FROM orders WHERE id <= :n",
		Key:     "id",
		Params:  map[string]Param{"n": {Kind: domain.KindInt, Required: true}},
		Columns: []Column{{Field: "id", Kind: domain.KindInt}},
	}
	env := map[string]string{"SHOP_DSN": m.dsn}
	p, err := New(c, m.pools, func(k string) string { return env[k] })
	require.NoError(t, err)
	n, err := p.Count(context.Background(), map[string]any{"n": json.Number("1234")})
	require.NoError(t, err)
	require.Equal(t, int64(1234), n)
}

func (m *mariaDB) testCredentials(t *testing.T) {
	t.Parallel()
	const secret = "Wr0ng-S3cret-pw"
	base, err := mysqldriver.ParseDSN(m.dsn)
	require.NoError(t, err)

	wrongPassword := base.Clone()
	wrongPassword.Passwd = secret
	badHost := base.Clone()
	badHost.Passwd = secret
	badHost.Addr = "db.invalid:3306"
	badHost.Timeout = 2 * time.Second

	for _, tt := range []struct {
		name      string
		dsn       string
		permanent bool
	}{
		{"wrong password", wrongPassword.FormatDSN(), true},
		{"bad host", badHost.FormatDSN(), false},
	} {
		env := map[string]string{"SHOP_DSN": tt.dsn}
		p, err := New(Config{
			Type:    "orders",
			DSNEnv:  "SHOP_DSN",
			Query:   "SELECT id FROM orders",
			Key:     "id",
			Columns: []Column{{Field: "id", Kind: domain.KindInt}},
		}, m.pools, func(k string) string { return env[k] })
		require.NoError(t, err)
		ctx := context.Background()
		_, fetchErr := both(t, p).Fetch(ctx, domain.FetchRequest{Limit: 10})
		_, countErr := p.Count(ctx, nil)
		checkErr := p.Check(ctx)
		for _, err := range []error{fetchErr, countErr, checkErr} {
			require.Error(t, err, tt.name)
			msg := err.Error()
			t.Logf("%s: %s", tt.name, msg)
			require.NotContains(t, msg, secret, tt.name)
			require.NotContains(t, msg, "'"+base.User+"'@", tt.name)
			require.Equal(t, tt.permanent, domain.IsPermanent(err), "%s: %v", tt.name, err)
			var me *mysqldriver.MySQLError
			require.False(t, errors.As(err, &me), "the driver's unscrubbed error is not reachable")
		}
	}
}

// Keyset paging while the table grows: every row there at the start comes
// exactly once and in key order, rows inserted ahead of the cursor come
// too, rows inserted behind it do not (they were not there when that
// range was read), and an export started again (a retry or a rescue
// starts from the first row) reads the table as it now is, once more in
// order and without repeats.
func (m *mariaDB) testInsertsDuringExport(t *testing.T) {
	t.Parallel()
	_, err := m.db.Exec(`CREATE TABLE growing (id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(20) NOT NULL)`)
	require.NoError(t, err)
	// Even ids 2..2000 at the start.
	_, err = m.db.Exec(`INSERT INTO growing SELECT seq, CONCAT('start-', seq) FROM seq_2_to_2000_step_2`)
	require.NoError(t, err)
	p := m.orders(t, func(c *Config) {
		c.Query = "SELECT id, note FROM growing"
		c.Params = nil
		c.Columns = []Column{{Field: "id", Kind: domain.KindInt}, {Field: "note", Kind: domain.KindString}}
	})
	export := func(during func(last int64)) []int64 {
		var ids []int64
		cursor := ""
		for {
			b, err := both(t, p).Fetch(context.Background(), domain.FetchRequest{Cursor: cursor, Limit: 100})
			require.NoError(t, err)
			for _, r := range b.Rows {
				ids = append(ids, r[0].(int64))
			}
			if b.Done {
				return ids
			}
			cursor = b.NextCursor
			if during != nil {
				during(ids[len(ids)-1])
			}
		}
	}
	ins := newInserts(m, "growing")
	ids := export(func(last int64) {
		// One odd id just behind the cursor and one well ahead of it.
		ins.add(t, last, last-1, last+301)
	})
	ins.check(t, ids, 2000)

	var n int
	require.NoError(t, m.db.QueryRow(`SELECT COUNT(*) FROM growing`).Scan(&n))
	again := export(nil)
	require.Len(t, again, n, "the restarted export reads every row there now")
	for i := 1; i < len(again); i++ {
		require.Greater(t, again[i], again[i-1])
	}
}

// inserts are the rows a test adds to a table of even ids while it is
// exported: odd ids, behind or ahead of the export's cursor.
type inserts struct {
	m             *mariaDB
	table         string
	behind, ahead map[int64]bool
}

func newInserts(m *mariaDB, table string) *inserts {
	return &inserts{m: m, table: table, behind: map[int64]bool{}, ahead: map[int64]bool{}}
}

// add inserts the odd ones of ids, noting each as behind or ahead of
// last, the key of the last row read.
func (in *inserts) add(t *testing.T, last int64, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		if id%2 == 0 || id <= 0 {
			continue
		}
		res, err := in.m.db.Exec("INSERT IGNORE INTO "+in.table+" VALUES (?, 'during')", id)
		require.NoError(t, err)
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			continue // there already
		}
		if id < last {
			in.behind[id] = true
		} else {
			in.ahead[id] = true
		}
	}
}

// check checks the ids an export read: in key order without repeats,
// every even id up to evens there from the start, every insert ahead of
// the cursor and none behind it.
func (in *inserts) check(t *testing.T, ids []int64, evens int64) {
	t.Helper()
	seen := map[int64]bool{}
	for i, id := range ids {
		if i > 0 {
			require.Greater(t, id, ids[i-1], "key order, no repeats")
		}
		seen[id] = true
		require.False(t, in.behind[id], "row %d was inserted behind the cursor", id)
	}
	for id := int64(2); id <= evens; id += 2 {
		require.True(t, seen[id], "row %d there from the start was skipped", id)
	}
	for id := range in.ahead {
		require.True(t, seen[id], "row %d inserted ahead of the cursor was skipped", id)
	}
	require.NotEmpty(t, in.behind)
	require.NotEmpty(t, in.ahead)
}
