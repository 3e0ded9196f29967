package httpprovider_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

// testSecret is the shared secret of the tests' services; no error may
// contain it.
const testSecret = "test-secret-9f2c41d7e8a3b5c6"

func validConfig() httpprovider.Config {
	return httpprovider.Config{
		Type:   "invoices",
		URL:    "http://billing.internal/export/invoices",
		Secret: testSecret,
		Params: map[string]httpprovider.Param{"year": {Kind: domain.KindInt, Required: true}},
		Columns: []httpprovider.Column{
			{Field: "id", Header: "Invoice", Kind: domain.KindInt},
			{Field: "total", Header: "Total", Kind: domain.KindDecimal},
		},
	}
}

func intp(n int) *int { return &n }

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(c *httpprovider.Config)
		want   []string // substrings of the error; nil: valid
	}{
		{name: "valid", mutate: func(*httpprovider.Config) {}},
		{name: "https and secret_env", mutate: func(c *httpprovider.Config) {
			c.URL, c.Secret, c.SecretEnv = "https://billing.internal:8443/x?v=1", "", "INVOICES_SECRET"
		}},
		{name: "zero retries allowed", mutate: func(c *httpprovider.Config) { c.Retries = intp(0) }},
		{name: "no type", mutate: func(c *httpprovider.Config) { c.Type = "" }, want: []string{`http provider: type: is required`}},
		{name: "type with space", mutate: func(c *httpprovider.Config) { c.Type = "my invoices" }, want: []string{"type:", "must not contain spaces"}},
		{name: "no url", mutate: func(c *httpprovider.Config) { c.URL = "" }, want: []string{`http provider "invoices": url: is required`}},
		{name: "relative url", mutate: func(c *httpprovider.Config) { c.URL = "/export" }, want: []string{`url: "/export" must be an absolute http or https URL`}},
		{name: "ftp url", mutate: func(c *httpprovider.Config) { c.URL = "ftp://billing/x" }, want: []string{"must be an absolute http or https URL"}},
		{name: "no host", mutate: func(c *httpprovider.Config) { c.URL = "http:///x" }, want: []string{"has no host"}},
		{name: "unparsable url", mutate: func(c *httpprovider.Config) { c.URL = "http://bill ing:pw@x/%zz" }, want: []string{"url: is not a valid URL"}},
		{name: "url password not echoed", mutate: func(c *httpprovider.Config) { c.URL = "ftp://user:hunter2@billing/x" }, want: []string{"user:xxxxx@billing"}},
		{name: "fragment", mutate: func(c *httpprovider.Config) { c.URL = "http://billing/x#y" }, want: []string{"must not have a fragment"}},
		{name: "no secret", mutate: func(c *httpprovider.Config) { c.Secret = "" }, want: []string{"secret: one of secret or secret_env is required"}},
		{name: "both secrets", mutate: func(c *httpprovider.Config) { c.SecretEnv = "X" }, want: []string{"secret: set secret or secret_env, not both"}},
		{name: "short secret", mutate: func(c *httpprovider.Config) { c.Secret = "short" }, want: []string{"secret: must be at least 16 bytes long"}},
		{name: "bad env name", mutate: func(c *httpprovider.Config) { c.Secret, c.SecretEnv = "", "A=B" }, want: []string{`secret_env: "A=B" is not an environment variable name`}},
		{name: "negative timeout", mutate: func(c *httpprovider.Config) { c.Timeout = -time.Second }, want: []string{"timeout: must not be negative"}},
		{name: "negative max bytes", mutate: func(c *httpprovider.Config) { c.MaxResponseBytes = -1 }, want: []string{"max_response_bytes: must not be negative"}},
		{name: "huge max bytes", mutate: func(c *httpprovider.Config) { c.MaxResponseBytes = 2 << 30 }, want: []string{"max_response_bytes: must be at most"}},
		{name: "negative retries", mutate: func(c *httpprovider.Config) { c.Retries = intp(-1) }, want: []string{"retries: must be between 0 and 10"}},
		{name: "too many retries", mutate: func(c *httpprovider.Config) { c.Retries = intp(11) }, want: []string{"retries: must be between 0 and 10"}},
		{name: "negative backoff", mutate: func(c *httpprovider.Config) { c.Backoff = -time.Millisecond }, want: []string{"backoff: must not be negative"}},
		{name: "unknown param kind", mutate: func(c *httpprovider.Config) { c.Params["region"] = httpprovider.Param{Kind: "text"} }, want: []string{`params.region.kind: unknown kind "text"`}},
		{name: "param without kind", mutate: func(c *httpprovider.Config) { c.Params["region"] = httpprovider.Param{} }, want: []string{"params.region.kind: is required"}},
		{name: "empty param name", mutate: func(c *httpprovider.Config) { c.Params[""] = httpprovider.Param{Kind: domain.KindInt} }, want: []string{"params: a param name is empty"}},
		{name: "no columns", mutate: func(c *httpprovider.Config) { c.Columns = nil }, want: []string{"columns: at least one column is required"}},
		{name: "unknown column kind", mutate: func(c *httpprovider.Config) { c.Columns[1].Kind = "money" }, want: []string{`columns[1].kind: unknown kind "money"`}},
		{name: "column without field", mutate: func(c *httpprovider.Config) { c.Columns[0].Field = "" }, want: []string{"columns[0].field: is required"}},
		{name: "duplicate field", mutate: func(c *httpprovider.Config) { c.Columns[1].Field = "id" }, want: []string{`columns[1].field: "id" is a duplicate of columns[0]`}},
		{name: "every problem at once", mutate: func(c *httpprovider.Config) {
			c.URL, c.SecretEnv, c.Columns[1].Field = "", "X", "id"
		}, want: []string{"url: is required", "not both", "duplicate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), testSecret)
			require.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// The lead engineer's loader reads a list of these from YAML; the tags and
// the duration fields must decode as documented.
func TestConfigFromYAML(t *testing.T) {
	t.Parallel()
	const doc = `
http:
  - type: invoices
    url: "http://billing.internal/export/invoices"
    secret_env: INVOICES_SECRET
    timeout: 45s
    max_response_bytes: 1048576
    retries: 0
    backoff: 50ms
    params:
      year: {kind: int, required: true}
      region: {kind: string}
    allow_unknown_params: true
    count: true
    columns:
      - {field: id, header: "Invoice", kind: int}
      - {field: total, header: "Total", kind: decimal}
      - {field: issued_at, kind: time}
`
	var file struct {
		HTTP []httpprovider.Config `yaml:"http"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &file))
	require.Len(t, file.HTTP, 1)
	c := file.HTTP[0]
	require.Equal(t, httpprovider.Config{
		Type: "invoices", URL: "http://billing.internal/export/invoices", SecretEnv: "INVOICES_SECRET",
		Timeout: 45 * time.Second, MaxResponseBytes: 1 << 20, Retries: intp(0), Backoff: 50 * time.Millisecond,
		Params: map[string]httpprovider.Param{
			"year":   {Kind: domain.KindInt, Required: true},
			"region": {Kind: domain.KindString},
		},
		AllowUnknownParams: true, Count: true,
		Columns: []httpprovider.Column{
			{Field: "id", Header: "Invoice", Kind: domain.KindInt},
			{Field: "total", Header: "Total", Kind: domain.KindDecimal},
			{Field: "issued_at", Kind: domain.KindTime},
		},
	}, c)

	getenv := func(name string) string {
		if name == "INVOICES_SECRET" {
			return testSecret
		}
		return ""
	}
	p, err := httpprovider.New(c, getenv, nil)
	require.NoError(t, err)
	require.Equal(t, "invoices", p.Type())
	require.Equal(t, []domain.Field{
		{Name: "id", Header: "Invoice", Kind: domain.KindInt},
		{Name: "total", Header: "Total", Kind: domain.KindDecimal},
		{Name: "issued_at", Header: "issued_at", Kind: domain.KindTime},
	}, p.Fields())
}

func TestNewSecretEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "set", env: map[string]string{"INVOICES_SECRET": testSecret}},
		{name: "unset", env: map[string]string{}, wantErr: `http provider "invoices": secret_env: environment variable INVOICES_SECRET is unset or empty`},
		{name: "too short", env: map[string]string{"INVOICES_SECRET": "abc"}, wantErr: `http provider "invoices": secret_env: the secret in INVOICES_SECRET must be at least 16 bytes long`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Secret, c.SecretEnv = "", "INVOICES_SECRET"
			_, err := httpprovider.New(c, func(k string) string { return tt.env[k] }, nil)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.URL = "nope"
	_, err := httpprovider.New(c, nil, nil)
	require.ErrorContains(t, err, "url:")
}

func TestConfigStringRedactsSecret(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.URL = "http://user:hunter2@billing.internal/x"
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c)} {
		require.NotContains(t, s, testSecret)
		require.NotContains(t, s, "hunter2")
		require.Contains(t, s, "[redacted]")
	}
}

func TestFieldsReturnsACopy(t *testing.T) {
	t.Parallel()
	p, err := httpprovider.New(validConfig(), nil, nil)
	require.NoError(t, err)
	f := p.Fields()
	f[0].Name = "changed"
	require.Equal(t, "id", p.Fields()[0].Name)
}
