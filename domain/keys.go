package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// APIKey is a caller's credential. Only the SHA-256 of its secret is kept:
// the secret is 256 random bits, so a plain hash is as hard to reverse as
// the secret is to guess, and a lookup by hash needs no per-key salt.
type APIKey struct {
	ID         int64
	Tenant     string
	Name       string
	Scopes     []Scope
	Hash       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// KeyStore persists API keys.
type KeyStore interface {
	// CreateKey stores k and sets its ID.
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash finds a key, revoked or not, by its hash; ErrNotFound when
	// there is none.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	ListKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeKey marks a key revoked; ErrNotFound when there is no such key.
	RevokeKey(ctx context.Context, id int64, at time.Time) error
	// TouchKey records when a key was last used.
	TouchKey(ctx context.Context, id int64, at time.Time) error
}

// KeyPrefix starts every API key, so a leaked one is easy to recognise.
const KeyPrefix = "dck_"

// ErrUnauthenticated: no key, a malformed one, an unknown or a revoked one.
// Callers are told no more than that.
var ErrUnauthenticated = errors.New("a valid API key is required")

var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidTenant checks a tenant name: 1-64 of a-z 0-9 . _ -, starting with a
// letter or digit.
func ValidTenant(name string) error {
	if !tenantName.MatchString(name) {
		return fmt.Errorf("tenant %q: use 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", name)
	}
	return nil
}

// HashKey is the stored form of a key's secret.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// WellFormedKey reports whether s looks like a key this service makes:
// the prefix and 43 base64url characters (256 bits).
func WellFormedKey(s string) bool {
	body, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok || len(body) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(body)
	return err == nil
}

// Keys creates, lists, revokes and checks API keys. Checks are cached for
// CacheTTL, which bounds how long a revoked key keeps working on a
// replica; the cache spares the database a read per request.
type Keys struct {
	Store    KeyStore
	Now      Clock
	CacheTTL time.Duration

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     *APIKey // nil: unknown or revoked
	fetched time.Time
}

// maxCachedKeys bounds the cache; past it the cache starts over.
const maxCachedKeys = 10000

// touchEvery is how stale a key's last-used time may get.
const touchEvery = time.Minute

// Create makes a key for tenant and returns its secret, which is shown
// once and never stored.
func (k *Keys) Create(ctx context.Context, tenant, name string, scopes []Scope) (string, *APIKey, error) {
	if err := ValidTenant(tenant); err != nil {
		return "", nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, errors.New("a key's name must be 1 to 100 characters")
	}
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, fmt.Errorf("make key: %w", err)
	}
	secret := KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	key := &APIKey{Tenant: tenant, Name: name, Scopes: scopes, Hash: HashKey(secret), CreatedAt: k.Now()}
	if err := k.Store.CreateKey(ctx, key); err != nil {
		return "", nil, fmt.Errorf("store key: %w", err)
	}
	return secret, key, nil
}

// Authenticate returns the actor a key stands for (without a user; the
// caller adds X-DC-User), or ErrUnauthenticated.
func (k *Keys) Authenticate(ctx context.Context, secret string) (Actor, error) {
	if !WellFormedKey(secret) {
		return Actor{}, ErrUnauthenticated
	}
	hash := HashKey(secret)
	now := k.Now()
	k.mu.Lock()
	c, ok := k.cache[hash]
	k.mu.Unlock()
	if !ok || now.Sub(c.fetched) >= k.CacheTTL {
		key, err := k.Store.KeyByHash(ctx, hash)
		switch {
		case errors.Is(err, ErrNotFound):
			key = nil
		case err != nil:
			return Actor{}, fmt.Errorf("look up API key: %w", err)
		}
		if key != nil && key.RevokedAt != nil {
			key = nil
		}
		if key != nil && (key.LastUsedAt == nil || now.Sub(*key.LastUsedAt) >= touchEvery) {
			// Best effort: a failed touch must not fail the request.
			if err := k.Store.TouchKey(ctx, key.ID, now); err == nil {
				key.LastUsedAt = &now
			}
		}
		c = cachedKey{key: key, fetched: now}
		k.mu.Lock()
		if k.cache == nil || len(k.cache) >= maxCachedKeys {
			k.cache = map[string]cachedKey{}
		}
		k.cache[hash] = c
		k.mu.Unlock()
	}
	// The map lookup was by hash; compare again in constant time so the
	// answer never depends on how much of a guess matched.
	if c.key == nil || subtle.ConstantTimeCompare([]byte(c.key.Hash), []byte(hash)) != 1 {
		return Actor{}, ErrUnauthenticated
	}
	return Actor{Tenant: c.key.Tenant, KeyID: c.key.ID, Scopes: c.key.Scopes}, nil
}

// List returns every key (never a secret).
func (k *Keys) List(ctx context.Context) ([]*APIKey, error) { return k.Store.ListKeys(ctx) }

// Revoke revokes a key; replicas stop accepting it within CacheTTL.
func (k *Keys) Revoke(ctx context.Context, id int64) error {
	return k.Store.RevokeKey(ctx, id, k.Now())
}
