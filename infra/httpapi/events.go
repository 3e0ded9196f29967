package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// keepAliveEvery is how often an idle event stream gets a comment line,
// so proxies and the browser keep it open and a dead client is noticed.
const keepAliveEvery = 15 * time.Second

// acceptsEventStream reports whether the client asked for
// text/event-stream by name: a stream never ends, so a client that did
// not ask for one (a generic HTTP client, a fuzzer) gets 406 instead of a
// response it would wait on for ever.
func acceptsEventStream(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/event-stream") {
			return true
		}
	}
	return false
}

// events streams the caller's task changes as Server-Sent Events: one
// "task" event (the task as a list item) per change of a task the caller
// sees — a session its user's, a key its tenant's — then "resync" if any
// were dropped because the client read too slowly. The first event,
// "ready", says the stream follows changes from now: the client loads the
// list then. Changes come from the replica's database poll, so it does not
// matter which replica made them.
func (s *Server) events(c *gin.Context) {
	if s.changes == nil {
		writeProblem(c, http.StatusNotFound, "live events are not enabled on this server", nil)
		return
	}
	if !acceptsEventStream(c.GetHeader("Accept")) {
		writeProblem(c, http.StatusNotAcceptable, "this is an event stream: send Accept: text/event-stream", nil)
		return
	}
	sub, err := s.changes.Subscribe(actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	defer s.changes.Unsubscribe(sub)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// Proxies that buffer (nginx) would hold events back.
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	rc := http.NewResponseController(c.Writer)
	write := func(chunk string) bool {
		// Each write gets WriteTimeout: only a client that stops reading
		// is cut off.
		_ = rc.SetWriteDeadline(time.Now().Add(WriteTimeout))
		if _, err := c.Writer.WriteString(chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write("retry: 2000\n\nevent: ready\ndata: {}\n\n") {
		return
	}
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	// A session's stream ends when the session does: the page's reconnect
	// then meets the 401 and says so.
	var expired <-chan time.Time
	if v, ok := c.Get(sessionExpiresKey); ok {
		if at, ok := v.(time.Time); ok {
			tm := time.NewTimer(time.Until(at))
			defer tm.Stop()
			expired = tm.C
		}
	}
	for {
		var chunk string
		select {
		case <-c.Request.Context().Done():
			return
		case <-s.shutdown:
			return
		case <-expired:
			return
		case <-keepAlive.C:
			chunk = ": keep-alive\n\n"
		case <-sub.Lost:
			chunk = "event: resync\ndata: {}\n\n"
		case t := <-sub.C:
			chunk = s.taskEvent(t)
		}
		if !write(chunk) {
			return
		}
	}
}

// taskEvent is one task change as an SSE event: the task as in a list
// (no params or columns), its id and update time as the event id.
func (s *Server) taskEvent(t *domain.Task) string {
	v := s.view(t)
	v.Params, v.Columns = nil, nil
	b, _ := json.Marshal(v)
	return fmt.Sprintf("event: task\nid: %d-%d\ndata: %s\n\n", t.ID, t.UpdatedAt.UnixMilli(), b)
}
