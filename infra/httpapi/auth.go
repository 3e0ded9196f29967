package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// Authenticator turns an API key into the actor it stands for, or
// domain.ErrUnauthenticated.
type Authenticator interface {
	Authenticate(ctx context.Context, key string) (domain.Actor, error)
}

const actorKey = "dc.actor"

// sessionExpiresKey holds when the session a request came with expires.
const sessionExpiresKey = "dc.session_expires"

// bearer reads an Authorization header of the Bearer scheme (RFC 6750):
// the scheme in any case, one or more spaces, then a token68.
func bearer(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok := strings.TrimLeft(rest, " ")
	// A session token holds its user's name (up to 128 characters of
	// UTF-8), so tokens may be longer than keys.
	if tok == "" || len(tok) > 1024 {
		return "", false
	}
	body := strings.TrimRight(tok, "=")
	if body == "" {
		return "", false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return "", false
		}
	}
	return tok, true
}

// authenticate admits a request with a valid API key, recording its actor
// (with the X-DC-User it acts for), or with a valid session token (whose
// actor is its user, confined to the user's tasks); anything else is a
// 401 that says no more than that a valid key is needed.
func (s *Server) authenticate(c *gin.Context) {
	deny := func(detail, errCode string) {
		v := `Bearer realm="download-center"`
		if errCode != "" {
			v += `, error="` + errCode + `"`
		}
		c.Header("WWW-Authenticate", v)
		writeProblem(c, http.StatusUnauthorized, detail, nil)
	}
	h := c.GetHeader("Authorization")
	if h == "" {
		deny("send an API key: Authorization: Bearer <key>", "")
		return
	}
	key, ok := bearer(h)
	if !ok {
		deny("the Authorization header must be: Bearer <key>", "invalid_request")
		return
	}
	if s.sessions != nil && strings.HasPrefix(key, sessionPrefix) {
		k, err := s.sessions.verify(key)
		if err != nil {
			deny(err.Error(), "invalid_token")
			return
		}
		if u := c.GetHeader("X-DC-User"); u != "" && u != k.User {
			writeProblem(c, http.StatusForbidden, "a session acts for its own user only; leave X-DC-User out", nil)
			return
		}
		c.Set(actorKey, k.actor())
		c.Set(sessionExpiresKey, time.UnixMilli(k.Expires))
		c.Next()
		return
	}
	a, err := s.auth.Authenticate(c.Request.Context(), key)
	if errors.Is(err, domain.ErrUnauthenticated) {
		deny("the API key is not valid (unknown, mistyped or revoked)", "invalid_token")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	user := c.GetHeader("X-DC-User")
	if err := domain.ValidUser(user); err != nil {
		writeProblem(c, http.StatusBadRequest, "X-DC-User "+err.Error(), []domain.FieldError{{Field: "X-DC-User", Reason: err.Error()}})
		return
	}
	a.User = user
	c.Set(actorKey, a)
	c.Next()
}

// actor is the caller authenticate admitted.
func actor(c *gin.Context) domain.Actor {
	v, _ := c.Get(actorKey)
	a, _ := v.(domain.Actor)
	return a
}
