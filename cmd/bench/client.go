package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// task is the part of the API's task JSON the bench reads.
type task struct {
	ID         int64      `json:"id"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	Attempts   int        `json:"attempts"`
	Worker     string     `json:"worker"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	File       *struct {
		Size   int64 `json:"size"`
		Rows   int64 `json:"rows"`
		Sheets int   `json:"sheets"`
	} `json:"file"`
}

// finished reports whether t reached a status it does not leave by itself.
func (t task) finished() bool {
	return t.Status == "SUCCESS" || t.Status == "FAILED" || t.Status == "CANCELLED"
}

// listening matches dc-api's welcome line.
var listening = regexp.MustCompile(`listening on (http://[0-9.:]+)`)

// client talks to one dc-api.
type client struct {
	base string
	key  string
	http *http.Client
}

// newClient returns a client of base whose connection pool keeps
// conns connections, so concurrent creates reuse theirs.
func newClient(base, key string, conns int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	return &client{base: base, key: key, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// close drops the pooled connections.
func (c *client) close() { c.http.CloseIdleConnections() }

// createBody is the create request of a demo export of rows rows.
func createBody(name, format string, rows int) []byte {
	b, _ := json.Marshal(map[string]any{ // cannot fail
		"name": name, "type": "demo", "format": format, "params": map[string]int{"rows": rows},
	})
	return b
}

// create posts a task; anything but 202 is an error.
func (c *client) create(ctx context.Context, body []byte) (task, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/tasks", bytes.NewReader(body))
	if err != nil {
		return task{}, fmt.Errorf("create task: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var t task
	if err := c.do(req, http.StatusAccepted, &t); err != nil {
		return task{}, fmt.Errorf("create task: %w", err)
	}
	return t, nil
}

// get reads a task.
func (c *client) get(ctx context.Context, id int64) (task, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/v1/tasks/%d", c.base, id), nil)
	if err != nil {
		return task{}, fmt.Errorf("get task %d: %w", id, err)
	}
	var t task
	if err := c.do(req, http.StatusOK, &t); err != nil {
		return task{}, fmt.Errorf("get task %d: %w", id, err)
	}
	return t, nil
}

func (c *client) do(req *http.Request, want int, v any) error {
	req.Header.Set("Authorization", "Bearer "+c.key)
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, bytes.TrimSpace(b))
	}
	return json.Unmarshal(b, v)
}

// wait polls task id every poll until done says so, and returns the task
// and when the poll that saw it was answered. It gives up early when one
// of procs (those the task depends on) has exited.
func (c *client) wait(ctx context.Context, id int64, poll, timeout time.Duration, done func(task) bool, procs ...*proc) (task, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		t, err := c.get(ctx, id)
		if err != nil {
			return task{}, time.Time{}, err
		}
		if done(t) {
			return t, time.Now(), nil
		}
		for _, p := range procs {
			if err := p.alive(); err != nil {
				return t, time.Time{}, fmt.Errorf("task %d is %s: %w", id, t.Status, err)
			}
		}
		select {
		case <-ctx.Done():
			return t, time.Time{}, fmt.Errorf("task %d still %s after %s: %w", id, t.Status, timeout, ctx.Err())
		case <-tick.C:
		}
	}
}
