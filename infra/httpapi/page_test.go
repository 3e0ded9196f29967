package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpapi"
)

type sessionJSON struct {
	Token     string    `json:"token"`
	User      string    `json:"user"`
	ExpiresAt time.Time `json:"expires_at"`
	URL       string    `json:"url"`
}

// session opens a session for user with the env's key.
func (e *env) session(t *testing.T, user, ttl string) sessionJSON {
	t.Helper()
	body := fmt.Sprintf(`{"user":%q}`, user)
	if ttl != "" {
		body = fmt.Sprintf(`{"user":%q,"ttl":%q}`, user, ttl)
	}
	r := e.do(t, http.MethodPost, "/api/v1/sessions", "application/json", body)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var s sessionJSON
	require.NoError(t, json.Unmarshal(r.body, &s))
	return s
}

// createFor creates a task with the env's key for user (X-DC-User).
func (e *env) createFor(t *testing.T, user, name string) int64 {
	t.Helper()
	r := e.create(t, fmt.Sprintf(`{"name":%q,"type":"demo","format":"csv","params":{"rows":1}}`, name), "X-DC-User", user)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var tk struct {
		ID int64 `json:"id"`
	}
	require.NoError(t, json.Unmarshal(r.body, &tk))
	return tk.ID
}

// TestSessionTokenActsForItsUserOnly: a session lists, reads, downloads,
// cancels, retries and creates its own user's tasks only; another user's
// task is 404 like another tenant's; it cannot make sessions; a changed
// or expired token is 401.
func TestSessionTokenActsForItsUserOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	mine := e.createFor(t, "alice", "alice's")
	done := e.createFor(t, "alice", "alice's done")
	e.finish(t, done)
	theirs := e.createFor(t, "bob", "bob's")
	bobsDone := e.createFor(t, "bob", "bob's done")
	e.finish(t, bobsDone)

	s := e.session(t, "alice", "30m")
	require.True(t, strings.HasPrefix(s.Token, "dcs_"), s.Token)
	require.Equal(t, "alice", s.User)
	require.Equal(t, "/ui/#token="+s.Token, s.URL, "the token travels in the fragment, never to a server")
	require.WithinDuration(t, time.Now().Add(30*time.Minute), s.ExpiresAt, 5*time.Second)

	e.as(s.Token, func() {
		r := e.do(t, http.MethodGet, "/api/v1/tasks", "", "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var list struct {
			Items []taskJSON `json:"items"`
		}
		require.NoError(t, json.Unmarshal(r.body, &list))
		require.Len(t, list.Items, 2)
		for _, it := range list.Items {
			require.Equal(t, "alice", it.Owner)
		}
		r = e.do(t, http.MethodGet, "/api/v1/tasks?owner=bob", "", "")
		require.Equal(t, http.StatusOK, r.status)
		require.JSONEq(t, `{"items":[],"next_cursor":null}`, string(r.body), "another user's list is empty")

		require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, fmt.Sprintf("/api/v1/tasks/%d", mine), "", "").status)
		require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, fmt.Sprintf("/api/v1/tasks/%d/file", done), "", "").status)
		for _, ep := range []string{"GET /api/v1/tasks/%d", "GET /api/v1/tasks/%d/file", "POST /api/v1/tasks/%d/cancel", "POST /api/v1/tasks/%d/retry"} {
			m, p, _ := strings.Cut(ep, " ")
			id := theirs
			if strings.HasSuffix(p, "file") {
				id = bobsDone
			}
			r := e.do(t, m, fmt.Sprintf(p, id), "", "")
			require.Equal(t, http.StatusNotFound, r.status, "%s of bob's task: %s", ep, r.body)
		}
		r = e.do(t, http.MethodPost, fmt.Sprintf("/api/v1/tasks/%d/cancel", mine), "", "")
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		r = e.do(t, http.MethodPost, fmt.Sprintf("/api/v1/tasks/%d/retry", mine), "", "")
		require.Equal(t, http.StatusAccepted, r.status, string(r.body))
		r = e.create(t, demoBody)
		require.Equal(t, http.StatusAccepted, r.status, string(r.body))
		var created taskJSON
		require.NoError(t, json.Unmarshal(r.body, &created))
		require.Equal(t, "alice", created.Owner, "a session creates as its user")

		r = e.create(t, demoBody, "X-DC-User", "bob")
		require.Equal(t, http.StatusForbidden, r.status, "a session cannot act for another user")
		r = e.do(t, http.MethodPost, "/api/v1/sessions", "application/json", `{"user":"bob"}`)
		require.Equal(t, http.StatusForbidden, r.status, "a session cannot make sessions")
	})

	bad := s.Token[:len(s.Token)-1] + string("01"[(s.Token[len(s.Token)-1]-'0'+1)%2])
	for name, tok := range map[string]string{
		"last character changed": bad,
		"user changed":           "dcs_" + strings.Replace(s.Token[4:], s.Token[4:8], "AAAA", 1),
		"no signature":           strings.Split(s.Token, ".")[0],
	} {
		e.as(tok, func() {
			r := e.do(t, http.MethodGet, "/api/v1/tasks", "", "")
			require.Equal(t, http.StatusUnauthorized, r.status, name)
			require.Contains(t, r.header.Get("WWW-Authenticate"), "invalid_token", name)
		})
	}
	e.clock.Advance(31 * time.Minute)
	e.as(s.Token, func() {
		r := e.do(t, http.MethodGet, "/api/v1/tasks", "", "")
		require.Equal(t, http.StatusUnauthorized, r.status, "expired")
		require.Contains(t, decodeProblem(t, r).Detail, "expired")
	})
}

// TestSessionsAndLinksDoNotCross: a signed download link is no session
// token and a session token is no download link, though one secret signs
// both.
func TestSessionsAndLinksDoNotCross(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.createFor(t, "alice", "a")
	e.finish(t, id)
	link := e.task(t, id).File.URL
	require.True(t, strings.HasPrefix(link, "/files/"), link)
	s := e.session(t, "alice", "")
	require.WithinDuration(t, time.Now().Add(httpapi.DefaultSessionTTL), s.ExpiresAt, 5*time.Second)
	e.as(strings.TrimPrefix(link, "/files/"), func() {
		require.Equal(t, http.StatusUnauthorized, e.do(t, http.MethodGet, "/api/v1/tasks", "", "").status, "a link as a bearer token")
	})
	e.as("", func() {
		require.Equal(t, http.StatusOK, e.do(t, http.MethodGet, link, "", "").status)
		require.Equal(t, http.StatusForbidden, e.do(t, http.MethodGet, "/files/"+s.Token, "", "").status, "a session as a link")
	})
}

// TestCreateSessionValidates: user and ttl are checked (ttl from 1m to
// 12h) as 400 problems naming the field; the key needs tasks:write.
func TestCreateSessionValidates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for body, field := range map[string]string{
		`{"user":"alice","ttl":"13h"}`:                "ttl",
		`{"user":"alice","ttl":"30s"}`:                "ttl",
		`{"user":"alice","ttl":"-1h"}`:                "ttl",
		`{"user":"alice","ttl":"soon"}`:               "ttl",
		`{"ttl":"1h"}`:                                "user",
		`{"user":""}`:                                 "user",
		`{"user":"a\u0007b"}`:                         "user",
		`{"user":"` + strings.Repeat("x", 129) + `"}`: "user",
	} {
		r := e.do(t, http.MethodPost, "/api/v1/sessions", "application/json", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
		p := decodeProblem(t, r)
		require.Len(t, p.Errors, 1, body)
		require.Equal(t, field, p.Errors[0].Field, body)
	}
	for _, body := range []string{`{"user":"a","User":"b"}`, `{"user":"a","user":"b"}`, `{"user":"a","extra":1}`, `[]`, ``} {
		r := e.do(t, http.MethodPost, "/api/v1/sessions", "application/json", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
	}
	require.Equal(t, http.StatusUnsupportedMediaType, e.do(t, http.MethodPost, "/api/v1/sessions", "text/plain", `{"user":"a"}`).status)
	s := e.session(t, "李雷 (sales)", "12h")
	require.Equal(t, "李雷 (sales)", s.User)
	reader, _ := e.newKey(t, "acme", domain.ScopeRead)
	e.as(reader, func() {
		r := e.do(t, http.MethodPost, "/api/v1/sessions", "application/json", `{"user":"alice"}`)
		require.Equal(t, http.StatusForbidden, r.status, "needs tasks:write")
	})
}

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ Event, Data string }

// openEvents opens GET /api/v1/events on base with tok and returns its
// events as they arrive.
func openEvents(t *testing.T, base, tok string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	out := make(chan sseEvent, 100)
	go func() {
		defer res.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Event != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return out
}

// nextTask waits for the next task event and returns its task.
func nextTask(t *testing.T, events <-chan sseEvent) taskJSON {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the stream ended")
			if ev.Event != "task" {
				continue
			}
			var tk taskJSON
			require.NoError(t, json.Unmarshal([]byte(ev.Data), &tk))
			return tk
		case <-time.After(10 * time.Second):
			t.Fatal("no task event within 10 s")
		}
	}
}

// TestEventsStreamTheSessionUsersChanges: the stream starts with ready,
// then carries changes of the session's user's tasks only — creates,
// claims, progress, the finish with its signed link — as list items.
func TestEventsStreamTheSessionUsersChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	s := e.session(t, "alice", "")
	events := openEvents(t, e.srv.URL, s.Token)
	require.Equal(t, "ready", (<-events).Event)

	e.createFor(t, "bob", "bob's")
	id := e.createFor(t, "alice", "alice's")
	tk := nextTask(t, events)
	require.Equal(t, id, tk.ID, "bob's task is not alice's to see")
	require.Equal(t, "NOT_EXECUTED", tk.Status)
	require.Nil(t, tk.Params, "list items leave params out")

	ctx := context.Background()
	now := time.Now().UTC()
	claimed, err := e.store.Claim(ctx, id, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, "EXECUTING", nextTask(t, events).Status)
	o := domain.Owner{TaskID: id, Worker: "w", Attempt: claimed.Attempts}
	_, err = e.store.Heartbeat(ctx, o, domain.Progress{RowsWritten: 40, RowsTotal: 100, LeaseUntil: now.Add(time.Minute)}, now.Add(10*time.Millisecond))
	require.NoError(t, err)
	tk = nextTask(t, events)
	require.Equal(t, int64(40), tk.Progress.RowsWritten)
	require.NoError(t, e.store.Succeed(ctx, o, domain.FileInfo{Name: domain.FileName(claimed), Size: 4, Rows: 1, Sheets: 1}, now.Add(20*time.Millisecond)))
	tk = nextTask(t, events)
	require.Equal(t, "SUCCESS", tk.Status)
	require.True(t, strings.HasPrefix(tk.File.URL, "/files/"), "a finished task carries its signed link")

	// Without asking for an event stream by name: 406, not a stream.
	r := e.do(t, http.MethodGet, "/api/v1/events", "", "")
	require.Equal(t, http.StatusNotAcceptable, r.status)
	e.as("", func() {
		require.Equal(t, http.StatusUnauthorized, e.do(t, http.MethodGet, "/api/v1/events", "", "", "Accept", "text/event-stream").status)
	})
}

// TestEventsAcrossReplicas: a change made through one replica reaches a
// page following another, since each replica polls the shared database.
func TestEventsAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tasks := &domain.Tasks{Store: e.store, Sender: e.queue, Providers: domain.Registry{}, Now: e.store.Now, Log: nil}
	other := httptest.NewServer(newHandler(t, e.store, tasks, e.keys, e.links, e.sessions, e.files, pageOptions{}))
	t.Cleanup(other.Close)
	s := e.session(t, "alice", "")
	events := openEvents(t, other.URL, s.Token)
	require.Equal(t, "ready", (<-events).Event)
	id := e.createFor(t, "alice", "made on the first replica")
	require.Equal(t, id, nextTask(t, events).ID)
}

// TestCORS: without DC_CORS_ORIGINS, OPTIONS is 405 as before; with it,
// a listed origin's preflight is 204 allowing Authorization, its
// responses (errors too) carry Access-Control-Allow-Origin, and another
// origin gets none.
func TestCORS(t *testing.T) {
	t.Parallel()
	plain := newEnv(t)
	r := plain.do(t, http.MethodOptions, "/api/v1/tasks", "", "", "Origin", "https://app.example.com", "Access-Control-Request-Method", "GET")
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))

	e := newEnvPage(t, func(*domain.Tasks, *httpapi.Links) {}, pageOptions{cors: &httpapi.CORS{Origins: []string{"https://app.example.com"}}})
	r = e.do(t, http.MethodOptions, "/api/v1/tasks", "", "", "Origin", "https://app.example.com",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
	require.Equal(t, http.StatusNoContent, r.status)
	require.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Allow-Headers"), "Authorization")
	require.Contains(t, r.header.Get("Access-Control-Allow-Methods"), "POST")
	require.Empty(t, r.header.Get("Access-Control-Allow-Credentials"), "bearer tokens, never cookies")

	r = e.do(t, http.MethodGet, "/api/v1/tasks", "", "", "Origin", "https://app.example.com")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.header.Get("Access-Control-Expose-Headers"), "Location")
	e.as("", func() {
		r = e.do(t, http.MethodGet, "/api/v1/tasks", "", "", "Origin", "https://app.example.com")
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, "https://app.example.com", r.header.Get("Access-Control-Allow-Origin"), "the script may read the 401")
	})

	r = e.do(t, http.MethodOptions, "/api/v1/tasks", "", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
	require.Equal(t, http.StatusForbidden, r.status)
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	r = e.do(t, http.MethodGet, "/api/v1/tasks", "", "", "Origin", "https://evil.example")
	require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	r = e.do(t, http.MethodOptions, "/api/v1/tasks", "", "")
	require.Equal(t, http.StatusMethodNotAllowed, r.status, "an OPTIONS that is no preflight")
}

// TestPageServed: the page comes with its CSP (frame-ancestors from the
// setting, 'self' by default), in the language Accept-Language prefers;
// its assets with their types; /ui redirects to /ui/.
func TestPageServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.as("", func() {
		r := e.do(t, http.MethodGet, "/ui/", "", "")
		require.Equal(t, http.StatusOK, r.status, "the page needs no key: its session comes in the fragment")
		csp := r.header.Get("Content-Security-Policy")
		require.Contains(t, csp, "frame-ancestors 'self'")
		require.Contains(t, csp, "script-src 'self'")
		require.Contains(t, string(r.body), `<html lang="en"`)
		for header, want := range map[string]string{
			"zh-CN,zh;q=0.9,en;q=0.8": "zh-CN", "en-US,en;q=0.9,zh;q=0.8": "en", "zh-TW": "zh-CN",
			"fr-FR,fr;q=0.9": "en", "fr;q=1,en;q=0.1,zh;q=0.5": "zh-CN", "zh;q=0,en;q=0.2": "en", "": "en",
		} {
			r := e.do(t, http.MethodGet, "/ui/", "", "", "Accept-Language", header)
			require.Contains(t, string(r.body), `<html lang="`+want+`"`, header)
		}
		r = e.do(t, http.MethodGet, "/ui/assets/app.js", "", "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "text/javascript; charset=utf-8", r.header.Get("Content-Type"))
		require.Equal(t, "text/css; charset=utf-8", e.do(t, http.MethodGet, "/ui/assets/app.css", "", "").header.Get("Content-Type"))
		for _, p := range []string{"/ui/assets/notes.txt", "/ui/assets/nope.js", "/ui/assets/..%2Findex.html"} {
			require.Equal(t, http.StatusNotFound, e.do(t, http.MethodGet, p, "", "").status, p)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(e.srv.URL + "/ui")
		require.NoError(t, err)
		_ = res.Body.Close()
		require.Equal(t, http.StatusMovedPermanently, res.StatusCode)
		require.Equal(t, "/ui/", res.Header.Get("Location"))
	})
	framed := newEnvPage(t, func(*domain.Tasks, *httpapi.Links) {}, pageOptions{frameAncestors: "https://app.example.com"})
	r := framed.do(t, http.MethodGet, "/ui/", "", "")
	require.Contains(t, r.header.Get("Content-Security-Policy"), "frame-ancestors https://app.example.com")
}

// TestEventsEndWithTheSession: a session's event stream closes when the
// session expires, so the page's reconnect meets the 401.
func TestEventsEndWithTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.clock.Advance(-59 * time.Second) // a one-minute session made 59 s ago
	s := e.session(t, "alice", "1m")
	e.clock.Advance(59 * time.Second)
	events := openEvents(t, e.srv.URL, s.Token)
	require.Equal(t, "ready", (<-events).Event)
	select {
	case _, open := <-events:
		require.False(t, open, "only the end of the stream")
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its session")
	}
	e.as(s.Token, func() {
		require.Equal(t, http.StatusUnauthorized, e.do(t, http.MethodGet, "/api/v1/tasks", "", "").status)
	})
}
