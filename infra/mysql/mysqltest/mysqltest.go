// Package mysqltest gives tests a throw-away MariaDB/MySQL database next to
// the one DC_MYSQL_DSN names.
package mysqltest

import (
	"database/sql"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"
)

var seq atomic.Int64

// DSN creates an empty database (named dc_test_*) and returns a DSN for
// it; the database is dropped when the test ends. Without DC_MYSQL_DSN it
// returns "" — except when CI=true, where MariaDB tests must run, and it
// fails the test.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("DC_MYSQL_DSN")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but DC_MYSQL_DSN is not set: MariaDB tests must run in CI (make test starts MariaDB)")
		}
		t.Log("DC_MYSQL_DSN not set: MariaDB part not run (make test sets it)")
		return ""
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DC_MYSQL_DSN: %v", err)
	}
	name := fmt.Sprintf("dc_test_%d_%d", os.Getpid(), seq.Add(1))
	exec := func(q string) error {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec(q)
		return err
	}
	if err := exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { _ = exec("DROP DATABASE IF EXISTS " + name) })
	cfg.DBName = name
	return cfg.FormatDSN()
}
