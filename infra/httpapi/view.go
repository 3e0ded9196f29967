package httpapi

import (
	"encoding/json"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// taskView is a task as clients see it.
type taskView struct {
	ID      int64           `json:"id"`
	Owner   string          `json:"owner,omitempty"`
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Format  domain.Format   `json:"format"`
	Params  json.RawMessage `json:"params,omitempty"`
	Columns []domain.Column `json:"columns,omitempty"`
	Status  domain.Status   `json:"status"`
	// Done is true once the task will not change by itself: SUCCESS,
	// CANCELLED, or FAILED with no automatic retry coming.
	Done            bool              `json:"done"`
	Attempts        int               `json:"attempts"`
	Error           string            `json:"error,omitempty"`
	Permanent       bool              `json:"error_permanent,omitempty"`
	Progress        progressView      `json:"progress"`
	File            *fileView         `json:"file"`
	Worker          string            `json:"worker,omitempty"`
	CancelRequested bool              `json:"cancel_requested,omitempty"`
	NextAttemptAt   *time.Time        `json:"next_attempt_at,omitempty"`
	CreatedAt       time.Time         `json:"created_at"`
	StartedAt       *time.Time        `json:"started_at,omitempty"`
	FinishedAt      *time.Time        `json:"finished_at,omitempty"`
	UpdatedAt       time.Time         `json:"updated_at"`
	Links           map[string]string `json:"links"`
}

type progressView struct {
	RowsWritten int64 `json:"rows_written"`
	// RowsTotal is null when the provider cannot count.
	RowsTotal *int64   `json:"rows_total"`
	Percent   *float64 `json:"percent"`
}

type fileView struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Rows   int64  `json:"rows"`
	Sheets int    `json:"sheets"`
	URL    string `json:"url"`
	// URLExpiresAt is when URL stops working.
	URLExpiresAt *time.Time `json:"url_expires_at,omitempty"`
	// ExpiresAt is when the file is deleted (DC_FILE_TTL after the task
	// finished); absent when files are kept for ever.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func (s *Server) view(t *domain.Task) taskView { return viewOf(s.links, t) }

// TaskJSON is a task as the API shows it (file link signed by links,
// when set): the data of a webhook event, so a receiver reads the same
// JSON a GET returns.
func TaskJSON(links *Links, t *domain.Task) (json.RawMessage, error) {
	return json.Marshal(viewOf(links, t))
}

func viewOf(links *Links, t *domain.Task) taskView {
	v := taskView{
		ID: t.ID, Owner: t.Owner, Name: t.Name, Type: t.Type, Format: t.Format, Params: t.Params, Columns: t.Columns,
		Status: t.Status, Done: t.Done(), Attempts: t.Attempts, Error: t.Error, Permanent: t.Permanent,
		Worker: t.WorkerID, CancelRequested: t.CancelRequested, NextAttemptAt: t.NextAttemptAt,
		CreatedAt: t.CreatedAt, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt, UpdatedAt: t.UpdatedAt,
		Progress: progressView{RowsWritten: t.RowsWritten},
		Links:    map[string]string{"self": taskPath(t.ID)},
	}
	if t.RowsTotal >= 0 {
		total := t.RowsTotal
		v.Progress.RowsTotal = &total
		pct := 100.0
		if total > 0 {
			pct = min(100, float64(t.RowsWritten)*100/float64(total))
		}
		if t.Status == domain.StatusSuccess {
			pct = 100
		}
		v.Progress.Percent = &pct
	}
	if t.File != nil && t.Status == domain.StatusSuccess {
		authed := taskPath(t.ID) + "/file"
		v.File = &fileView{Name: downloadName(t.Name, string(t.Format)), Size: t.File.Size, Rows: t.File.Rows, Sheets: t.File.Sheets,
			URL: authed, ExpiresAt: t.File.ExpiresAt}
		if links != nil {
			url, exp := links.sign(t.ID, t.Attempts)
			v.File.URL, v.File.URLExpiresAt = url, &exp
		}
		v.Links["file"] = authed
	}
	return v
}
