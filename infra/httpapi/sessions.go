package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// Session lifetimes: what a session gets when it asks for none, and the
// most it may ask for (a working day; the page is for following exports,
// not a login).
const (
	DefaultSessionTTL = time.Hour
	MaxSessionTTL     = 12 * time.Hour
)

// sessionPrefix starts every session token. API keys start with "dck_"
// and download links are digits and dots, so the three never parse as
// each other; the MAC's label differs from the links' too, so a link's
// signature is never a session's.
const sessionPrefix = "dcs_"

// Sessions signs and checks end users' session tokens: a tenant, a user
// and an expiry under HMAC-SHA256 with the secret that signs download
// links (every replica has it), so a session works on any replica with no
// table behind it. A session acts for its user only (domain.Actor
// OwnOnly): it lists, reads, creates, cancels and retries that user's
// tasks, and can make neither sessions nor keys.
type Sessions struct {
	Secret []byte
	Now    func() time.Time
}

// session is what a session token says.
type session struct {
	Tenant, User string
	Expires      int64 // unix milliseconds
}

func (s *Sessions) mac(payload []byte) string {
	m := hmac.New(sha256.New, s.Secret)
	m.Write([]byte("dc-session-v1\n"))
	m.Write(payload)
	return hex.EncodeToString(m.Sum(nil))
}

// sign returns a token for user of tenant that expires ttl from now.
func (s *Sessions) sign(tenant, user string, ttl time.Duration) (string, time.Time) {
	exp := s.Now().Add(ttl).UnixMilli()
	payload := []byte(tenant + "\n" + user + "\n" + strconv.FormatInt(exp, 10))
	return sessionPrefix + base64.RawURLEncoding.EncodeToString(payload) + "." + s.mac(payload), time.UnixMilli(exp).UTC()
}

// URL returns the path that opens the page signed in as user of tenant
// for ttl: what POST /api/v1/sessions answers, and what the embedded mode
// prints at start for its demo user.
func (s *Sessions) URL(tenant, user string, ttl time.Duration) string {
	tok, _ := s.sign(tenant, user, ttl)
	return sessionURL(tok)
}

func sessionURL(tok string) string { return uiPath + "#token=" + tok }

var (
	errBadSession     = errors.New("the session token is not valid")
	errExpiredSession = errors.New("the session has expired; ask the application for a new one")
)

// verify checks a session token: its form, its signature, then its expiry.
func (s *Sessions) verify(tok string) (session, error) {
	body, ok := strings.CutPrefix(tok, sessionPrefix)
	if !ok {
		return session{}, errBadSession
	}
	enc, sig, ok := strings.Cut(body, ".")
	if !ok || len(sig) != 64 || strings.ToLower(sig) != sig {
		return session{}, errBadSession
	}
	payload, err := base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || !hmac.Equal([]byte(sig), []byte(s.mac(payload))) {
		return session{}, errBadSession
	}
	parts := strings.Split(string(payload), "\n")
	if len(parts) != 3 {
		return session{}, errBadSession
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return session{}, errBadSession
	}
	if s.Now().UnixMilli() >= exp {
		return session{}, errExpiredSession
	}
	return session{Tenant: parts[0], User: parts[1], Expires: exp}, nil
}

// actor is who a session acts as: its user, confined to the user's own
// tasks, reading and writing them.
func (k session) actor() domain.Actor {
	return domain.Actor{Tenant: k.Tenant, User: k.User, OwnOnly: true, Scopes: []domain.Scope{domain.ScopeRead, domain.ScopeWrite}}
}

// sessionBody is the request of POST /api/v1/sessions.
type sessionBody struct {
	User string `json:"user"`
	TTL  string `json:"ttl"`
}

var sessionRule = &keyRule{keys: map[string]bool{"user": true, "ttl": true}}

// uiPath is where the page is served; a session's url opens it.
const uiPath = "/ui/"

// createSession makes a session for an end user of the key's tenant. The
// token goes in the url's fragment, which browsers never send to a
// server, so it is in no access log; the page moves it to its session
// storage and drops the fragment at once.
func (s *Server) createSession(c *gin.Context) {
	a := actor(c)
	if a.OwnOnly {
		writeProblem(c, http.StatusForbidden, "a session cannot make sessions; use the application's API key", nil)
		return
	}
	if !a.Can(domain.ScopeWrite) {
		s.fail(c, domain.Errorf(domain.KindForbidden, "this API key lacks the scope %s", domain.ScopeWrite))
		return
	}
	var body sessionBody
	if !s.readJSON(c, &body, sessionRule) {
		return
	}
	var fe domain.FieldErrors
	if body.User == "" {
		fe.Add("user", "is required: the end user the page is for")
	} else if err := domain.ValidUser(body.User); err != nil {
		fe.Add("user", "%v", err)
	}
	ttl := DefaultSessionTTL
	if body.TTL != "" {
		d, err := time.ParseDuration(body.TTL)
		switch {
		case err != nil:
			fe.Add("ttl", "must be a duration such as 30m or 1h, not %q", body.TTL)
		case d < time.Minute || d > MaxSessionTTL:
			fe.Add("ttl", "must be between 1m and %s", fmtDuration(MaxSessionTTL))
		default:
			ttl = d
		}
	}
	if err := fe.Err(); err != nil {
		s.fail(c, err)
		return
	}
	if s.sessions == nil {
		s.fail(c, errors.New("sessions are not configured (no signing secret)"))
		return
	}
	tok, exp := s.sessions.sign(a.Tenant, body.User, ttl)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"token": tok, "user": body.User, "expires_at": exp, "url": sessionURL(tok)})
}

// fmtDuration prints whole hours as "12h" rather than "12h0m0s".
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
