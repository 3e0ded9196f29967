// Package prom exposes Download Center's metrics to Prometheus: it hears
// what the domain's use cases, scheduler and runner do (their observer
// ports) and what the HTTP API served, and serves it all on /metrics with
// the Go runtime and process collectors.
//
// Labels stay bounded: export types come from configuration (a task of an
// unknown type is never created), formats and statuses are enums, routes
// are templates. No id, user or error text is ever a label.
package prom

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/downloadcenter/dc/domain"
)

// Metrics is one process's registry.
type Metrics struct {
	reg *prometheus.Registry

	created      *prometheus.CounterVec
	sendErrors   prometheus.Counter
	rescues      prometheus.Counter
	tasks        *prometheus.GaugeVec
	httpDuration *prometheus.HistogramVec

	finished *prometheus.CounterVec
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rows     *prometheus.CounterVec
	bytes    *prometheus.CounterVec

	webhookAttempts *prometheus.CounterVec
	webhookBacklog  prometheus.Gauge

	mu     sync.Mutex
	oldest time.Time // of the last stats read; zero: nothing waits
	now    func() time.Time
}

var (
	_ domain.TasksObserver     = (*Metrics)(nil)
	_ domain.SchedulerObserver = (*Metrics)(nil)
	_ domain.RunObserver       = (*Metrics)(nil)
	_ domain.DeliveryObserver  = (*Metrics)(nil)
)

// New registers every metric of both processes. Counters with labels show
// up once they have been counted.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: time.Now}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.created = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_tasks_created_total", Help: "Tasks created through the API (idempotent replays not counted).",
	}, []string{"type", "format"})
	m.sendErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dc_intent_send_errors_total", Help: "Intents that could not be sent to the queue (the scheduler sends them later).",
	})
	m.rescues = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dc_rescues_total", Help: "Tasks the scheduler took from a worker whose lease lapsed.",
	})
	m.tasks = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dc_tasks", Help: "Tasks per status, as the scheduler last read them from the database.",
	}, []string{"status"})
	oldest := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dc_oldest_waiting_task_age_seconds",
		Help: "How long the longest-waiting NOT_EXECUTED task has waited (0 when none waits); read by the scheduler each interval.",
	}, m.oldestAge)
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dc_http_request_duration_seconds", Help: "HTTP requests by route template, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})
	m.finished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_tasks_finished_total", Help: "Tasks a worker finished for good: SUCCESS, CANCELLED, or FAILED with no retry coming.",
	}, []string{"type", "status"})
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_task_attempts_total", Help: "Attempts a worker ended, by outcome: success, failed, cancelled, released, lost.",
	}, []string{"type", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dc_export_duration_seconds", Help: "Duration of successful export attempts, claim to recorded SUCCESS.",
		Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
	}, []string{"type", "format"})
	m.rows = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_export_rows_total", Help: "Rows written into export files, counted per batch as they are written.",
	}, []string{"type"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_export_bytes_total", Help: "Bytes of export files committed.",
	}, []string{"type", "format"})
	m.webhookAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dc_webhook_deliveries_total",
		Help: "Webhook delivery attempts by outcome: delivered, retry (failed, tried again later), failed (failed, the last).",
	}, []string{"outcome"})
	m.webhookBacklog = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "dc_webhook_oldest_undelivered_age_seconds",
		Help: "Age of the oldest webhook delivery not yet delivered (0 when none); read by the dispatcher each second.",
	})
	m.reg.MustRegister(m.created, m.sendErrors, m.rescues, m.tasks, oldest, m.httpDuration,
		m.finished, m.attempts, m.duration, m.rows, m.bytes, m.webhookAttempts, m.webhookBacklog)
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// WatchSlots adds dc_worker_slots{state=busy|free} for a worker of slots
// slots, busy reading how many are in use at scrape time.
func (m *Metrics) WatchSlots(slots int, busy func() int) {
	for _, state := range []string{"busy", "free"} {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dc_worker_slots", Help: "This worker's export slots, busy or free.",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			b := min(busy(), slots)
			if state == "busy" {
				return float64(b)
			}
			return float64(slots - b)
		}))
	}
}

// TaskCreated implements domain.TasksObserver.
func (m *Metrics) TaskCreated(exportType string, format domain.Format) {
	m.created.WithLabelValues(exportType, string(format)).Inc()
}

// IntentSendFailed implements domain.TasksObserver and domain.SchedulerObserver.
func (m *Metrics) IntentSendFailed() { m.sendErrors.Inc() }

// TaskRescued implements domain.SchedulerObserver.
func (m *Metrics) TaskRescued() { m.rescues.Inc() }

// TaskStats implements domain.SchedulerObserver.
func (m *Metrics) TaskStats(st domain.TaskStats) {
	for status, n := range st.ByStatus {
		m.tasks.WithLabelValues(string(status)).Set(float64(n))
	}
	m.mu.Lock()
	m.oldest = st.OldestWaiting
	m.mu.Unlock()
}

func (m *Metrics) oldestAge() float64 {
	m.mu.Lock()
	oldest := m.oldest
	m.mu.Unlock()
	if oldest.IsZero() {
		return 0
	}
	return max(0, m.now().Sub(oldest).Seconds())
}

// RowsWritten implements domain.RunObserver.
func (m *Metrics) RowsWritten(exportType string, n int) {
	m.rows.WithLabelValues(exportType).Add(float64(n))
}

// AttemptFinished implements domain.RunObserver.
func (m *Metrics) AttemptFinished(r domain.AttemptReport) {
	m.attempts.WithLabelValues(r.Type, r.Outcome).Inc()
	if r.Finished != "" {
		m.finished.WithLabelValues(r.Type, string(r.Finished)).Inc()
	}
	if r.Outcome == domain.OutcomeSuccess {
		m.duration.WithLabelValues(r.Type, string(r.Format)).Observe(r.Duration.Seconds())
		m.bytes.WithLabelValues(r.Type, string(r.Format)).Add(float64(r.Bytes))
	}
}

// WebhookAttempt implements domain.DeliveryObserver.
func (m *Metrics) WebhookAttempt(outcome string) { m.webhookAttempts.WithLabelValues(outcome).Inc() }

// WebhookBacklog implements domain.DeliveryObserver.
func (m *Metrics) WebhookBacklog(oldest time.Duration) { m.webhookBacklog.Set(oldest.Seconds()) }

// knownMethods bounds the method label: anything else is OTHER.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// ObserveRequest records one served request. route is the matched route
// template ("/api/v1/tasks/:id"); empty means none matched.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	if !knownMethods[method] {
		method = "OTHER"
	}
	m.httpDuration.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}
