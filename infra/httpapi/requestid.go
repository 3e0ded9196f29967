package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// HeaderRequestID carries a request's id in and out.
const HeaderRequestID = "X-Request-Id"

// requestIDRe is what a client's request id may be: safe in a log line
// and a header, bounded.
var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

const logKey = "dc.log"

// requestID takes the client's X-Request-Id (or makes one up), echoes it,
// puts it in the request's context for the use cases and in the logger
// every line of the request is written with.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(HeaderRequestID)
	if !requestIDRe.MatchString(id) {
		id = newRequestID()
	}
	c.Header(HeaderRequestID, id)
	c.Request = c.Request.WithContext(domain.WithRequestID(c.Request.Context(), id))
	c.Set(logKey, s.log.With("request_id", id))
	c.Next()
}

// logOf is the logger of the request.
func (s *Server) logOf(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(logKey); ok {
		return l.(*slog.Logger)
	}
	return s.log
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
