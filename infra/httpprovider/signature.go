package httpprovider

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/downloadcenter/dc/infra/stdwebhooks"
)

// The request headers of the protocol. The first three are the Standard
// Webhooks scheme's, as completion webhooks use them, so a business
// service verifies everything Download Center sends it one way.
const (
	// HeaderID carries the request's id, unique per request.
	HeaderID = stdwebhooks.HeaderID
	// HeaderTimestamp carries the Unix time, in seconds, the request was
	// signed at.
	HeaderTimestamp = stdwebhooks.HeaderTimestamp
	// HeaderSignature carries "v1," and the base64 HMAC-SHA256 of
	// id + "." + timestamp + "." + body under the shared secret.
	HeaderSignature = stdwebhooks.HeaderSignature
	// HeaderTaskID carries the id of the task being exported, for logs. It
	// is not signed.
	HeaderTaskID = "X-DC-Task-ID"
	// HeaderAttempt carries the task's attempt number, for logs. It is not
	// signed.
	HeaderAttempt = "X-DC-Attempt"

	// LegacyHeaderTimestamp and LegacyHeaderSignature are the signature
	// headers of earlier releases, sent too while Config.LegacySignature
	// is on: Unix seconds, and "sha256=" with the hex HMAC-SHA256 of
	// timestamp + "." + body under the secret's bytes. Deprecated: verify
	// HeaderSignature instead.
	LegacyHeaderTimestamp = "X-DC-Timestamp"
	LegacyHeaderSignature = "X-DC-Signature"
)

// DefaultMaxSkew is how far a request's timestamp may be from the
// receiver's clock; it bounds how long a captured request can be replayed.
const DefaultMaxSkew = stdwebhooks.DefaultTolerance

// Errors Verify returns (wrapped with detail), so a service can log why it
// refused a request while answering 401 either way.
var (
	// ErrBadTimestamp: webhook-timestamp is missing or not Unix seconds.
	ErrBadTimestamp = stdwebhooks.ErrBadTimestamp
	// ErrStale: the timestamp is further than the allowed skew from now,
	// so the request may be a replay (or a clock is wrong).
	ErrStale = stdwebhooks.ErrStale
	// ErrBadSignature: the signature is missing, malformed or does not
	// match the body under the secret.
	ErrBadSignature = stdwebhooks.ErrBadSignature
)

// Sign returns the webhook-signature value of body sent as request id at
// timestamp (Unix seconds) under secret: the HMAC key is the secret's
// bytes, or the decoded key of a whsec_<base64> secret.
func Sign(secret, id string, timestamp int64, body []byte) string {
	return stdwebhooks.Sign(stdwebhooks.Key(secret), id, timestamp, body)
}

// Verify checks a request as a business service receives it: its headers,
// the raw body and the service's clock. It rejects a timestamp more than
// maxSkew away from now (DefaultMaxSkew when maxSkew <= 0) and a signature
// that does not match, comparing in constant time. The error wraps
// ErrBadTimestamp, ErrStale or ErrBadSignature and never contains the
// secret.
func Verify(secret string, header http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	return stdwebhooks.VerifyRequest(stdwebhooks.Key(secret), header, body, now, maxSkew)
}

// sign sets the signature headers of one try of a request: the Standard
// Webhooks ones, and the legacy ones too when legacy is set (both from the
// same clock reading).
func sign(h http.Header, secret string, body []byte, legacy bool) {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on supported platforms
	now := time.Now()
	stdwebhooks.SetHeaders(h, stdwebhooks.Key(secret), "req_"+hex.EncodeToString(b[:]), now, body)
	if legacy {
		ts := strconv.FormatInt(now.Unix(), 10)
		h.Set(LegacyHeaderTimestamp, ts)
		h.Set(LegacyHeaderSignature, legacySignature(secret, ts, body))
	}
}

// legacySignature is the X-DC-Signature value of earlier releases.
func legacySignature(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
