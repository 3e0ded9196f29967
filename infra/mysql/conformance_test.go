package mysql_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain/storetest"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/mysql/mysqltest"
)

// The SQL store passes the conformance suite the domain tests' fake also
// passes, on SQLite always and on MySQL/MariaDB when DC_MYSQL_DSN is set
// (required in CI).
func TestStoreConformance(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		storetest.Run(t, func(t *testing.T) storetest.Store { return openSQLite(t) })
		storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return openSQLite(t) })
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		if mysqltest.DSN(t) == "" {
			return // logged by DSN; required when CI=true
		}
		storetest.Run(t, func(t *testing.T) storetest.Store { return openMariaDB(t) })
		storetest.RunWebhooks(t, func(t *testing.T) storetest.WebhookStore { return openMariaDB(t) })
	})
}

func openSQLite(t *testing.T) *mysql.Store {
	s, err := mysql.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dc.db"), quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openMariaDB(t *testing.T) *mysql.Store {
	s, err := mysql.OpenMySQL(context.Background(), mysqltest.DSN(t), quiet)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}
