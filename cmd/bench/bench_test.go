package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests cover the bench's own logic; the bench itself runs the
// product (go run ./cmd/bench -quick is its smoke test).

func TestMedianAndPercentile(t *testing.T) {
	t.Parallel()
	require.True(t, math.IsNaN(median(nil)))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))

	ds := make([]time.Duration, 200)
	for i := range ds {
		ds[i] = time.Duration(200-i) * time.Millisecond // 200 ms … 1 ms, unsorted
	}
	require.Equal(t, 100*time.Millisecond, percentile(ds, 50))
	require.Equal(t, 198*time.Millisecond, percentile(ds, 99), "nearest rank: the 198th of 200")
	require.Equal(t, 200*time.Millisecond, percentile(ds, 100))
	require.Equal(t, time.Duration(0), percentile(nil, 99))
	require.Equal(t, 200*time.Millisecond, ds[0], "the input is not reordered")
}

func TestParseVmHWM(t *testing.T) {
	t.Parallel()
	status := "Name:\tdc-api\nVmPeak:\t 1234 kB\nVmHWM:\t   61234 kB\nVmRSS:\t 50000 kB\n"
	n, err := parseVmHWM(status)
	require.NoError(t, err)
	require.Equal(t, int64(61234*1024), n)
	_, err = parseVmHWM("Name:\tx\n")
	require.Error(t, err)
	_, err = parseVmHWM("VmHWM:\t12 MB\n")
	require.Error(t, err)
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	services := env(map[string]string{"DC_MYSQL_DSN": "dc:dc@tcp(127.0.0.1:3306)/dc", "DC_ROCKETMQ_NAMESRV": "127.0.0.1:9876"})

	c, err := parseConfig(nil, services, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, defaultConfig().Rows, c.Rows)
	require.Equal(t, 3, c.Runs)
	require.Equal(t, "127.0.0.1:9876", c.Namesrv)

	c, err = parseConfig([]string{"-quick", "-runs", "2"}, services, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 20_000, c.Rows, "quick sizes")
	require.Equal(t, 2, c.Runs, "an explicit flag beats -quick")

	c, err = parseConfig([]string{"-stack=false", "-only", "xlsx, csv"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, c.selected(measureCSV))
	require.False(t, c.selected(measureLatency))

	_, err = parseConfig(nil, env(nil), &bytes.Buffer{})
	require.ErrorContains(t, err, "DC_MYSQL_DSN")

	_, err = parseConfig([]string{"-runs", "0", "-rows", "2000000", "-only", "nope"}, services, &bytes.Buffer{})
	require.ErrorContains(t, err, "-runs")
	require.ErrorContains(t, err, "-rows")
	require.ErrorContains(t, err, "nope")

	_, err = parseConfig([]string{"-rows", "100", "-small-rows", "100"}, services, &bytes.Buffer{})
	require.ErrorContains(t, err, "-small-rows")
}

func TestRunLoad(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	r := runLoad(context.Background(), 4, 50*time.Millisecond, 200*time.Millisecond, func(context.Context) error {
		n := calls.Add(1)
		time.Sleep(time.Millisecond)
		if n%10 == 0 {
			return errors.New("every tenth fails")
		}
		return nil
	})
	require.Positive(t, r.ok)
	require.Positive(t, r.failed)
	require.Len(t, r.latencies, r.ok)
	require.Less(t, int64(r.ok+r.failed), calls.Load(), "warm-up calls are not counted")
	require.InDelta(t, 200*time.Millisecond, r.elapsed, float64(100*time.Millisecond))
	require.ErrorContains(t, r.firstErr, "tenth")
	require.InDelta(t, float64(r.ok)/r.elapsed.Seconds(), r.perSecond(), 1e-9)
}

func TestTable(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig()
	s := samples{}
	add := func(k string, vs ...float64) {
		for _, v := range vs {
			s.add(k, v)
		}
	}
	add("xlsx.plain.s", 9, 10, 11)
	add("xlsx.plain.bytes", 55e6, 55e6, 55e6)
	add("xlsx.embedded.s", 2, 2, 2)
	add("xlsx.embedded.bytes", 75e6, 75e6, 75e6)
	add("xlsx.embedded.speedup", 4.5, 5, 5.5)
	add("xlsx.embedded.size_ratio", 1.36, 1.36, 1.36)
	add("xlsx.stack.speedup", 2.5)
	add("xlsx.stack.size_ratio", 1.36)
	add("csv.embedded.speedup", 0.5)
	add("rss.embedded.1000000", 60<<20)
	add("rss.embedded.100000", 58<<20)
	add("rss.embedded.ratio", 1.03)
	add("rss.stack.1000000", 200<<20)
	add("rss.stack.100000", 190<<20)
	add("rss.stack.ratio", 1.05)
	add(kLatP50, 3)
	add(kLatP99, 120)
	add(kCreateRatio, 0.55)
	add(kAPIRate, 550)
	add(kRawRate, 1000)
	add(kScaleLow, 50, 52, 51)
	add(kScaleHigh, 13, 13.5, 14)
	add(kScaleEff, 0.96, 0.93, 0.91)
	add(kScaleIdle, 0, 0, 0)
	add(kS3Ratio, 0.85, 0.95, 0.7)
	add(kS3RSS, 40<<20)
	add("xlsx.stack-s3.s", 2.2)
	add("xlsx.stack-volume.s", 2)
	add(kSrcClient, 1, 1, 1)
	add("source.csv.s", 1.2, 1.25, 1.3)
	add("source.csv.speedup", 0.8, 0.83, 0.77)
	add("source.xlsx.speedup", 0.4, 0.44, 0.5)
	add("source.csv.rss", 40<<20, 41<<20, 42<<20)
	add("source.xlsx.rss", 50<<20, 65<<20, 50<<20)

	rows := buildRows(cfg, s)
	got := map[string]verdict{}
	for _, r := range rows {
		got[r.id] = r.verdict
	}
	require.Equal(t, map[string]verdict{
		"1a": verdictAim, "1b": verdictMust, "2a": verdictMissed, "2b": verdictNone,
		"3a": verdictAim, "3b": verdictMissed, // over 128 MiB
		"4": verdictMust, "5": verdictAim, "6": verdictMust,
		"7a": verdictMust, "7b": verdictAim,
		"8a": verdictMust, "8b": verdictMissed, "8c": verdictMissed, // one run over 64 MiB
		"8d": verdictNone, "9": verdictNone,
	}, got)

	var out bytes.Buffer
	printTable(&out, rows)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2+len(rows))
	require.Contains(t, lines[2], "5.00× faster (2.00 s vs 10.00 s); file 1.36× (75.0 MB vs 55.0 MB)")
	require.Contains(t, out.String(), "| 2b | csv, 1M rows × 10")
	require.Contains(t, out.String(), "0.93 of linear (51.00 s with 2 workers, 13.50 s with 8); idle workers 0")
	require.Contains(t, out.String(), "0.85× as fast (2.20 s vs 2.00 s)")
	require.Contains(t, out.String(), "| — |", "a row not measured says so")
	require.Contains(t, out.String(), "0.80× as fast (1.25 s vs 1.00 s)")
	require.Contains(t, out.String(), "65.0 MiB at most")
}

func TestHumanRows(t *testing.T) {
	t.Parallel()
	require.Equal(t, "1M", humanRows(1_000_000))
	require.Equal(t, "100k", humanRows(100_000))
	require.Equal(t, "1234", humanRows(1234))
}
