package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// The measures, by the names -only takes.
const (
	measureXLSX    = "xlsx"
	measureCSV     = "csv"
	measureRSS     = "rss"
	measureLatency = "latency"
	measureCreate  = "create"
	measureScale   = "scale"
	measureSource  = "source"
	measureHTTP    = "http"
)

var allMeasures = []string{measureXLSX, measureCSV, measureRSS, measureLatency, measureCreate, measureScale, measureS3, measureSource, measureHTTP}

// Config is every setting of a bench run. The sizes default to the ones the
// performance targets are stated in; -quick swaps in small ones for a smoke
// run whose figures mean little.
type Config struct {
	// Runs is how often each measured pair is repeated; the table shows
	// medians.
	Runs int
	// Rows is the export size of the xlsx and csv rows and the large size
	// of the memory row.
	Rows int
	// SmallRows is the small size of the memory row.
	SmallRows int
	// LatencyTasks is how many tasks one latency run creates.
	LatencyTasks int
	// Concurrency and Duration shape the create-throughput row.
	Concurrency int
	Duration    time.Duration
	// ScaleTasks is the backlog of the scale row.
	ScaleTasks int
	// Warmup is how long the create loops run before they are measured.
	Warmup time.Duration
	// Poll is how often a task is polled while waiting for its status.
	Poll time.Duration
	// Only lists the measures to run; empty means all.
	Only []string
	// Stack says whether to run the parts on MariaDB + RocketMQ.
	Stack bool
	// MySQLDSN and Namesrv reach the services (DC_MYSQL_DSN,
	// DC_ROCKETMQ_NAMESRV); Broker is the broker's own address, where the
	// bench's topic is created.
	MySQLDSN string
	Namesrv  string
	Broker   string
	// S3 is the bucket of the s3 measure (DC_S3_*); unset skips it.
	S3 S3Config
	// Src is the module root the binaries are built from.
	Src string
	// WorkDir holds binaries, databases, files and logs; empty means a new
	// temporary directory, removed afterwards unless Keep.
	WorkDir string
	Keep    bool
	// Quiet drops the progress lines; only the table is printed.
	Quiet bool
	// ProcEnv is added to the environment of every dc-api and dc-worker
	// the bench starts (after its own settings), for tuning experiments
	// such as GOGC=200 or DC_BATCH_SIZE=1000.
	ProcEnv map[string]string
}

// defaultConfig is the full-size run.
func defaultConfig() Config {
	return Config{
		Runs: 3, Rows: 1_000_000, SmallRows: 100_000, LatencyTasks: 200, ScaleTasks: 48,
		Concurrency: 32, Duration: 10 * time.Second, Warmup: 2 * time.Second, Poll: 20 * time.Millisecond,
		Stack: true, Broker: "127.0.0.1:10911", Src: ".",
	}
}

// quickSizes shrinks c for a smoke run; flags given explicitly still win
// since they are applied afterwards.
func (c *Config) quickSizes() {
	c.Runs, c.Rows, c.SmallRows, c.LatencyTasks, c.ScaleTasks = 1, 20_000, 2_000, 20, 16
	c.Duration, c.Warmup = 2*time.Second, 500*time.Millisecond
}

// parseConfig reads flags over the environment over the defaults.
func parseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := defaultConfig()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	quick := fs.Bool("quick", false, "small sizes and one run: a smoke test of the bench itself")
	only := fs.String("only", "", "comma-separated measures to run: "+strings.Join(allMeasures, ","))
	fs.IntVar(&c.Runs, "runs", c.Runs, "repetitions of each measured pair (the table shows medians)")
	fs.IntVar(&c.Rows, "rows", c.Rows, "rows of the xlsx/csv exports and the large memory export")
	fs.IntVar(&c.SmallRows, "small-rows", c.SmallRows, "rows of the small memory export")
	fs.IntVar(&c.LatencyTasks, "latency-tasks", c.LatencyTasks, "tasks per create→EXECUTING latency run")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "concurrent creates in the throughput row")
	fs.IntVar(&c.ScaleTasks, "scale-tasks", c.ScaleTasks, "backlog of the scale-out row")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "measured time of each throughput run")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "unmeasured time before each throughput run")
	fs.DurationVar(&c.Poll, "poll", c.Poll, "task polling interval")
	fs.BoolVar(&c.Stack, "stack", c.Stack, "run the MariaDB + RocketMQ parts (needs DC_MYSQL_DSN and DC_ROCKETMQ_NAMESRV)")
	// The services default to the environment after parsing, so --help
	// does not print the DSN's password.
	fs.StringVar(&c.MySQLDSN, "mysql-dsn", "", "MariaDB DSN whose user may create dc_% databases (default $DC_MYSQL_DSN)")
	fs.StringVar(&c.Namesrv, "rocketmq-namesrv", "", "RocketMQ name server (default $DC_ROCKETMQ_NAMESRV)")
	fs.StringVar(&c.Broker, "rocketmq-broker", c.Broker, "RocketMQ broker address, where the bench creates its own topic")
	fs.StringVar(&c.Src, "src", c.Src, "module root to build cmd/api and cmd/worker from")
	fs.StringVar(&c.WorkDir, "work-dir", c.WorkDir, "directory for binaries, data and logs (default: a new temporary one)")
	fs.BoolVar(&c.Keep, "keep", c.Keep, "keep the work directory (logs) afterwards")
	fs.BoolVar(&c.Quiet, "quiet", c.Quiet, "print only the table")
	fs.Func("proc-env", "KEY=VALUE added to the environment of the dc-api and dc-worker processes (repeatable)", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		if c.ProcEnv == nil {
			c.ProcEnv = map[string]string{}
		}
		c.ProcEnv[k] = val
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.MySQLDSN == "" {
		c.MySQLDSN = getenv("DC_MYSQL_DSN")
	}
	if c.Namesrv == "" {
		c.Namesrv = getenv("DC_ROCKETMQ_NAMESRV")
	}
	c.S3 = S3Config{
		Endpoint: getenv("DC_S3_ENDPOINT"), Bucket: getenv("DC_S3_BUCKET"), Region: getenv("DC_S3_REGION"),
		AccessKey: getenv("DC_S3_ACCESS_KEY"), SecretKey: getenv("DC_S3_SECRET_KEY"),
	}
	if *quick {
		// Flags given explicitly win over the quick sizes: note them
		// before the sizes change the values they point at.
		explicit := map[string]string{}
		fs.Visit(func(f *flag.Flag) { explicit[f.Name] = f.Value.String() })
		c.quickSizes()
		for name, v := range explicit {
			if err := fs.Set(name, v); err != nil {
				return c, err
			}
		}
	}
	if *only != "" {
		for _, m := range strings.Split(*only, ",") {
			c.Only = append(c.Only, strings.TrimSpace(m))
		}
	}
	return c, c.Validate()
}

// Validate names every setting that is wrong.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Runs < 1 || c.Runs > 100 {
		bad("-runs must be between 1 and 100, got %d", c.Runs)
	}
	// One sheet on both paths: the plain baseline does not split sheets.
	if c.Rows < 1 || c.Rows > excelize.TotalRows-1 {
		bad("-rows must be between 1 and %d, got %d", excelize.TotalRows-1, c.Rows)
	}
	if c.SmallRows < 1 || c.SmallRows >= c.Rows {
		bad("-small-rows must be at least 1 and below -rows, got %d", c.SmallRows)
	}
	if c.LatencyTasks < 1 || c.LatencyTasks > 100_000 {
		bad("-latency-tasks must be between 1 and 100000, got %d", c.LatencyTasks)
	}
	if c.ScaleTasks < 8 || c.ScaleTasks > 10_000 {
		bad("-scale-tasks must be between 8 and 10000, got %d", c.ScaleTasks)
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		bad("-concurrency must be between 1 and 1024, got %d", c.Concurrency)
	}
	if c.Duration < 100*time.Millisecond {
		bad("-duration must be at least 100ms, got %s", c.Duration)
	}
	if c.Warmup < 0 {
		bad("-warmup must not be negative")
	}
	if c.Poll < time.Millisecond || c.Poll > 10*time.Second {
		bad("-poll must be between 1ms and 10s, got %s", c.Poll)
	}
	for _, m := range c.Only {
		if !slices.Contains(allMeasures, m) {
			bad("-only: unknown measure %q (known: %s)", m, strings.Join(allMeasures, ","))
		}
	}
	if c.Stack && (c.MySQLDSN == "" || c.Namesrv == "") {
		bad("the MariaDB + RocketMQ parts need DC_MYSQL_DSN and DC_ROCKETMQ_NAMESRV " +
			`(eval "$(bash deploy/services/env.sh)"), or pass -stack=false`)
	}
	if c.Stack && slices.Contains(c.Only, measureS3) && !c.S3.set() {
		bad("-only s3 needs " + s3SettingsRequired + ` (eval "$(bash deploy/services/env.sh)")`)
	}
	if c.Src == "" {
		bad("-src must not be empty")
	}
	return errors.Join(errs...)
}

// selected reports whether measure m is to run.
func (c Config) selected(m string) bool { return len(c.Only) == 0 || slices.Contains(c.Only, m) }
