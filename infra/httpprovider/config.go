package httpprovider

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/downloadcenter/dc/domain"
)

// Defaults for the zero fields of Config, and the bounds Validate applies.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	DefaultRetries          = 3
	DefaultBackoff          = 200 * time.Millisecond
	// MaxBackoff caps the wait between two tries (a longer configured
	// Backoff raises it to Backoff), including a service's Retry-After,
	// so one attempt cannot sleep on a worker slot for minutes.
	MaxBackoff = 10 * time.Second
	// MaxRetries bounds Retries: more belongs to the task retry policy,
	// which frees the worker slot between attempts.
	MaxRetries = 10
	// MaxResponseBytesLimit bounds MaxResponseBytes: a page is held in
	// memory whole while it is decoded.
	MaxResponseBytesLimit = 1 << 30
	// MinSecretLen is the shortest secret accepted; a short shared secret
	// can be guessed offline from one captured request.
	MinSecretLen = 16
)

// Config describes one export type served by a business service over HTTP.
// It is read from the providers YAML file, one entry of its http list:
//
//	type: invoices
//	url: "http://billing.internal/export/invoices"
//	secret_env: INVOICES_SECRET   # or secret: "…"; exactly one of the two
//	timeout: 30s
//	max_response_bytes: 33554432
//	retries: 3
//	backoff: 200ms
//	params:
//	  year: {kind: int, required: true}
//	allow_unknown_params: false
//	count: false
//	legacy_signature: true   # also the X-DC-* headers of earlier releases (deprecated)
//	columns:
//	  - {field: id, header: "Invoice", kind: int}
//	  - {field: total, header: "Total", kind: decimal}
type Config struct {
	// Type is the export type clients ask for.
	Type string `yaml:"type"`
	// URL receives every request of the type (an absolute http or https
	// URL). Redirects are not followed: they would drop the signed body.
	URL string `yaml:"url"`
	// Secret is the HMAC key shared with the service, at least
	// MinSecretLen bytes. Prefer SecretEnv, which keeps it out of files.
	Secret string `yaml:"secret"`
	// SecretEnv names the environment variable holding the secret.
	SecretEnv string `yaml:"secret_env"`
	// Timeout bounds one HTTP request, reading the response included
	// (DefaultTimeout when zero).
	Timeout time.Duration `yaml:"timeout"`
	// MaxResponseBytes bounds one response body after decompression
	// (DefaultMaxResponseBytes when zero); a larger page fails the task.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
	// Retries is how many times one request is tried again after a 5xx,
	// 408, 429, timeout or connection error before the attempt fails.
	// A pointer so an explicit 0 (no retries) differs from unset
	// (DefaultRetries).
	Retries *int `yaml:"retries"`
	// Backoff is the wait before the first retry; it doubles for each
	// further one, with jitter, up to MaxBackoff (DefaultBackoff when
	// zero).
	Backoff time.Duration `yaml:"backoff"`
	// Params declares the params a task may carry, by name. They are
	// checked when a task is created and sent to the service unchanged.
	Params map[string]Param `yaml:"params"`
	// AllowUnknownParams passes params that Params does not declare to
	// the service unchecked; by default they are rejected at creation.
	AllowUnknownParams bool `yaml:"allow_unknown_params"`
	// Count says the service also answers count requests, so running
	// tasks show a total.
	Count bool `yaml:"count"`
	// Columns are the fields of a row, in order.
	Columns []Column `yaml:"columns"`
	// LegacySignature also sends the signature headers of earlier
	// releases (X-DC-Timestamp, X-DC-Signature: sha256=<hex>) beside the
	// Standard Webhooks ones, so a business service written against them
	// keeps working across the upgrade and can move to the new headers at
	// its own pace. Unset means true for now; set false once the service
	// verifies webhook-signature. Deprecated: it goes in a later release.
	LegacySignature *bool `yaml:"legacy_signature"`
}

// Param declares one task param: the one declaration of every export
// type (domain.ParamSpec).
type Param = domain.ParamSpec

// Column is one field of the rows the service returns; Field is the key
// of the value in a row object.
type Column = domain.ColumnSpec

// String describes c with the secret redacted, so logging a Config cannot
// leak it.
func (c Config) String() string {
	secret := ""
	if c.Secret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("httpprovider.Config{type=%q url=%q secret=%s secret_env=%q columns=%d params=%d}",
		c.Type, redactURL(c.URL), secret, c.SecretEnv, len(c.Columns), len(c.Params))
}

// Validate reports every problem of c at once, naming each by its YAML key.
// It does not look up SecretEnv; New does.
func (c Config) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }

	switch {
	case c.Type == "":
		add("type: is required")
	case strings.IndexFunc(c.Type, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0:
		add("type: %q must not contain spaces or control characters", c.Type)
	}
	if msg := checkURL(c.URL); msg != "" {
		add("url: %s", msg)
	}
	switch {
	case c.Secret == "" && c.SecretEnv == "":
		add("secret: one of secret or secret_env is required")
	case c.Secret != "" && c.SecretEnv != "":
		add("secret: set secret or secret_env, not both")
	case c.Secret != "" && len(c.Secret) < MinSecretLen:
		add("secret: must be at least %d bytes long", MinSecretLen)
	case c.SecretEnv != "" && strings.ContainsAny(c.SecretEnv, "= \t\r\n\x00"):
		add("secret_env: %q is not an environment variable name", c.SecretEnv)
	}
	if c.Timeout < 0 {
		add("timeout: must not be negative")
	}
	switch {
	case c.MaxResponseBytes < 0:
		add("max_response_bytes: must not be negative")
	case c.MaxResponseBytes > MaxResponseBytesLimit:
		add("max_response_bytes: must be at most %d", MaxResponseBytesLimit)
	}
	if c.Retries != nil && (*c.Retries < 0 || *c.Retries > MaxRetries) {
		add("retries: must be between 0 and %d", MaxRetries)
	}
	if c.Backoff < 0 {
		add("backoff: must not be negative")
	}
	names := make([]string, 0, len(c.Params))
	for name := range c.Params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "" {
			add("params: a param name is empty")
			continue
		}
		if k := c.Params[name].Kind; !k.Valid() {
			add("params.%s.kind: %s", name, kindProblem(k))
		}
	}
	if len(c.Columns) == 0 {
		add("columns: at least one column is required")
	}
	seen := make(map[string]int, len(c.Columns))
	for i, col := range c.Columns {
		switch j, dup := seen[col.Field]; {
		case col.Field == "":
			add("columns[%d].field: is required", i)
		case dup:
			add("columns[%d].field: %q is a duplicate of columns[%d]", i, col.Field, j)
		default:
			seen[col.Field] = i
		}
		if !col.Kind.Valid() {
			add("columns[%d].kind: %s", i, kindProblem(col.Kind))
		}
	}
	if len(probs) == 0 {
		return nil
	}
	name := "http provider"
	if c.Type != "" {
		name = fmt.Sprintf("http provider %q", c.Type)
	}
	return errors.New(name + ": " + strings.Join(probs, "; "))
}

func kindProblem(k domain.ValueKind) string {
	if k == "" {
		return "is required (string, int, decimal, time or bool)"
	}
	return fmt.Sprintf("unknown kind %q (want string, int, decimal, time or bool)", k)
}

// checkURL returns what is wrong with a service URL, or "". The URL is
// echoed without its password.
func checkURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the raw URL, password included.
		return "is not a valid URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an absolute http or https URL", u.Redacted())
	case u.Host == "":
		return fmt.Sprintf("%q has no host", u.Redacted())
	case u.Fragment != "":
		return fmt.Sprintf("%q must not have a fragment", u.Redacted())
	}
	return ""
}

// redactURL shows a URL without its password, whatever its validity.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// settings are a validated Config with its defaults applied.
type settings struct {
	timeout  time.Duration
	maxBytes int64
	retries  int
	backoff  time.Duration
	legacy   bool // LegacySignature
}

func (c Config) settings() settings {
	s := settings{timeout: c.Timeout, maxBytes: c.MaxResponseBytes, retries: DefaultRetries, backoff: c.Backoff, legacy: true}
	if c.LegacySignature != nil {
		s.legacy = *c.LegacySignature
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxResponseBytes
	}
	if c.Retries != nil {
		s.retries = *c.Retries
	}
	if s.backoff == 0 {
		s.backoff = DefaultBackoff
	}
	return s
}
