package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func parseEnv(t *testing.T, env map[string]string) Config {
	t.Helper()
	c, err := Parse("dc-api", nil, func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	return c
}

// The embedded mode is reachable from this machine only unless asked; the
// shared mode listens on every interface, as a container must.
func TestHTTPAddrDefaultsByMode(t *testing.T) {
	t.Parallel()
	require.Equal(t, "127.0.0.1:8080", parseEnv(t, nil).HTTPAddr)
	require.Equal(t, ":8080", parseEnv(t, map[string]string{"DC_MYSQL_DSN": "u:p@tcp(db:3306)/dc"}).HTTPAddr)
	require.Equal(t, ":9000", parseEnv(t, map[string]string{"DC_HTTP_ADDR": ":9000"}).HTTPAddr)
	_, err := Parse("dc-api", nil, func(k string) string {
		return map[string]string{"DC_HTTP_ADDR": "8080"}[k]
	}, io.Discard)
	require.ErrorContains(t, err, "DC_HTTP_ADDR must be host:port")
}

func TestCSVFormulaEscapeDefaultsOn(t *testing.T) {
	t.Parallel()
	require.True(t, parseEnv(t, nil).CSVFormulaEscape)
	require.False(t, parseEnv(t, map[string]string{"DC_CSV_FORMULA_ESCAPE": "false"}).CSVFormulaEscape)
}

// demo writes up to ten million made-up rows for anyone: only where it was
// asked for.
func TestDemoRegisteredOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	for _, with := range []bool{false, true} {
		p, err := LoadProviders(context.Background(), "", with, func(string) string { return "" }, log)
		require.NoError(t, err)
		_, ok := p.Registry["demo"]
		require.Equal(t, with, ok)
	}
	cfg := parseEnv(t, map[string]string{"DC_MYSQL_DSN": "u:p@tcp(db:3306)/dc"})
	require.False(t, cfg.Embedded() || cfg.Demo, "MySQL mode without DC_DEMO has no demo")
	cfg = parseEnv(t, map[string]string{"DC_MYSQL_DSN": "u:p@tcp(db:3306)/dc", "DC_DEMO": "true"})
	require.True(t, cfg.Demo)
}
