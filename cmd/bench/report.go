package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// samples holds every per-run figure by name; the table shows medians.
type samples map[string][]float64

func (s samples) add(key string, v float64) { s[key] = append(s[key], v) }

// median of the key's samples; NaN when there are none.
func (s samples) median(key string) float64 { return median(s[key]) }

// has reports whether every key has samples.
func (s samples) has(keys ...string) bool {
	for _, k := range keys {
		if len(s[k]) == 0 {
			return false
		}
	}
	return true
}

// median of vs (the mean of the middle two for an even count); NaN for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// verdict is how a row did against its targets.
type verdict int

const (
	verdictNone verdict = iota // not measured
	verdictMissed
	verdictMust
	verdictAim
	verdictInfo // a row for scale, with no target
)

func (v verdict) String() string {
	switch v {
	case verdictAim:
		return "yes (aim met)"
	case verdictMust:
		return "yes (must met, aim not)"
	case verdictMissed:
		return "**NO: must missed**"
	case verdictInfo:
		return "—"
	}
	return "not measured"
}

func judge(must, aim bool) verdict {
	switch {
	case must && aim:
		return verdictAim
	case must:
		return verdictMust
	}
	return verdictMissed
}

// row is one line of the table.
type row struct {
	id, measure, result, target string
	verdict                     verdict
}

// Keys of the samples. Times are seconds, sizes bytes, ratios plain.
const (
	kPlainTime   = "%s.plain.s"       // format
	kPlainSize   = "%s.plain.bytes"   // format
	kE2ETime     = "%s.%s.s"          // format, mode
	kE2EServer   = "%s.%s.server.s"   // format, mode
	kE2ESize     = "%s.%s.bytes"      // format, mode
	kSpeedup     = "%s.%s.speedup"    // format, mode: plain time / e2e time
	kSizeRatio   = "%s.%s.size_ratio" // format, mode: e2e size / plain size
	kRSS         = "rss.%s.%d"        // mode, rows: peak RSS bytes
	kRSSRatio    = "rss.%s.ratio"     // mode
	kLatP50      = "latency.p50.ms"
	kLatP99      = "latency.p99.ms"
	kLatMax      = "latency.max.ms"
	kLatClient   = "latency.client.p50.ms"
	kAPIRate     = "create.api.per_s"
	kAPIP99      = "create.api.p99.ms"
	kRawRate     = "create.raw.per_s"
	kRawP99      = "create.raw.p99.ms"
	kCreateRatio = "create.ratio"
	kAPIErrors   = "create.api.errors"
	kRawErrors   = "create.raw.errors"

	kSrcClient     = "source.client.s"
	kSrcPlain      = "source.plain.s"
	kSrcPlainRatio = "source.plain.speedup" // client time / plain time
	kSrcTime       = "source.%s.s"          // format
	kSrcRatio      = "source.%s.speedup"    // format: client time / export time
	kSrcRSS        = "source.%s.rss"        // format: peak RSS bytes

	kHTTPPlain = "http.plain.s"
	kHTTPTime  = "http.csv.s"
	kHTTPRatio = "http.csv.speedup" // plain client time / export time
	kHTTPRSS   = "http.csv.rss"
)

const (
	modeEmbedded = "embedded"
	modeStack    = "stack"
)

// modeLabel names a mode in the table.
var modeLabel = map[string]string{modeEmbedded: "embedded (SQLite, in-process queue)", modeStack: "MariaDB + RocketMQ"}

// Targets from the issue.
const (
	xlsxMust, xlsxAim     = 2.0, 3.0
	xlsxMaxSize           = 1.5
	csvMust, csvAim       = 0.6, 0.8
	rssMaxRatio           = 1.15
	rssMaxBytes           = 128 << 20
	latMustMS, latAimMS   = 250.0, 100.0
	createMust, createAim = 0.30, 0.50
	srcCSVMust, srcCSVAim = 0.7, 0.9
	srcXMust, srcXAim     = 0.45, 0.6
	srcMaxRSS             = 64 << 20
)

// buildRows turns the samples into the table's rows.
func buildRows(cfg Config, s samples) []row {
	var rows []row
	size := humanRows(cfg.Rows)
	for i, m := range []string{modeEmbedded, modeStack} {
		r := row{
			id:      "1" + string(rune('a'+i)),
			measure: fmt.Sprintf("xlsx, %s rows × 10: POST→SUCCESS on %s vs plain excelize StreamWriter+SaveAs", size, modeLabel[m]),
			target:  fmt.Sprintf("≥ %.1f× / ≥ %.1f× faster; file ≤ %.1f× plain", xlsxMust, xlsxAim, xlsxMaxSize),
		}
		sp, sz := fmt.Sprintf(kSpeedup, "xlsx", m), fmt.Sprintf(kSizeRatio, "xlsx", m)
		if s.has(sp, sz) {
			speed, size := s.median(sp), s.median(sz)
			r.result = fmt.Sprintf("%.2f× faster (%s vs %s); file %.2f× (%s vs %s)", speed,
				secs(s.median(fmt.Sprintf(kE2ETime, "xlsx", m))), secs(s.median(fmt.Sprintf(kPlainTime, "xlsx"))),
				size, mb(s.median(fmt.Sprintf(kE2ESize, "xlsx", m))), mb(s.median(fmt.Sprintf(kPlainSize, "xlsx"))))
			r.verdict = judge(speed >= xlsxMust && size <= xlsxMaxSize, speed >= xlsxAim && size <= xlsxMaxSize)
		}
		rows = append(rows, r)
	}
	for i, m := range []string{modeEmbedded, modeStack} {
		r := row{
			id:      "2" + string(rune('a'+i)),
			measure: fmt.Sprintf("csv, %s rows × 10: POST→SUCCESS on %s vs plain encoding/csv + bufio", size, modeLabel[m]),
			target:  fmt.Sprintf("≥ %.1f× / ≥ %.1f× as fast", csvMust, csvAim),
		}
		if sp := fmt.Sprintf(kSpeedup, "csv", m); s.has(sp) {
			speed := s.median(sp)
			r.result = fmt.Sprintf("%.2f× as fast (%s vs %s)", speed,
				secs(s.median(fmt.Sprintf(kE2ETime, "csv", m))), secs(s.median(fmt.Sprintf(kPlainTime, "csv"))))
			r.verdict = judge(speed >= csvMust, speed >= csvAim)
		}
		rows = append(rows, r)
	}
	procName := map[string]string{modeEmbedded: "dc-api (embedded)", modeStack: "dc-worker (MariaDB + RocketMQ)"}
	for i, m := range []string{modeEmbedded, modeStack} {
		r := row{
			id: "3" + string(rune('a'+i)),
			measure: fmt.Sprintf("peak RSS (VmHWM) of %s exporting xlsx, %s / %s rows, fresh process each",
				procName[m], size, humanRows(cfg.SmallRows)),
			target: fmt.Sprintf("≤ %.2f and < %d MiB (one target)", rssMaxRatio, rssMaxBytes>>20),
		}
		big, small, ratio := fmt.Sprintf(kRSS, m, cfg.Rows), fmt.Sprintf(kRSS, m, cfg.SmallRows), fmt.Sprintf(kRSSRatio, m)
		if s.has(big, small, ratio) {
			q, b := s.median(ratio), s.median(big)
			r.result = fmt.Sprintf("%.2f (%s / %s)", q, mib(b), mib(s.median(small)))
			ok := q <= rssMaxRatio && b < rssMaxBytes
			r.verdict = judge(ok, ok)
		}
		rows = append(rows, r)
	}
	lat := row{
		id:      "4",
		measure: fmt.Sprintf("create→EXECUTING latency, %d tasks one at a time, idle workers, MariaDB + RocketMQ", cfg.LatencyTasks),
		target:  fmt.Sprintf("p99 ≤ %.0f ms / ≤ %.0f ms", latMustMS, latAimMS),
	}
	if s.has(kLatP50, kLatP99) {
		p99 := s.median(kLatP99)
		lat.result = fmt.Sprintf("p50 %.1f ms, p99 %.1f ms (max %.1f ms; client-seen p50 %.1f ms)",
			s.median(kLatP50), p99, s.median(kLatMax), s.median(kLatClient))
		lat.verdict = judge(p99 <= latMustMS, p99 <= latAimMS)
	}
	rows = append(rows, lat)
	cr := row{
		id: "5",
		measure: fmt.Sprintf("create throughput, concurrency %d for %s, MariaDB + RocketMQ: API vs raw INSERT + send loop",
			cfg.Concurrency, cfg.Duration),
		target: fmt.Sprintf("≥ %.0f%% / ≥ %.0f%% of raw", createMust*100, createAim*100),
	}
	if s.has(kCreateRatio, kAPIRate, kRawRate) {
		q := s.median(kCreateRatio)
		cr.result = fmt.Sprintf("%.0f%% (API %.0f/s, p99 %.1f ms; raw %.0f/s, p99 %.1f ms)", q*100,
			s.median(kAPIRate), s.median(kAPIP99), s.median(kRawRate), s.median(kRawP99))
		if e := s.median(kAPIErrors) + s.median(kRawErrors); e > 0 {
			cr.result += fmt.Sprintf("; errors per run: API %.0f, raw %.0f", s.median(kAPIErrors), s.median(kRawErrors))
		}
		cr.verdict = judge(q >= createMust, q >= createAim)
	}
	rows = append(rows, cr)
	rows = append(rows, scaleRow(cfg, s))
	rows = append(rows, s3Rows(cfg, s)...)
	return append(rows, sourceRows(cfg, s)...)
}

// sourceRows are the rows of exports from a MariaDB table.
func sourceRows(cfg Config, s samples) []row {
	var rows []row
	size := humanRows(cfg.Rows)
	for i, f := range []string{measureCSV, measureXLSX} {
		must, aim := srcCSVMust, srcCSVAim
		if f == measureXLSX {
			must, aim = srcXMust, srcXAim
		}
		r := row{
			id: "8" + string(rune('a'+i)),
			measure: fmt.Sprintf("%s from MariaDB, %s-row orders table × 10: sql export type, POST→SUCCESS on embedded vs `mysql --batch --quick` to a file",
				f, size),
			target: fmt.Sprintf("≥ %.2g× / ≥ %.2g× as fast", must, aim),
		}
		if k := fmt.Sprintf(kSrcRatio, f); s.has(k, kSrcClient) {
			q := s.median(k)
			r.result = fmt.Sprintf("%.2f× as fast (%s vs %s)", q, secs(s.median(fmt.Sprintf(kSrcTime, f))), secs(s.median(kSrcClient)))
			r.verdict = judge(q >= must, q >= aim)
		}
		rows = append(rows, r)
	}
	mem := row{
		id:      "8c",
		measure: "peak RSS (VmHWM) of dc-api (embedded) in the exports of 8a and 8b",
		target:  fmt.Sprintf("≤ %d MiB", srcMaxRSS>>20),
	}
	if c, x := fmt.Sprintf(kSrcRSS, measureCSV), fmt.Sprintf(kSrcRSS, measureXLSX); s.has(c, x) {
		peak := slices.Max(append(slices.Clone(s[c]), s[x]...))
		mem.result = fmt.Sprintf("%s at most (medians: csv %s, xlsx %s)", mib(peak), mib(s.median(c)), mib(s.median(x)))
		mem.verdict = judge(peak <= srcMaxRSS, peak <= srcMaxRSS)
	}
	plain := row{
		id:      "8d",
		measure: "for scale: plain Go (database/sql, one query, typed Scan, encoding/csv) vs the `mysql` client",
		target:  "none",
	}
	if s.has(kSrcPlainRatio) {
		plain.result = fmt.Sprintf("%.2f× as fast (%s vs %s)", s.median(kSrcPlainRatio), secs(s.median(kSrcPlain)), secs(s.median(kSrcClient)))
		plain.verdict = verdictInfo
	}
	h := row{
		id: "9",
		measure: fmt.Sprintf("csv from a local HTTP service paging %s demo rows as JSON (signed POSTs, %d a page): http export type, POST→SUCCESS on embedded vs a plain client reading the same pages (encoding/json, encoding/csv)",
			size, httpPage),
		target: "none (for scale)",
	}
	if s.has(kHTTPRatio, kHTTPTime, kHTTPPlain, kHTTPRSS) {
		h.result = fmt.Sprintf("%.2f× as fast (%s vs %s); peak RSS %s", s.median(kHTTPRatio),
			secs(s.median(kHTTPTime)), secs(s.median(kHTTPPlain)), mib(slices.Max(s[kHTTPRSS])))
		h.verdict = verdictInfo
	}
	return append(rows, mem, plain, h)
}

// printTable writes the rows as a Markdown table, readable as text too.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| # | measure | result (median of runs) | target (must / aim) | met? |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rows {
		result := r.result
		if result == "" {
			result = "—"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", r.id, r.measure, result, r.target, r.verdict)
	}
}

// printSamples lists every per-run figure, so the medians can be checked.
func printSamples(w io.Writer, s samples) {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	fmt.Fprintln(w, "Per-run samples:")
	for _, k := range keys {
		vs := make([]string, len(s[k]))
		for i, v := range s[k] {
			vs[i] = strconv.FormatFloat(v, 'g', 5, 64)
		}
		fmt.Fprintf(w, "  %-28s %s\n", k, strings.Join(vs, "  "))
	}
}

// machine describes where the bench ran.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) == 2 {
					if kb, err := strconv.ParseFloat(f[0], 64); err == nil {
						mem = fmt.Sprintf(", %.1f GiB RAM", kb/(1<<20))
					}
				}
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d vCPU (%s)%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, mem, runtime.Version())
}

func secs(s float64) string { return strconv.FormatFloat(s, 'f', 2, 64) + " s" }

func mb(b float64) string { return strconv.FormatFloat(b/1e6, 'f', 1, 64) + " MB" }

func mib(b float64) string { return strconv.FormatFloat(b/(1<<20), 'f', 1, 64) + " MiB" }

// humanRows writes 1000000 as 1M and 100000 as 100k.
func humanRows(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}
