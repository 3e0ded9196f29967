package sqlprovider

import (
	"errors"
	"strings"

	"github.com/downloadcenter/dc/domain"
	mysqldriver "github.com/go-sql-driver/mysql"
)

// dbError is a database failure as the provider reports it: the message
// with context and credentials scrubbed. It deliberately does not wrap the
// driver's error, whose text could be printed by someone unwrapping it;
// it wraps only a context error, so callers can still tell a cancel.
type dbError struct {
	msg   string
	cause error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.cause }

// permanentNumbers are server errors no retry can fix: the query, the
// grants or the configuration are wrong. SQLSTATE classes cover most
// (see permanentState); these are the ones whose state is the generic
// HY000 or that deserve to be listed for the reader.
var permanentNumbers = map[uint16]bool{
	1044: true, // access denied to database
	1045: true, // access denied for user (wrong password)
	1046: true, // no database selected
	1049: true, // unknown database
	1054: true, // unknown column
	1060: true, // duplicate column name (in the derived table)
	1064: true, // syntax error
	1142: true, // command denied on a table
	1143: true, // command denied on a column
	1146: true, // table does not exist
	1227: true, // needs a privilege
	1242: true, // subquery returns more than one row
	1298: true, // unknown time zone (load the server's zone tables)
	1305: true, // function does not exist
	1356: true, // view references invalid tables or columns
	1370: true, // execute command denied on a routine
}

// retryableNumbers are server errors that a later attempt can outlive,
// even where their SQLSTATE class says otherwise (1203 is 42000).
var retryableNumbers = map[uint16]bool{
	1040: true, // too many connections
	1053: true, // server shutdown in progress
	1203: true, // user has too many connections
	1205: true, // lock wait timeout
	1213: true, // deadlock
	1317: true, // query interrupted
	1927: true, // connection killed (MariaDB)
	1969: true, // max_statement_time exceeded (MariaDB)
	3024: true, // max_execution_time exceeded (MySQL)
}

// permanentState says an SQLSTATE class means a wrong query or wrong data:
// 42 syntax or access rule, 22 data exception, 21 cardinality, 28 bad
// authorization, 3D no database, 0A unsupported feature.
func permanentState(state [5]byte) bool {
	switch string(state[:2]) {
	case "42", "22", "21", "28", "3D", "0A":
		return true
	}
	return false
}

// permanentDriverErrors are the driver's own errors that only a
// configuration change can fix.
var permanentDriverErrors = []error{
	mysqldriver.ErrNoTLS,
	mysqldriver.ErrCleartextPassword,
	mysqldriver.ErrNativePassword,
	mysqldriver.ErrOldPassword,
	mysqldriver.ErrUnknownPlugin,
}

// isPermanent classifies a database error. Anything not known to be
// permanent (connection failures, timeouts, deadlocks, unknown errors) is
// retryable: the retry policy bounds the attempts anyway.
func isPermanent(err error) bool {
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		if retryableNumbers[me.Number] {
			return false
		}
		return permanentNumbers[me.Number] || permanentState(me.SQLState)
	}
	for _, p := range permanentDriverErrors {
		if errors.Is(err, p) {
			return true
		}
	}
	return false
}

// redactor scrubs credentials from text that may quote them. The driver
// never prints the password, but server messages name the user ("Access
// denied for user 'reader'@'10.0.0.5'") and a DSN parse error may quote
// parts of the DSN.
type redactor struct {
	dsn, user, password string
}

// newRedactor takes the credentials from the parsed config when there is
// one and, for a DSN that failed to parse, from its "user:password@" part.
func newRedactor(dsn string, cfg *mysqldriver.Config) redactor {
	r := redactor{dsn: dsn}
	if cfg != nil {
		r.user, r.password = cfg.User, cfg.Passwd
		return r
	}
	if at := strings.LastIndexByte(dsn, '@'); at >= 0 {
		r.user, r.password, _ = strings.Cut(dsn[:at], ":")
	}
	return r
}

const redacted = "***"

// clean returns s without the DSN, the password anywhere, or the user where
// a message quotes it.
func (r redactor) clean(s string) string {
	if r.dsn != "" {
		s = strings.ReplaceAll(s, r.dsn, "<dsn>")
	}
	if r.password != "" {
		s = strings.ReplaceAll(s, r.password, redacted)
	}
	if r.user != "" {
		for _, q := range []string{"'", `"`, "`"} {
			s = strings.ReplaceAll(s, q+r.user+q, q+redacted+q)
		}
		s = strings.ReplaceAll(s, r.user+"@", redacted+"@")
	}
	return s
}

// wrap reports a failed operation: scrubbed, with context, and marked
// permanent when no retry can fix it.
func (r redactor) wrap(op string, err error) error {
	e := &dbError{msg: op + ": " + r.clean(err.Error())}
	if isPermanent(err) {
		return domain.Permanent(e)
	}
	return e
}
