package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// CORS lets a business front-end on another origin call /api/v1 from the
// browser with a session token (DC_CORS_ORIGINS). Only the listed origins
// are answered; credentials (cookies) are never allowed, since the API
// takes a bearer token, not a cookie.
type CORS struct {
	// Origins are exact origins (scheme://host[:port]); "*" allows any.
	Origins []string
}

// corsAllowHeaders are the request headers a cross-origin caller may send.
const corsAllowHeaders = "Authorization, Content-Type, Idempotency-Key, X-Request-Id, Last-Event-ID"

// corsExposeHeaders are the response headers its script may read.
const corsExposeHeaders = "Location, Retry-After, X-Request-Id, Idempotent-Replayed, Content-Disposition, WWW-Authenticate"

func (c *CORS) allows(origin string) bool {
	return origin != "" && (slices.Contains(c.Origins, "*") || slices.Contains(c.Origins, origin))
}

// handle adds the CORS headers to /api/v1 responses for an allowed
// origin and answers its preflight (OPTIONS with
// Access-Control-Request-Method) with 204. Any other OPTIONS request is
// left to the router, which answers 405 as before.
func (s *Server) cors(c *gin.Context) {
	if s.corsCfg == nil || !strings.HasPrefix(c.Request.URL.Path, "/api/v1/") {
		c.Next()
		return
	}
	origin := c.GetHeader("Origin")
	h := c.Writer.Header()
	h.Add("Vary", "Origin")
	preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
	if !s.corsCfg.allows(origin) {
		if preflight {
			writeProblem(c, http.StatusForbidden, "origin "+origin+" is not in DC_CORS_ORIGINS", nil)
			return
		}
		c.Next()
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		c.Next()
		return
	}
	h.Add("Vary", "Access-Control-Request-Method, Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST")
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "600")
	c.AbortWithStatus(http.StatusNoContent)
}
