package rocketmq

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// The client logs through one process-wide rlog.Logger. Its default writes
// to stderr through logrus at info level (chatty: every rebalance) and
// exits the process on Fatal. routeClientLogs replaces it, once, with an
// adapter onto the slog.Logger last given to a constructor here.
var (
	clientLogOnce sync.Once
	clientLogger  atomic.Pointer[slog.Logger]
)

// routeClientLogs sends the client library's warnings and errors to log.
func routeClientLogs(log *slog.Logger) {
	clientLogger.Store(log)
	clientLogOnce.Do(func() {
		a := &rlogAdapter{logger: clientLogger.Load}
		a.minLevel.Store(int64(slog.LevelWarn))
		rlog.SetLogger(a)
		rlog.SetLogLevel("warn")
	})
}

// rlogAdapter implements rlog.Logger on slog. Below its level (warn unless
// rlog.SetLogLevel says otherwise) messages are dropped; Fatal is logged as
// an error and, unlike the default logger, never exits the process.
type rlogAdapter struct {
	logger   func() *slog.Logger
	minLevel atomic.Int64
}

var _ rlog.Logger = (*rlogAdapter)(nil)

// Debug implements rlog.Logger.
func (a *rlogAdapter) Debug(msg string, fields map[string]any) { a.log(slog.LevelDebug, msg, fields) }

// Info implements rlog.Logger.
func (a *rlogAdapter) Info(msg string, fields map[string]any) { a.log(slog.LevelInfo, msg, fields) }

// Warning implements rlog.Logger.
func (a *rlogAdapter) Warning(msg string, fields map[string]any) { a.log(slog.LevelWarn, msg, fields) }

// Error implements rlog.Logger.
func (a *rlogAdapter) Error(msg string, fields map[string]any) { a.log(slog.LevelError, msg, fields) }

// Fatal implements rlog.Logger; see rlogAdapter.
func (a *rlogAdapter) Fatal(msg string, fields map[string]any) {
	a.log(slog.LevelError, msg, fields, slog.Bool("fatal", true))
}

// Level implements rlog.Logger: debug, info, warn, error or fatal.
func (a *rlogAdapter) Level(level string) {
	l := slog.LevelWarn
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "info":
		l = slog.LevelInfo
	case "error", "fatal":
		l = slog.LevelError
	}
	a.minLevel.Store(int64(l))
}

// OutputPath implements rlog.Logger. It ignores the path: the client's
// logs go to slog, never to files of their own.
func (a *rlogAdapter) OutputPath(string) error { return nil }

func (a *rlogAdapter) log(level slog.Level, msg string, fields map[string]any, extra ...slog.Attr) {
	if level < slog.Level(a.minLevel.Load()) || (msg == "" && len(fields) == 0) {
		return
	}
	log := a.logger()
	if log == nil || !log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields)+len(extra)+1)
	attrs = append(attrs, slog.String("component", "rocketmq-client"))
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys) // stable output
	for _, k := range keys {
		attrs = append(attrs, fieldAttr(k, fields[k]))
	}
	attrs = append(attrs, extra...)
	log.LogAttrs(context.Background(), level, "rocketmq client: "+msg, attrs...)
}

// fieldAttr turns a client log field into an attribute. Errors and other
// values are rendered as text: some hold pointers or types slog handlers
// would print badly.
func fieldAttr(key string, v any) slog.Attr {
	switch v := v.(type) {
	case nil:
		return slog.Any(key, nil)
	case string:
		return slog.String(key, v)
	case int:
		return slog.Int(key, v)
	case int64:
		return slog.Int64(key, v)
	case bool:
		return slog.Bool(key, v)
	case error:
		return slog.String(key, v.Error())
	default:
		return slog.String(key, fmt.Sprint(v))
	}
}
