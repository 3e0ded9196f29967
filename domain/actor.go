package domain

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is one permission an API key grants.
type Scope string

// The scopes.
const (
	ScopeRead  Scope = "tasks:read"
	ScopeWrite Scope = "tasks:write"
	ScopeAdmin Scope = "admin"
)

// Scopes lists every scope; DefaultScopes is what a new key gets unless
// told otherwise.
var (
	Scopes        = []Scope{ScopeRead, ScopeWrite, ScopeAdmin}
	DefaultScopes = []Scope{ScopeRead, ScopeWrite}
)

// ParseScopes reads a comma-separated scope list such as
// "tasks:read,tasks:write".
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		sc := Scope(p)
		if !slices.Contains(Scopes, sc) {
			return nil, fmt.Errorf("unknown scope %q; known scopes: %s", p, JoinScopes(Scopes))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scopes in %q", s)
	}
	return out, nil
}

// JoinScopes is the comma-separated form ParseScopes reads.
func JoinScopes(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// Actor is who is asking: the tenant an API key belongs to, the end user
// the calling service acts for (X-DC-User, may be empty) and what the key
// may do. Every use case takes one, and every read and write of a task is
// scoped by its tenant, so no way in can see another tenant's tasks.
type Actor struct {
	Tenant string
	// User is the end user the calling service acts for; tasks record it
	// as their owner.
	User   string
	KeyID  int64
	Scopes []Scope
	// OwnOnly confines the actor to User's own tasks: an end user's
	// session (the download center page), not a business service that
	// acts for many users. Another user's task is then not found, like
	// another tenant's.
	OwnOnly bool
}

// Can reports whether the actor holds scope s; admin holds every scope.
func (a Actor) Can(s Scope) bool {
	return slices.Contains(a.Scopes, s) || slices.Contains(a.Scopes, ScopeAdmin)
}

// require fails with KindForbidden unless the actor holds s.
func (a Actor) require(s Scope) error {
	if a.Can(s) {
		return nil
	}
	return Errorf(KindForbidden, "this API key lacks the scope %s", s)
}

// Sees reports whether t belongs to the actor's tenant and, for an
// OwnOnly actor, to its user: the one test every read by id, every
// listing and the change feed apply.
func (a Actor) Sees(t *Task) bool {
	return t != nil && t.Tenant == a.Tenant && (!a.OwnOnly || t.Owner == a.User)
}

// MaxUserLen bounds X-DC-User.
const MaxUserLen = 128

// ValidUser checks an owner name: printable, at most MaxUserLen
// characters.
func ValidUser(u string) error {
	if len([]rune(u)) > MaxUserLen {
		return fmt.Errorf("must be at most %d characters", MaxUserLen)
	}
	for _, r := range u {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("must be printable")
		}
	}
	return nil
}

// LimitError is a request refused because its tenant is over a limit;
// RetryAfter says when trying again may succeed.
type LimitError struct {
	Message    string
	RetryAfter time.Duration
}

func (e *LimitError) Error() string { return e.Message }
