// Package stdwebhooks signs and verifies requests by the Standard Webhooks
// specification (https://www.standardwebhooks.com): the headers
// webhook-id, webhook-timestamp and webhook-signature, the last holding
// "v1," and the base64 HMAC-SHA256 of id + "." + timestamp + "." + body.
//
// It is a leaf: both adapters that send signed requests (infra/webhook,
// completion webhooks; infra/httpprovider, requests to HTTP export
// services) use it, so a business service verifies everything Download
// Center sends it one way, and neither adapter imports the other.
package stdwebhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of the specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a secret in its printed form: "whsec_" and the
// base64 of the key bytes.
const SecretPrefix = "whsec_"

// SecretBytes is the size of the keys NewSecret makes (the specification
// asks for 24 to 64).
const SecretBytes = 32

// DefaultTolerance is how far a timestamp may be from the receiver's clock;
// it bounds how long a captured request can be replayed.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns (wrapped with detail), so a receiver can log why it
// refused a request while answering 401 either way.
var (
	// ErrBadTimestamp: webhook-timestamp is missing or not Unix seconds.
	ErrBadTimestamp = errors.New("malformed timestamp")
	// ErrStale: the timestamp is further than the tolerance from now.
	ErrStale = errors.New("timestamp outside the tolerance")
	// ErrBadSignature: no signature of the header matches.
	ErrBadSignature = errors.New("signature mismatch")
)

// NewSecret makes a random key of SecretBytes bytes.
func NewSecret() ([]byte, error) {
	key := make([]byte, SecretBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make webhook secret: %w", err)
	}
	return key, nil
}

// FormatSecret is the printed form of key: whsec_<base64>.
func FormatSecret(key []byte) string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Key is the HMAC key of a configured secret: the decoded bytes of a
// whsec_<base64> secret, else the secret's own bytes (a shared secret
// typed by hand, as the HTTP export types take).
func Key(secret string) []byte {
	if b64, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		if key, err := base64.StdEncoding.DecodeString(b64); err == nil && len(key) > 0 {
			return key
		}
	}
	return []byte(secret)
}

// Sign returns the webhook-signature value of body sent as message id at
// timestamp (Unix seconds) under key.
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(timestamp, 10), body))
}

func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SetHeaders signs body and sets the three headers on h.
func SetHeaders(h http.Header, key []byte, id string, at time.Time, body []byte) {
	ts := at.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Sign(key, id, ts, body))
}

// Verify checks a request as its receiver gets it: the three header
// values, the raw body, the receiver's clock. It refuses a timestamp more
// than tolerance from now (DefaultTolerance when tolerance <= 0) and a
// header none of whose space-separated "v1,<base64>" signatures matches,
// comparing in constant time. The error wraps ErrBadTimestamp, ErrStale or
// ErrBadSignature and never holds the key.
func Verify(key []byte, id, timestamp string, body []byte, signatureHeader string, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	ts, err := parseTimestamp(timestamp)
	if err != nil {
		return err
	}
	// Compared in seconds so a huge timestamp cannot overflow a Duration.
	skew := now.Unix() - ts
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(tolerance/time.Second) {
		return fmt.Errorf("%w: %s is %ds from now, more than %s", ErrStale, timestamp, skew, tolerance)
	}
	want := mac(key, id, timestamp, body)
	for _, sig := range strings.Fields(signatureHeader) {
		b64, ok := strings.CutPrefix(sig, "v1,")
		if !ok {
			continue // another scheme (v1a: asymmetric) or garbage
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature of %s matches (wrong secret or altered body)", ErrBadSignature, HeaderSignature)
}

// VerifyRequest is Verify over a request's headers.
func VerifyRequest(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	return Verify(key, h.Get(HeaderID), h.Get(HeaderTimestamp), body, h.Get(HeaderSignature), now, tolerance)
}

// parseTimestamp reads decimal Unix seconds; signs and spaces are refused
// so one timestamp has exactly one signed spelling.
func parseTimestamp(s string) (int64, error) {
	bad := fmt.Errorf("%w: %s must be Unix seconds", ErrBadTimestamp, HeaderTimestamp)
	if s == "" || len(s) > 18 {
		return 0, bad
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, bad
	}
	return n, nil
}
