package prom_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/prom"
)

func scrape(t *testing.T, m *prom.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestMetricsExposition(t *testing.T) {
	m := prom.New()
	busy := 3
	m.WatchSlots(4, func() int { return busy })
	m.TaskCreated("demo", domain.FormatXLSX)
	m.TaskCreated("demo", domain.FormatXLSX)
	m.IntentSendFailed()
	m.TaskRescued()
	m.TaskStats(domain.TaskStats{
		ByStatus:      map[domain.Status]int64{domain.StatusNotExecuted: 7, domain.StatusExecuting: 2},
		OldestWaiting: time.Now().Add(-90 * time.Second),
	})
	m.RowsWritten("demo", 5000)
	m.RowsWritten("demo", 2500)
	m.AttemptFinished(domain.AttemptReport{Type: "demo", Format: domain.FormatCSV, Outcome: domain.OutcomeSuccess,
		Finished: domain.StatusSuccess, Rows: 7500, Bytes: 1234, Duration: 2 * time.Second})
	m.AttemptFinished(domain.AttemptReport{Type: "demo", Format: domain.FormatCSV, Outcome: domain.OutcomeFailed})
	m.ObserveRequest("/api/v1/tasks/:id", http.MethodGet, 200, time.Millisecond)
	m.ObserveRequest("", "BREW", 404, time.Millisecond)

	out := scrape(t, m)
	for _, want := range []string{
		`dc_tasks_created_total{format="xlsx",type="demo"} 2`,
		`dc_intent_send_errors_total 1`,
		`dc_rescues_total 1`,
		`dc_tasks{status="NOT_EXECUTED"} 7`,
		`dc_export_rows_total{type="demo"} 7500`,
		`dc_export_bytes_total{format="csv",type="demo"} 1234`,
		`dc_tasks_finished_total{status="SUCCESS",type="demo"} 1`,
		`dc_task_attempts_total{outcome="failed",type="demo"} 1`,
		`dc_task_attempts_total{outcome="success",type="demo"} 1`,
		`dc_export_duration_seconds_bucket{format="csv",type="demo",le="2.5"} 1`,
		`dc_worker_slots{state="busy"} 3`,
		`dc_worker_slots{state="free"} 1`,
		`dc_http_request_duration_seconds_count{method="GET",route="/api/v1/tasks/:id",status="200"} 1`,
		`dc_http_request_duration_seconds_count{method="OTHER",route="unmatched",status="404"} 1`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, `dc_tasks_finished_total{status="FAILED"`, "a failure with a retry coming does not finish a task")
	var age float64
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "dc_oldest_waiting_task_age_seconds ") {
			_, err := fmtSscan(line, &age)
			require.NoError(t, err)
		}
	}
	require.InDelta(t, 90, age, 5)
}

func fmtSscan(line string, v *float64) (int, error) {
	return fmt.Sscan(strings.Fields(line)[1], v)
}
