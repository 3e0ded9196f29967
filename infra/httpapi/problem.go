package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []domain.FieldError `json:"errors,omitempty"`
}

// statusOf maps domain error kinds to HTTP statuses: the one place it is
// decided.
func statusOf(k domain.Kind) int {
	switch k {
	case domain.KindInvalid:
		return http.StatusBadRequest
	case domain.KindNotFound:
		return http.StatusNotFound
	case domain.KindConflict:
		return http.StatusConflict
	case domain.KindMismatch, domain.KindTooLarge:
		return http.StatusUnprocessableEntity
	case domain.KindForbidden:
		return http.StatusForbidden
	case domain.KindLimited:
		return http.StatusTooManyRequests
	case domain.KindGone:
		return http.StatusGone
	default:
		return http.StatusInternalServerError
	}
}

// writeProblem answers with a problem body and stops the chain.
func writeProblem(c *gin.Context, status int, detail string, fields []domain.FieldError) {
	c.Header("Cache-Control", "no-store")
	c.Render(status, problemRender{problem{
		Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail, Errors: fields,
	}})
	c.Abort()
}

// fail answers with the problem err stands for. Errors of no domain kind
// are logged here, once, and shown as internal.
func (s *Server) fail(c *gin.Context, err error) {
	var fe *domain.FieldErrors
	if errors.As(err, &fe) {
		writeProblem(c, http.StatusBadRequest, fe.Error(), fe.Errors)
		return
	}
	status := statusOf(domain.KindOf(err))
	if status == http.StatusInternalServerError {
		s.logOf(c).Error("request failed", "method", c.Request.Method, "route", c.FullPath(), "err", err)
		writeProblem(c, status, "internal error; it has been logged", nil)
		return
	}
	var le *domain.LimitError
	if errors.As(err, &le) {
		c.Header("Retry-After", strconv.Itoa(max(1, int(math.Ceil(le.RetryAfter.Seconds())))))
		writeProblem(c, http.StatusTooManyRequests, le.Message, nil)
		return
	}
	var de *domain.Error
	detail := err.Error()
	if errors.As(err, &de) {
		detail = de.Message
	}
	writeProblem(c, status, detail, nil)
}

// problemRender writes JSON with the problem media type.
type problemRender struct{ p problem }

func (r problemRender) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return jsonRender(w, r.p)
}

func (r problemRender) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/problem+json")
}
