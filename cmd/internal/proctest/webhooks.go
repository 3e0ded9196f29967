package proctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/stdwebhooks"
)

// Arrival is one webhook request a Receiver verified.
type Arrival struct {
	MessageID string
	Type      string
	TaskID    int64
	Status    string
	// Answered is the status the receiver answered with.
	Answered int
}

// Receiver is a business service's webhook endpoint on loopback: it
// verifies each request's Standard Webhooks signature under the secret it
// is given (infra/stdwebhooks is itself checked against the
// specification's example) and records what arrived.
type Receiver struct {
	URL string
	srv *httptest.Server

	mu  sync.Mutex
	key []byte
	// Answer picks the status for the n-th arrival (from 1) of a task's
	// event; nil answers 200.
	answer   func(a Arrival, n int) int
	arrivals []Arrival
	bad      []string
}

// NewReceiver starts a receiver; it is closed when the test ends.
func NewReceiver(t *testing.T) *Receiver {
	r := &Receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + "/hooks"
	t.Cleanup(r.srv.Close)
	return r
}

// SetSecret sets the whsec_ secret requests are verified with.
func (r *Receiver) SetSecret(secret string) {
	r.mu.Lock()
	r.key = stdwebhooks.Key(secret)
	r.mu.Unlock()
}

// SetAnswer sets how the receiver answers.
func (r *Receiver) SetAnswer(f func(a Arrival, n int) int) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := stdwebhooks.VerifyRequest(r.key, req.Header, body, time.Now(), 0); err != nil {
		r.bad = append(r.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		r.bad = append(r.bad, "body: "+err.Error())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	a := Arrival{MessageID: req.Header.Get(stdwebhooks.HeaderID), Type: ev.Type, TaskID: ev.Data.ID, Status: ev.Data.Status, Answered: http.StatusOK}
	n := 1
	for _, old := range r.arrivals {
		if old.MessageID == a.MessageID {
			n++
		}
	}
	if r.answer != nil {
		a.Answered = r.answer(a, n)
	}
	r.arrivals = append(r.arrivals, a)
	w.WriteHeader(a.Answered)
}

// Arrivals returns what arrived so far, and the errors of requests that
// did not verify.
func (r *Receiver) Arrivals() ([]Arrival, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Arrival(nil), r.arrivals...), append([]string(nil), r.bad...)
}

// Accepted is the task ids whose event the receiver answered 2xx, with
// how many times each.
func (r *Receiver) Accepted() map[int64]int {
	as, _ := r.Arrivals()
	out := map[int64]int{}
	for _, a := range as {
		if a.Answered < 300 {
			out[a.TaskID]++
		}
	}
	return out
}

// WaitAccepted waits until every id in ids was accepted at least once.
func (r *Receiver) WaitAccepted(t *testing.T, ids []int64, timeout time.Duration) map[int64]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.Accepted()
		missing := 0
		for _, id := range ids {
			if got[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return got
		}
		if time.Now().After(deadline) {
			_, bad := r.Arrivals()
			t.Fatalf("%d of %d events not delivered within %s (bad requests: %v)", missing, len(ids), timeout, bad)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Webhook is the part of an endpoint's JSON tests read.
type Webhook struct {
	ID     int64  `json:"id"`
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

// RegisterWebhook registers url for events and returns the endpoint with
// its secret; it requires 201.
func (c *Client) RegisterWebhook(t *testing.T, url string, events ...string) Webhook {
	t.Helper()
	body := fmt.Sprintf(`{"url":%q,"events":["%s"]}`, url, strings.Join(events, `","`))
	code, b := c.Do(t, http.MethodPost, "/api/v1/webhooks", body)
	require.Equal(t, http.StatusCreated, code, b)
	var w Webhook
	require.NoError(t, json.Unmarshal([]byte(b), &w))
	return w
}

// Do sends a request with a JSON body (none when empty) and returns the
// status and body.
func (c *Client) Do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, c.Base+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
