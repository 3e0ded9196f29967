package sqlprovider

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/downloadcenter/dc/domain"
)

// validConfig is a correct config that tests change one thing in.
func validConfig() Config {
	return Config{
		Type:   "orders",
		DSN:    "reader:pw@tcp(127.0.0.1:3306)/shop",
		Query:  "SELECT id, customer, amount FROM orders WHERE amount >= :min_amount AND (:city IS NULL OR city = :city)",
		Key:    "id",
		Params: map[string]Param{"min_amount": {Kind: domain.KindDecimal, Required: true}, "city": {Kind: domain.KindString}},
		Columns: []Column{
			{Field: "id", Header: "Order ID", Kind: domain.KindInt},
			{Field: "customer", Kind: domain.KindString},
			{Field: "amount", Header: "Amount", Kind: domain.KindDecimal},
		},
	}
}

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	const doc = `
sql:
  - type: orders
    dsn_env: SHOP_DSN
    query: |
      SELECT id, customer, amount FROM orders
      WHERE amount >= :min_amount AND (:city IS NULL OR city = :city)
    key: id
    timeout: 45s
    time_zone: "+08:00"
    params:
      min_amount: {kind: decimal, required: true}
      city: {kind: string}
    columns:
      - {field: id, header: "Order ID", kind: int}
      - {field: customer, kind: string}
      - {field: amount, header: "Amount", kind: decimal}
`
	var file struct {
		SQL []Config `yaml:"sql"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &file))
	require.Len(t, file.SQL, 1)
	c := file.SQL[0]
	require.NoError(t, c.Validate())
	require.Equal(t, "SHOP_DSN", c.DSNEnv)
	require.Equal(t, 45*time.Second, c.Timeout)
	require.Equal(t, "+08:00", c.TimeZone)
	require.Equal(t, Param{Kind: domain.KindDecimal, Required: true}, c.Params["min_amount"])
	require.Equal(t, Column{Field: "id", Header: "Order ID", Kind: domain.KindInt}, c.Columns[0])
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string // "" means valid
	}{
		{"valid", func(*Config) {}, nil},
		{"dsn from env", func(c *Config) { c.DSN, c.DSNEnv = "", "SHOP_DSN" }, nil},
		{"named zone", func(c *Config) { c.TimeZone = "Asia/Shanghai" }, nil},
		{"offset zone", func(c *Config) { c.TimeZone = "-05:30" }, nil},
		{"string key", func(c *Config) { c.Key = "customer" }, nil},
		{"empty type", func(c *Config) { c.Type = " " }, []string{"type is empty"}},
		{"no dsn", func(c *Config) { c.DSN = "" }, []string{"one of dsn and dsn_env is required"}},
		{"both dsns", func(c *Config) { c.DSNEnv = "X" }, []string{"dsn and dsn_env are both set"}},
		{"bad env name", func(c *Config) { c.DSN, c.DSNEnv = "", "SHOP-DSN" }, []string{`dsn_env "SHOP-DSN" is not an environment variable name`}},
		{"bad dsn hides password", func(c *Config) { c.DSN = "reader:Sekr1t-pw@tcp(db:3306)/shop?parseTime=maybe" }, []string{"dsn: invalid bool value: maybe"}},
		{"no expansion", func(c *Config) { c.DSN = "reader:${SHOP_PW}@tcp(db:3306)/shop" }, []string{"dsn is not expanded"}},
		{"empty query", func(c *Config) { c.Query = "  \n"; c.Params = nil }, []string{"query is empty"}},
		{"query syntax", func(c *Config) { c.Query = "SELECT id FROM t WHERE a = ':min_amount"; c.Params = nil }, []string{"query: unterminated string literal"}},
		{"undeclared param", func(c *Config) { delete(c.Params, "city") }, []string{"query uses :city but params does not declare it"}},
		{"unused param", func(c *Config) { c.Params["since"] = Param{Kind: domain.KindTime} }, []string{"params.since is declared but the query never uses :since"}},
		{"unknown param kind", func(c *Config) { c.Params["city"] = Param{Kind: "text"} }, []string{`params.city: unknown kind "text"`}},
		{"unknown column kind", func(c *Config) { c.Columns[1].Kind = "float" }, []string{`columns[1] (customer): unknown kind "float"`}},
		{"no columns", func(c *Config) { c.Columns = nil }, []string{"columns is empty", `key "id" is not among the columns`}},
		{"key not a column", func(c *Config) { c.Key = "order_id" }, []string{`key "order_id" is not among the columns`}},
		{"no key", func(c *Config) { c.Key = "" }, []string{"key is empty"}},
		{"decimal key", func(c *Config) { c.Key = "amount" }, []string{`key "amount" is of kind decimal; keys must be int or string`}},
		{"column not an identifier", func(c *Config) { c.Columns[1].Field = "customer`, (SELECT password FROM users)" }, []string{"columns[1]: field", "is not a simple identifier"}},
		{"duplicate column", func(c *Config) { c.Columns[1].Field = "id" }, []string{`columns[1]: field "id" appears twice`}},
		{"long column", func(c *Config) { c.Columns[1].Field = strings.Repeat("a", 65) }, []string{"is not a simple identifier"}},
		{"param not an identifier", func(c *Config) { c.Params["a-b"] = Param{Kind: domain.KindInt} }, []string{`params: "a-b" is not a simple identifier`}},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, []string{"timeout -1s is negative"}},
		{"timeout without unit", func(c *Config) { c.Timeout = 30 }, []string{"timeout 30ns is too short; write a unit"}},
		{"unknown zone", func(c *Config) { c.TimeZone = "Mars/Olympus" }, []string{`time_zone "Mars/Olympus": unknown zone`}},
		{"local zone", func(c *Config) { c.TimeZone = "Local" }, []string{`time_zone "Local"`}},
		{"zone that could break SET", func(c *Config) { c.TimeZone = "UTC'; DROP" }, []string{"time_zone"}},
		{"all at once", func(c *Config) { c.Type = ""; c.Key = ""; c.Columns[0].Kind = "" }, []string{"type is empty", "key is empty", `columns[0] (id): unknown kind ""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.change(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "Sekr1t-pw")
		})
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	pools := NewPools(PoolLimits{})
	t.Cleanup(func() { require.NoError(t, pools.Close()) })
	env := map[string]string{"EMPTY": "", "BAD": "reader:Sekr1t-pw@tcp(db:3306/shop"}
	getenv := func(k string) string { return env[k] }

	c := validConfig()
	c.Key = "nope"
	_, err := New(c, pools, getenv)
	require.ErrorContains(t, err, `key "nope" is not among the columns`)

	_, err = New(validConfig(), nil, getenv)
	require.ErrorContains(t, err, "no connection pools")

	c = validConfig()
	c.DSN, c.DSNEnv = "", "EMPTY"
	_, err = New(c, pools, getenv)
	require.ErrorContains(t, err, "environment variable EMPTY (dsn_env) is empty or unset")
	_, err = New(c, pools, nil)
	require.ErrorContains(t, err, "no environment")

	c.DSNEnv = "BAD"
	_, err = New(c, pools, getenv)
	require.ErrorContains(t, err, "dsn: invalid DSN")
	require.NotContains(t, err.Error(), "Sekr1t-pw")
}

func TestPoolsShared(t *testing.T) {
	t.Parallel()
	pools := NewPools(PoolLimits{MaxOpen: 3})
	a, err := New(validConfig(), pools, nil)
	require.NoError(t, err)
	bc := validConfig()
	bc.Type = "orders_again"
	b, err := New(bc, pools, nil)
	require.NoError(t, err)
	require.Same(t, a.db, b.db, "same DSN and zone share a pool")
	require.Equal(t, 3, a.db.Stats().MaxOpenConnections)

	cc := validConfig()
	cc.TimeZone = "+08:00"
	c, err := New(cc, pools, nil)
	require.NoError(t, err)
	require.NotSame(t, a.db, c.db, "the zone is a session setting, so another zone is another pool")

	require.NoError(t, pools.Close())
	_, err = New(validConfig(), pools, nil)
	require.ErrorContains(t, err, "connection pools are closed")
}

func TestFields(t *testing.T) {
	t.Parallel()
	pools := NewPools(PoolLimits{})
	t.Cleanup(func() { require.NoError(t, pools.Close()) })
	p, err := New(validConfig(), pools, nil)
	require.NoError(t, err)
	require.Equal(t, "orders", p.Type())
	require.Equal(t, []domain.Field{
		{Name: "id", Header: "Order ID", Kind: domain.KindInt},
		{Name: "customer", Header: "customer", Kind: domain.KindString},
		{Name: "amount", Header: "Amount", Kind: domain.KindDecimal},
	}, p.Fields())
	// Decimal params are cast so the server compares them exactly.
	require.Contains(t, p.stmts.first, "amount >= CAST(? AS DECIMAL(65,30)) AND (? IS NULL OR city = ?)")
	require.Equal(t, []string{"min_amount", "city", "city"}, p.names)
}
