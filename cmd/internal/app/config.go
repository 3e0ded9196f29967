// Package app holds what cmd/api and cmd/worker share: the typed
// configuration and the wiring of adapters into the domain. Nothing else
// imports it.
package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// Config is every setting of both binaries. Each comes from a flag, else
// its DC_* environment variable, else its default.
type Config struct {
	HTTPAddr          string
	WorkerHTTPAddr    string
	HTTPReadTimeout   time.Duration
	DataDir           string
	StorageDir        string
	MySQLDSN          string
	RocketMQNamesrv   string
	RocketMQTopic     string
	RocketMQGroup     string
	WorkerID          string
	WorkerSlots       int
	BatchSize         int
	SheetRows         int
	LeaseTTL          time.Duration
	SchedulerInterval time.Duration
	Scheduler         bool
	RetryBackoff      time.Duration
	MaxAttempts       int
	ShutdownGrace     time.Duration
	StallTimeout      time.Duration
	IdlePoll          time.Duration
	ProvidersFile     string
	LogLevel          string

	// Access control, limits and retention (dc-api).
	LinkSecret             string
	LinkTTL                time.Duration
	FileTTL                time.Duration
	TaskTTL                time.Duration
	OrphanGrace            time.Duration
	TenantMaxActive        int
	TenantCreatesPerMinute int
	MaxRows                int
	MaxFileBytes           int
	// Demo registers the built-in demo export type outside the embedded
	// mode too (it always is in the embedded mode).
	Demo bool
	// CSVFormulaEscape prefixes csv text cells that a spreadsheet would run
	// as formulas with an apostrophe.
	CSVFormulaEscape bool
	// Storage is where export files live: "local" (StorageDir) or "s3".
	Storage string
	S3      S3Settings

	// Completion webhooks (dc-api).
	WebhookBackoff  time.Duration
	WebhookRetryFor time.Duration
	// WebhookAllowPrivate is "true", "false" or "" (see
	// AllowPrivateWebhooks).
	WebhookAllowPrivate string
	// The download center page (dc-api).
	UIFrameAncestors string
	CORSOrigins      string
	EventsPoll       time.Duration
	// DemoUser, in the embedded mode, is who the session printed at start
	// is for.
	DemoUser string
}

// setting describes one configuration entry for flags, env and --help.
type setting struct {
	flag, env, help string
	bind            func(fs *flag.FlagSet, name, def, usage string)
	def             string
}

func settings(c *Config) []setting {
	str := func(p *string) func(*flag.FlagSet, string, string, string) {
		return func(fs *flag.FlagSet, n, d, u string) { fs.StringVar(p, n, d, u) }
	}
	num := func(p *int) func(*flag.FlagSet, string, string, string) {
		return func(fs *flag.FlagSet, n, d, u string) { fs.Var(intValue{p}, n, u) }
	}
	dur := func(p *time.Duration) func(*flag.FlagSet, string, string, string) {
		return func(fs *flag.FlagSet, n, d, u string) { fs.Var(durValue{p}, n, u) }
	}
	boolean := func(p *bool) func(*flag.FlagSet, string, string, string) {
		return func(fs *flag.FlagSet, n, d, u string) { fs.Var(boolValue{p}, n, u) }
	}
	return []setting{
		{"http-addr", "DC_HTTP_ADDR", "address the API listens on (default 127.0.0.1:8080 in the embedded mode, :8080 with MySQL)", str(&c.HTTPAddr), ""},
		{"http-read-timeout", "DC_HTTP_READ_TIMEOUT", "how long a client may take to send a request's headers and body", dur(&c.HTTPReadTimeout), "30s"},
		{"worker-http-addr", "DC_WORKER_HTTP_ADDR", "address dc-worker serves /healthz, /readyz and /metrics on", str(&c.WorkerHTTPAddr), ":8081"},
		{"data-dir", "DC_DATA_DIR", "directory of the embedded database and, by default, the files", str(&c.DataDir), "./data"},
		{"storage-dir", "DC_STORAGE_DIR", "shared volume the export files are written to (default $DC_DATA_DIR/files)", str(&c.StorageDir), ""},
		{"mysql-dsn", "DC_MYSQL_DSN", "MySQL/MariaDB DSN (user:pw@tcp(host:3306)/db); empty: embedded SQLite", str(&c.MySQLDSN), ""},
		{"rocketmq-namesrv", "DC_ROCKETMQ_NAMESRV", "RocketMQ name server(s), host:port[;host:port]; empty: in-process queue and worker", str(&c.RocketMQNamesrv), ""},
		{"rocketmq-topic", "DC_ROCKETMQ_TOPIC", "RocketMQ topic of task intents", str(&c.RocketMQTopic), "dc-task-intents"},
		{"rocketmq-group", "DC_ROCKETMQ_GROUP", "RocketMQ consumer group of the workers", str(&c.RocketMQGroup), "dc-workers"},
		{"worker-id", "DC_WORKER_ID", "this worker's id, recorded on the tasks it runs (default hostname-pid)", str(&c.WorkerID), ""},
		{"worker-slots", "DC_WORKER_SLOTS", "exports one worker runs at once", num(&c.WorkerSlots), "4"},
		{"batch-size", "DC_BATCH_SIZE", "rows fetched from a provider per batch", num(&c.BatchSize), "5000"},
		{"xlsx-sheet-rows", "DC_XLSX_SHEET_ROWS", "data rows per xlsx sheet before a new sheet starts", num(&c.SheetRows), "1048575"},
		{"lease-ttl", "DC_LEASE_TTL", "how long a claim lasts without a heartbeat", dur(&c.LeaseTTL), "30s"},
		{"scheduler-interval", "DC_SCHEDULER_INTERVAL", "how often the scheduler sweeps", dur(&c.SchedulerInterval), "5s"},
		{"scheduler", "DC_SCHEDULER", "run the scheduler in this api process", boolean(&c.Scheduler), "true"},
		{"retry-backoff", "DC_RETRY_BACKOFF", "wait before the first automatic retry; doubles per attempt", dur(&c.RetryBackoff), "30s"},
		{"max-attempts", "DC_MAX_ATTEMPTS", "attempts a task gets before it stays FAILED", num(&c.MaxAttempts), "5"},
		{"shutdown-grace", "DC_SHUTDOWN_GRACE", "how long running exports may finish on SIGTERM", dur(&c.ShutdownGrace), "30s"},
		{"stall-timeout", "DC_STALL_TIMEOUT", "fail an export attempt that fetched no batch for this long; 0 disables", dur(&c.StallTimeout), "10m"},
		{"idle-poll", "DC_IDLE_POLL", "how often an idle worker looks for waiting tasks in the database", dur(&c.IdlePoll), "250ms"},
		{"providers-file", "DC_PROVIDERS_FILE", "YAML file declaring SQL and HTTP export types (give api and workers the same file)", str(&c.ProvidersFile), ""},
		{"log-level", "DC_LOG_LEVEL", "debug, info, warn or error", str(&c.LogLevel), "info"},
		{"link-secret", "DC_LINK_SECRET", "secret signing download links, at least 32 characters, the same on every dc-api (required with DC_MYSQL_DSN; embedded: generated once into the data dir)", str(&c.LinkSecret), ""},
		{"link-ttl", "DC_LINK_TTL", "how long a signed download link works after the task JSON holding it was made", dur(&c.LinkTTL), "15m"},
		{"file-ttl", "DC_FILE_TTL", "how long a finished file is kept after its task finished (0: for ever)", dur(&c.FileTTL), "168h"},
		{"task-ttl", "DC_TASK_TTL", "how long a finished task row is kept after it was created (0: for ever)", dur(&c.TaskTTL), "2160h"},
		{"orphan-grace", "DC_ORPHAN_GRACE", "age after which a file on the volume that no task references is removed (0: never)", dur(&c.OrphanGrace), "1h"},
		{"tenant-max-active", "DC_TENANT_MAX_ACTIVE", "default limit of a tenant's waiting and running tasks (0: none)", num(&c.TenantMaxActive), "100"},
		{"tenant-creates-per-minute", "DC_TENANT_CREATES_PER_MINUTE", "default limit of a tenant's creates per minute (0: none)", num(&c.TenantCreatesPerMinute), "600"},
		{"max-rows", "DC_MAX_ROWS", "default limit of rows per export (0: none)", num(&c.MaxRows), "20000000"},
		{"max-file-bytes", "DC_MAX_FILE_BYTES", "default limit of an export file's bytes (0: none)", num(&c.MaxFileBytes), "2147483648"},
		{"demo", "DC_DEMO", "register the built-in demo export type with MySQL too (always on in the embedded mode)", boolean(&c.Demo), "false"},
		{"csv-formula-escape", "DC_CSV_FORMULA_ESCAPE", "write csv text cells starting with = + - @ tab or CR with a leading '", boolean(&c.CSVFormulaEscape), "true"},
		{"storage", "DC_STORAGE", "where export files live: local (DC_STORAGE_DIR) or s3 (a bucket, DC_S3_*)", str(&c.Storage), "local"},
		{"s3-endpoint", "DC_S3_ENDPOINT", "S3 server URL (http://host:8333); empty: AWS S3 in DC_S3_REGION", str(&c.S3.Endpoint), ""},
		{"s3-bucket", "DC_S3_BUCKET", "bucket of the export files (DC_STORAGE=s3)", str(&c.S3.Bucket), ""},
		{"s3-prefix", "DC_S3_PREFIX", "key prefix of the export files in the bucket", str(&c.S3.Prefix), ""},
		{"s3-region", "DC_S3_REGION", "bucket region; empty: the AWS chain's (AWS_REGION), else us-east-1", str(&c.S3.Region), ""},
		{"s3-access-key", "DC_S3_ACCESS_KEY", "S3 access key; empty with the secret key: the standard AWS credential chain", str(&c.S3.AccessKey), ""},
		{"s3-secret-key", "DC_S3_SECRET_KEY", "S3 secret key", str(&c.S3.SecretKey), ""},
		{"s3-path-style", "DC_S3_PATH_STYLE", "address the bucket as endpoint/bucket (true) or bucket.endpoint (false); empty: true with DC_S3_ENDPOINT", str(&c.S3.PathStyle), ""},
		{"s3-proxy", "DC_S3_PROXY", "stream downloads through dc-api instead of redirecting clients to a presigned bucket URL", boolean(&c.S3.Proxy), "false"},
		{"s3-link-ttl", "DC_S3_LINK_TTL", "lifetime of the presigned URL a download redirects to", dur(&c.S3.LinkTTL), "5m"},
		{"webhook-backoff", "DC_WEBHOOK_BACKOFF", "wait after a webhook delivery's first failed attempt; doubles per attempt (up to 1h)", dur(&c.WebhookBackoff), "5s"},
		{"webhook-retry-for", "DC_WEBHOOK_RETRY_FOR", "how long a webhook delivery is retried before it is marked failed", dur(&c.WebhookRetryFor), "24h"},
		{"webhook-allow-private", "DC_WEBHOOK_ALLOW_PRIVATE", "let webhook endpoints be loopback, private or link-local addresses; empty: true only in the embedded mode listening on a loopback address, else false", str(&c.WebhookAllowPrivate), ""},
		{"ui-frame-ancestors", "DC_UI_FRAME_ANCESTORS", "CSP frame-ancestors of the page at /ui/: the origins that may embed it in a frame ('self', 'none' or origins)", str(&c.UIFrameAncestors), "'self'"},
		{"cors-origins", "DC_CORS_ORIGINS", "comma-separated origins (https://app.example.com) whose scripts may call /api/v1 (CORS); * allows any; empty: none", str(&c.CORSOrigins), ""},
		{"events-poll", "DC_EVENTS_POLL", "how often dc-api polls the database for task changes to stream to pages (GET /api/v1/events)", dur(&c.EventsPoll), "1s"},
		{"demo-user", "DC_DEMO_USER", "embedded mode: the user of tenant default the page link printed at start opens the page for", str(&c.DemoUser), "demo"},
	}
}

// Parse reads flags from args over environment variables over defaults.
// It returns flag.ErrHelp after printing usage for -h/--help.
func Parse(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c, rest, err := ParseWith(name, args, getenv, out, nil)
	if err == nil && len(rest) > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	return c, err
}

// ParseWith is Parse for a subcommand: extra adds the subcommand's own
// flags beside every setting, and the arguments left after the flags are
// returned.
func ParseWith(name string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (Config, []string, error) {
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if extra != nil {
		extra(fs)
	}
	fs.SetOutput(out)
	ss := settings(&c)
	for _, s := range ss {
		def, from := s.def, "default"
		if v := getenv(s.env); v != "" {
			def, from = v, s.env
		}
		// A subcommand flag of the same name (tenants set --max-rows)
		// wins; the setting then comes from its variable or default only.
		into := fs
		if fs.Lookup(s.flag) != nil {
			into = flag.NewFlagSet(name, flag.ContinueOnError)
		}
		s.bind(into, s.flag, def, s.help)
		if err := into.Set(s.flag, def); err != nil {
			return c, nil, fmt.Errorf("%s: %w", from, err)
		}
	}
	fs.Usage = func() {
		if len(commands[name]) > 0 {
			fmt.Fprintf(out, "Usage: %s [flags]\n       %s COMMAND\n\nCommands:\n", name, name)
			for _, c := range commands[name] {
				fmt.Fprintf(out, "  %-20s %s\n", c[0], c[1])
			}
			fmt.Fprintln(out)
		} else {
			fmt.Fprintf(out, "Usage: %s [flags]\n\n", name)
		}
		fmt.Fprintf(out, "  --version              print the version and exit\n  --help                 print this help\n\n")
		fmt.Fprintf(out, "Flags (each can also be set by its environment variable):\n\n")
		for _, s := range ss {
			if notFor[name][s.flag] {
				continue
			}
			d := " (default " + s.def + ")"
			switch {
			case strings.Contains(s.help, "(default "):
				d = "" // the help says it, mode by mode
			case s.def == "":
				d = ` (default "")`
			}
			fmt.Fprintf(out, "  --%-20s %-24s %s%s\n", s.flag, s.env, s.help, d)
		}
	}
	if extra != nil {
		fs.Usage = func() {
			fmt.Fprintf(out, "Usage: %s [flags] (every setting of dc-api is a flag here too)\n\n", name)
			fs.VisitAll(func(f *flag.Flag) {
				fmt.Fprintf(out, "  --%-26s %s\n", f.Name, f.Usage)
			})
		}
	}
	for _, a := range args {
		if a == "--version" || a == "-version" {
			printVersion(out, name)
			return c, nil, flag.ErrHelp
		}
	}
	// Positional arguments may come before flags (tenants set acme
	// --max-active 2): parse again after each one.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return c, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if c.StorageDir == "" {
		c.StorageDir = filepath.Join(c.DataDir, "files")
	}
	if c.HTTPAddr == "" {
		// The embedded mode is a single-machine demo: reachable from this
		// machine only unless asked otherwise. Shared mode runs in containers,
		// where the port is published by the platform.
		c.HTTPAddr = ":8080"
		if c.Embedded() {
			c.HTTPAddr = "127.0.0.1:8080"
		}
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return c, positional, c.Validate()
}

// Validate checks every setting and names all that are wrong.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("DC_HTTP_ADDR must be host:port or :port, got %q", c.HTTPAddr)
	}
	if c.HTTPReadTimeout < 100*time.Millisecond {
		bad("DC_HTTP_READ_TIMEOUT must be at least 100ms, got %s", c.HTTPReadTimeout)
	}
	if c.DataDir == "" {
		bad("DC_DATA_DIR must not be empty")
	}
	if c.WorkerSlots < 1 || c.WorkerSlots > 256 {
		bad("DC_WORKER_SLOTS must be between 1 and 256, got %d", c.WorkerSlots)
	}
	if c.BatchSize < 1 || c.BatchSize > 100000 {
		bad("DC_BATCH_SIZE must be between 1 and 100000, got %d", c.BatchSize)
	}
	if c.SheetRows < 1 || c.SheetRows > 1048575 {
		bad("DC_XLSX_SHEET_ROWS must be between 1 and 1048575, got %d", c.SheetRows)
	}
	if c.LeaseTTL < time.Second {
		bad("DC_LEASE_TTL must be at least 1s, got %s", c.LeaseTTL)
	}
	if c.SchedulerInterval < 100*time.Millisecond {
		bad("DC_SCHEDULER_INTERVAL must be at least 100ms, got %s", c.SchedulerInterval)
	}
	if c.RetryBackoff < 0 {
		bad("DC_RETRY_BACKOFF must not be negative")
	}
	if c.MaxAttempts < 1 {
		bad("DC_MAX_ATTEMPTS must be at least 1, got %d", c.MaxAttempts)
	}
	if c.ShutdownGrace < 0 {
		bad("DC_SHUTDOWN_GRACE must not be negative")
	}
	if c.IdlePoll < 10*time.Millisecond {
		bad("DC_IDLE_POLL must be at least 10ms, got %s", c.IdlePoll)
	}
	if c.StallTimeout < 0 {
		bad("DC_STALL_TIMEOUT must not be negative")
	}
	if len(c.WorkerID) > 128 {
		bad("DC_WORKER_ID must be at most 128 characters")
	}
	if c.RocketMQNamesrv != "" && c.RocketMQTopic == "" {
		bad("DC_ROCKETMQ_TOPIC must not be empty")
	}
	errs = append(errs, c.validateStorage()...)
	if c.LinkSecret != "" && len(c.LinkSecret) < 32 {
		bad("DC_LINK_SECRET must be at least 32 characters")
	}
	if c.LinkTTL < time.Second {
		bad("DC_LINK_TTL must be at least 1s, got %s", c.LinkTTL)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DC_FILE_TTL", c.FileTTL}, {"DC_TASK_TTL", c.TaskTTL}, {"DC_ORPHAN_GRACE", c.OrphanGrace}} {
		if d.v < 0 {
			bad("%s must not be negative", d.name)
		}
	}
	if c.OrphanGrace > 0 && c.OrphanGrace < time.Minute {
		bad("DC_ORPHAN_GRACE must be 0 or at least 1m (a file just written is not yet recorded), got %s", c.OrphanGrace)
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"DC_TENANT_MAX_ACTIVE", c.TenantMaxActive}, {"DC_TENANT_CREATES_PER_MINUTE", c.TenantCreatesPerMinute},
		{"DC_MAX_ROWS", c.MaxRows}, {"DC_MAX_FILE_BYTES", c.MaxFileBytes}} {
		if n.v < 0 {
			bad("%s must not be negative (0 means no limit)", n.name)
		}
	}
	if c.WebhookBackoff < 100*time.Millisecond {
		bad("DC_WEBHOOK_BACKOFF must be at least 100ms, got %s", c.WebhookBackoff)
	}
	if c.WebhookAllowPrivate != "" {
		if _, err := strconv.ParseBool(c.WebhookAllowPrivate); err != nil {
			bad("DC_WEBHOOK_ALLOW_PRIVATE must be true or false, got %q", c.WebhookAllowPrivate)
		}
	}
	if c.WebhookRetryFor < time.Second {
		bad("DC_WEBHOOK_RETRY_FOR must be at least 1s, got %s", c.WebhookRetryFor)
	}
	if c.EventsPoll < 100*time.Millisecond {
		bad("DC_EVENTS_POLL must be at least 100ms, got %s", c.EventsPoll)
	}
	if _, err := c.CORSList(); err != nil {
		bad("DC_CORS_ORIGINS: %v", err)
	}
	if strings.ContainsAny(c.UIFrameAncestors, ";,\r\n") {
		bad("DC_UI_FRAME_ANCESTORS must be CSP sources separated by spaces, got %q", c.UIFrameAncestors)
	}
	if err := domain.ValidUser(c.DemoUser); err != nil {
		bad("DC_DEMO_USER %v", err)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		bad("DC_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return errors.Join(errs...)
}

// AllowPrivateWebhooks resolves DC_WEBHOOK_ALLOW_PRIVATE. Unset, it is
// true only for the embedded mode listening on a loopback address: the
// refusal guards the network behind dc-api from its remote callers, and a
// dc-api only this machine can call has none (its callers reach the
// loopback anyway), while `make run` users want to receive on localhost.
func (c Config) AllowPrivateWebhooks() bool {
	if c.WebhookAllowPrivate != "" {
		b, _ := strconv.ParseBool(c.WebhookAllowPrivate) // checked by Validate
		return b
	}
	if !c.Embedded() {
		return false
	}
	host, _, err := net.SplitHostPort(c.HTTPAddr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CORSList is DC_CORS_ORIGINS as a list: each an origin
// (scheme://host[:port], no path) or "*".
func (c Config) CORSList() ([]string, error) {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				return nil, fmt.Errorf("%q is not an origin such as https://app.example.com", o)
			}
			o = u.Scheme + "://" + u.Host
		}
		out = append(out, o)
	}
	return out, nil
}

// Logger returns the process logger at the configured level.
func (c Config) Logger(w io.Writer, process string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})).With("process", process)
}

type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("not an integer: %q", s)
	}
	*v.p = n
	return nil
}

type durValue struct{ p *time.Duration }

func (v durValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v durValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration (like 30s or 2m): %q", s)
	}
	*v.p = d
	return nil
}

type boolValue struct{ p *bool }

func (v boolValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("not a boolean: %q", s)
	}
	*v.p = b
	return nil
}

func (v boolValue) IsBoolFlag() bool { return true }
