package rocketmq

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRlogAdapter(t *testing.T) {
	tests := []struct {
		name  string
		level string // "" keeps the default (warn)
		log   func(a *rlogAdapter)
		want  string // "" when dropped
	}{
		{name: "debug dropped", log: func(a *rlogAdapter) { a.Debug("pulling", nil) }},
		{name: "info dropped", log: func(a *rlogAdapter) { a.Info("rebalanced", map[string]any{"group": "g"}) }},
		{
			name: "warning kept",
			log: func(a *rlogAdapter) {
				a.Warning("pull failed", map[string]any{"broker": "b:1", "underlayError": errors.New("eof")})
			},
			want: `level=WARN msg="rocketmq client: pull failed" component=rocketmq-client broker=b:1 underlayError=eof`,
		},
		{
			name: "error kept, fields sorted",
			log:  func(a *rlogAdapter) { a.Error("send back", map[string]any{"z": 1, "a": int64(2), "m": true, "n": nil}) },
			want: `level=ERROR msg="rocketmq client: send back" component=rocketmq-client a=2 m=true n=<nil> z=1`,
		},
		{
			name: "fatal logged, not fatal",
			log:  func(a *rlogAdapter) { a.Fatal("can't create dir", map[string]any{"path": "/x"}) },
			want: `level=ERROR msg="rocketmq client: can't create dir" component=rocketmq-client path=/x fatal=true`,
		},
		{
			name: "other values as text",
			log:  func(a *rlogAdapter) { a.Warning("x", map[string]any{"list": []string{"a", "b"}}) },
			want: `list="[a b]"`,
		},
		{name: "empty dropped", log: func(a *rlogAdapter) { a.Error("", nil) }},
		{name: "level error drops warnings", level: "error", log: func(a *rlogAdapter) { a.Warning("x", nil) }},
		{
			name:  "level info keeps info",
			level: "info",
			log:   func(a *rlogAdapter) { a.Info("rebalanced", nil) },
			want:  `level=INFO msg="rocketmq client: rebalanced"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			a := &rlogAdapter{logger: func() *slog.Logger { return log }}
			a.minLevel.Store(int64(slog.LevelWarn))
			if tt.level != "" {
				a.Level(tt.level)
			}
			tt.log(a)
			if tt.want == "" {
				require.Empty(t, buf.String())
				return
			}
			require.Contains(t, buf.String(), tt.want)
			require.Equal(t, 1, strings.Count(buf.String(), "\n"))
			require.NoError(t, a.OutputPath("/tmp/never-written.log"))
		})
	}
}

func TestRlogAdapterFollowsLatestLogger(t *testing.T) {
	var first, second bytes.Buffer
	routeClientLogs(slog.New(slog.NewTextHandler(&first, nil)))
	defer routeClientLogs(slog.Default())
	a := &rlogAdapter{logger: clientLogger.Load}
	a.minLevel.Store(int64(slog.LevelWarn))
	a.Warning("one", nil)
	routeClientLogs(slog.New(slog.NewTextHandler(&second, nil)))
	a.Warning("two", nil)
	require.Contains(t, first.String(), "one")
	require.NotContains(t, first.String(), "two")
	require.Contains(t, second.String(), "two")
}
