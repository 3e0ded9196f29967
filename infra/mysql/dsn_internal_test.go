package mysql

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Regression: a DSN without timeouts let a half-open connection stall a
// replica for the kernel's 15 minutes. Defaults apply; a DSN's own win.
func TestMySQLConfigSetsNetworkTimeouts(t *testing.T) {
	cfg, err := mysqlConfig("dc:pw@tcp(db:3306)/dc")
	require.NoError(t, err)
	require.Equal(t, defaultDialTimeout, cfg.Timeout)
	require.Equal(t, defaultReadTimeout, cfg.ReadTimeout)
	require.Equal(t, defaultWriteTimeout, cfg.WriteTimeout)

	cfg, err = mysqlConfig("dc:pw@tcp(db:3306)/dc?timeout=2s&readTimeout=5s&writeTimeout=7s")
	require.NoError(t, err)
	require.Equal(t, 2*time.Second, cfg.Timeout)
	require.Equal(t, 5*time.Second, cfg.ReadTimeout)
	require.Equal(t, 7*time.Second, cfg.WriteTimeout)

	_, err = mysqlConfig("not a dsn")
	require.Error(t, err)
}
