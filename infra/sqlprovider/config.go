package sqlprovider

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/downloadcenter/dc/domain"
	mysqldriver "github.com/go-sql-driver/mysql"
)

// Defaults and bounds of a Config.
const (
	// DefaultTimeout bounds one query (a batch or the count) when a Config
	// names none.
	DefaultTimeout = 30 * time.Second
	// MinTimeout rejects timeouts that can only come from a YAML number
	// written without a unit ("timeout: 30" is 30ns).
	MinTimeout = time.Millisecond
	// DefaultTimeZone is the zone times are read and bound in when a Config
	// names none.
	DefaultTimeZone = "UTC"
	// MaxStringParam is the longest string param, in characters.
	MaxStringParam = domain.MaxStringParam
	// maxIdent is MySQL's limit on the length of a column alias.
	maxIdent = 64
)

// Config declares one export type served by a SQL query. The lead
// engineer's loader decodes a list of them from the providers YAML file:
//
//	sql:
//	  - type: orders
//	    dsn_env: SHOP_DSN        # or dsn: "reader:pw@tcp(db:3306)/shop"
//	    query: |
//	      SELECT id, customer, amount, created_at FROM orders
//	      WHERE amount >= :min_amount AND (:city IS NULL OR city = :city)
//	    key: id
//	    timeout: 30s
//	    time_zone: UTC
//	    params:
//	      min_amount: {kind: decimal, required: true}
//	      city: {kind: string}
//	    columns:
//	      - {field: id, header: "Order ID", kind: int}
//	      - {field: amount, header: "Amount", kind: decimal}
type Config struct {
	// Type is the export type clients ask for.
	Type string `yaml:"type"`
	// DSN is a go-sql-driver/mysql DSN written in the file. Exactly one of
	// DSN and DSNEnv is set; DSNEnv keeps the password out of the file.
	DSN string `yaml:"dsn"`
	// DSNEnv names an environment variable holding the whole DSN. There is
	// deliberately no ${VAR} expansion inside DSN: a password holding "$"
	// or "}" would need escaping rules of its own.
	DSNEnv string `yaml:"dsn_env"`
	// Query is one SELECT with named params (:name), wrapped as a derived
	// table and paged by Key: rows come in key order whatever its own
	// ORDER BY says, and a LIMIT in it makes every batch re-run it.
	Query string `yaml:"query"`
	// Key names the column rows are paged by (keyset paging). It must be one
	// of Columns, of kind int or string, unique and never NULL.
	Key string `yaml:"key"`
	// Timeout bounds each query; 0 means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// TimeZone is the zone DATETIME values are read in, time params are
	// bound in and the session time_zone (which TIMESTAMP columns follow):
	// "UTC" (the default), a fixed offset such as "+08:00", or an IANA name
	// such as "Asia/Shanghai" (which needs the server's time zone tables,
	// loaded with mariadb-tzinfo-to-sql).
	TimeZone string `yaml:"time_zone"`
	// Params declares the named params the query uses.
	Params map[string]Param `yaml:"params"`
	// Columns are the fields the export yields, in order; each names a
	// column of the query's result.
	Columns []Column `yaml:"columns"`
}

// Param declares one named query param: the one declaration of every
// export type (domain.ParamSpec). An absent optional param is bound as
// NULL, so queries test it with ":name IS NULL OR …".
type Param = domain.ParamSpec

// Column is one field of the export: a column of the query's result.
type Column = domain.ColumnSpec

var (
	// identRe is what columns, the key and params may be called: simple
	// identifiers need no quoting rules to be safe inside backticks.
	identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// envNameRe is a portable environment variable name.
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// offsetRe is a fixed UTC offset such as "+08:00".
	offsetRe = regexp.MustCompile(`^[+-](0[0-9]|1[0-4]):[0-5][0-9]$`)
	// zoneNameRe keeps a zone name safe to quote into SET time_zone.
	zoneNameRe = regexp.MustCompile(`^[A-Za-z0-9_/+-]+$`)
)

// Validate checks the config without touching the database or the
// environment, and reports every problem in one error.
func (c Config) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	if strings.TrimSpace(c.Type) == "" {
		add("type is empty")
	}
	switch {
	case c.DSN == "" && c.DSNEnv == "":
		add("one of dsn and dsn_env is required")
	case c.DSN != "" && c.DSNEnv != "":
		add("dsn and dsn_env are both set; use one")
	case c.DSNEnv != "" && !envNameRe.MatchString(c.DSNEnv):
		add("dsn_env %q is not an environment variable name", c.DSNEnv)
	case strings.Contains(c.DSN, "${"):
		add("dsn is not expanded: put the whole DSN in an environment variable and name it in dsn_env")
	case c.DSN != "":
		if _, err := mysqldriver.ParseDSN(c.DSN); err != nil {
			// The driver's message may quote parts of the DSN.
			add("dsn: %s", newRedactor(c.DSN, nil).clean(err.Error()))
		}
	}
	if c.Timeout < 0 {
		add("timeout %s is negative", c.Timeout)
	} else if c.Timeout > 0 && c.Timeout < MinTimeout {
		add("timeout %s is too short; write a unit, e.g. 30s", c.Timeout)
	}
	if _, err := loadZone(c.TimeZone); err != nil {
		add("%v", err)
	}

	fields := make(map[string]domain.ValueKind, len(c.Columns))
	if len(c.Columns) == 0 {
		add("columns is empty")
	}
	for i, col := range c.Columns {
		if _, dup := fields[col.Field]; dup {
			add("columns[%d]: field %q appears twice", i, col.Field)
		} else if !validIdent(col.Field) {
			add("columns[%d]: field %q is not a simple identifier (letters, digits, _; at most %d)", i, col.Field, maxIdent)
		}
		fields[col.Field] = col.Kind
		if !col.Kind.Valid() {
			add("columns[%d] (%s): unknown kind %q (want %s)", i, col.Field, col.Kind, kindList)
		}
	}

	switch kind, ok := fields[c.Key]; {
	case c.Key == "":
		add("key is empty; name the unique column rows are paged by")
	case !ok:
		add("key %q is not among the columns", c.Key)
	case !kind.Valid():
		// Reported with its column.
	case kind != domain.KindInt && kind != domain.KindString:
		add("key %q is of kind %s; keys must be int or string", c.Key, kind)
	}

	for _, name := range sortedKeys(c.Params) {
		p := c.Params[name]
		if !validIdent(name) {
			add("params: %q is not a simple identifier", name)
		}
		if !p.Kind.Valid() {
			add("params.%s: unknown kind %q (want %s)", name, p.Kind, kindList)
		}
	}

	if strings.TrimSpace(c.Query) == "" {
		add("query is empty")
	} else if q, err := parseQuery(c.Query); err != nil {
		add("query: %v", err)
	} else {
		used := make(map[string]bool, len(q.names))
		for _, name := range q.names {
			if !used[name] {
				used[name] = true
				if _, ok := c.Params[name]; !ok {
					add("query uses :%s but params does not declare it", name)
				}
			}
		}
		for _, name := range sortedKeys(c.Params) {
			if !used[name] {
				add("params.%s is declared but the query never uses :%s", name, name)
			}
		}
	}

	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("sql export type %q: %s", c.Type, strings.Join(probs, "; "))
}

// kindList names the value kinds for error messages.
const kindList = "string, int, decimal, time or bool"

func validIdent(s string) bool {
	return len(s) <= maxIdent && identRe.MatchString(s)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// zone is a configured time zone: the Go location and the value of the
// session's time_zone variable, which must name the same zone so that
// TIMESTAMP columns and time params agree with DATETIME ones.
type zone struct {
	loc     *time.Location
	session string
}

// loadZone resolves a time_zone setting.
func loadZone(name string) (zone, error) {
	switch {
	case name == "" || name == "UTC":
		return zone{loc: time.UTC, session: "+00:00"}, nil
	case offsetRe.MatchString(name):
		h, _ := strconv.Atoi(name[1:3])
		m, _ := strconv.Atoi(name[4:6])
		secs := h*3600 + m*60
		if name[0] == '-' {
			secs = -secs
		}
		return zone{loc: time.FixedZone(name, secs), session: name}, nil
	case name == "Local" || !zoneNameRe.MatchString(name):
		return zone{}, fmt.Errorf("time_zone %q: want UTC, an offset such as +08:00 or an IANA name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return zone{}, fmt.Errorf("time_zone %q: unknown zone", name)
	}
	return zone{loc: loc, session: name}, nil
}
