package app

import (
	"context"
	"io"
	"log/slog"
	"strings"
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

// Private webhook targets are refused by default, except by an embedded
// dc-api that only this machine can call; the setting overrides both.
func TestAllowPrivateWebhooksDefaults(t *testing.T) {
	t.Parallel()
	mysql := "u:p@tcp(db:3306)/dc"
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{env: nil, want: true},
		{env: map[string]string{"DC_HTTP_ADDR": "localhost:9000"}, want: true},
		{env: map[string]string{"DC_HTTP_ADDR": "[::1]:9000"}, want: true},
		{env: map[string]string{"DC_HTTP_ADDR": ":9000"}, want: false},
		{env: map[string]string{"DC_HTTP_ADDR": "0.0.0.0:9000"}, want: false},
		{env: map[string]string{"DC_HTTP_ADDR": "10.1.2.3:9000"}, want: false},
		{env: map[string]string{"DC_WEBHOOK_ALLOW_PRIVATE": "false"}, want: false},
		{env: map[string]string{"DC_MYSQL_DSN": mysql, "DC_LINK_SECRET": strings.Repeat("s", 32)}, want: false},
		{env: map[string]string{"DC_MYSQL_DSN": mysql, "DC_LINK_SECRET": strings.Repeat("s", 32), "DC_HTTP_ADDR": "127.0.0.1:8080"}, want: false},
		{env: map[string]string{"DC_MYSQL_DSN": mysql, "DC_LINK_SECRET": strings.Repeat("s", 32), "DC_WEBHOOK_ALLOW_PRIVATE": "true"}, want: true},
	} {
		require.Equal(t, tc.want, parseEnv(t, tc.env).AllowPrivateWebhooks(), "%v", tc.env)
	}
	_, err := Parse("dc-api", nil, func(k string) string { return map[string]string{"DC_WEBHOOK_ALLOW_PRIVATE": "yes please"}[k] }, io.Discard)
	require.ErrorContains(t, err, "DC_WEBHOOK_ALLOW_PRIVATE must be true or false")
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

// The page's settings: CORS origins are origins (a path or another scheme
// is refused), frame-ancestors are CSP sources, the events poll is bounded.
func TestPageSettings(t *testing.T) {
	t.Parallel()
	c := parseEnv(t, nil)
	require.Equal(t, "'self'", c.UIFrameAncestors)
	require.Equal(t, "demo", c.DemoUser)
	list, err := c.CORSList()
	require.NoError(t, err)
	require.Empty(t, list)
	c = parseEnv(t, map[string]string{"DC_CORS_ORIGINS": " https://app.example.com/ , http://localhost:3000,*"})
	list, err = c.CORSList()
	require.NoError(t, err)
	require.Equal(t, []string{"https://app.example.com", "http://localhost:3000", "*"}, list)
	for env, want := range map[string]string{
		"DC_CORS_ORIGINS=https://app.example.com/page": "DC_CORS_ORIGINS",
		"DC_CORS_ORIGINS=ftp://files.example.com":      "DC_CORS_ORIGINS",
		"DC_CORS_ORIGINS=app.example.com":              "DC_CORS_ORIGINS",
		"DC_UI_FRAME_ANCESTORS='self'; script-src *":   "DC_UI_FRAME_ANCESTORS",
		"DC_EVENTS_POLL=10ms":                          "DC_EVENTS_POLL",
	} {
		k, v, _ := strings.Cut(env, "=")
		_, err := Parse("dc-api", nil, func(name string) string { return map[string]string{k: v}[name] }, io.Discard)
		require.ErrorContains(t, err, want, env)
	}
}
