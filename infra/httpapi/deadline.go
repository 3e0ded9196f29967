package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// WriteTimeout bounds how long writing one response may stall. The server
// has no overall WriteTimeout, since that would cut a large download on a
// slow link; instead each response gets this long, and a download gets it
// again whenever bytes move, so only a client that stops reading is cut off.
const WriteTimeout = time.Minute

// writeDeadline gives every response WriteTimeout to be written.
func writeDeadline(c *gin.Context) {
	// Not every ResponseWriter supports deadlines (httptest's does not);
	// there is nothing to bound then.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Now().Add(WriteTimeout))
	c.Next()
}

// progressWriter pushes the write deadline ahead while a body streams.
type progressWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	extended time.Time
}

func newProgressWriter(w http.ResponseWriter) *progressWriter {
	return &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w), extended: time.Now()}
}

func (w *progressWriter) Write(p []byte) (int, error) {
	// One deadline syscall a second at most, however small the writes.
	if now := time.Now(); now.Sub(w.extended) >= time.Second {
		_ = w.rc.SetWriteDeadline(now.Add(WriteTimeout))
		w.extended = now
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
