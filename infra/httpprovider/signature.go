package httpprovider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The request headers of the protocol.
const (
	// HeaderTimestamp carries the Unix time, in seconds, the request was
	// signed at.
	HeaderTimestamp = "X-DC-Timestamp"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of
	// timestamp + "." + body under the shared secret.
	HeaderSignature = "X-DC-Signature"
	// HeaderTaskID carries the id of the task being exported, for logs. It
	// is not signed.
	HeaderTaskID = "X-DC-Task-ID"
	// HeaderAttempt carries the task's attempt number, for logs. It is not
	// signed.
	HeaderAttempt = "X-DC-Attempt"
)

// SignaturePrefix starts every X-DC-Signature value; it names the MAC so
// another one can be introduced later without ambiguity.
const SignaturePrefix = "sha256="

// DefaultMaxSkew is how far a request's timestamp may be from the
// receiver's clock; it bounds how long a captured request can be replayed.
const DefaultMaxSkew = 5 * time.Minute

// Errors Verify returns (wrapped with detail), so a service can log why it
// refused a request while answering 401 either way.
var (
	// ErrBadTimestamp: X-DC-Timestamp is missing or not Unix seconds.
	ErrBadTimestamp = errors.New("malformed timestamp")
	// ErrStale: the timestamp is further than the allowed skew from now,
	// so the request may be a replay (or a clock is wrong).
	ErrStale = errors.New("timestamp outside the allowed skew")
	// ErrBadSignature: the signature is missing, malformed or does not
	// match the body under the secret.
	ErrBadSignature = errors.New("signature mismatch")
)

// Sign returns the X-DC-Signature value of body sent at timestamp (Unix
// seconds as decimal text) under secret.
func Sign(secret, timestamp string, body []byte) string {
	return SignaturePrefix + hex.EncodeToString(mac(secret, timestamp, body))
}

func mac(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a request as a business service receives it: timestamp and
// signatureHeader are the X-DC-Timestamp and X-DC-Signature header values,
// body the raw request body, now the service's clock. It rejects a
// timestamp more than maxSkew away from now (DefaultMaxSkew when maxSkew
// <= 0) and a signature that does not match, comparing in constant time.
// The error wraps ErrBadTimestamp, ErrStale or ErrBadSignature and never
// contains the secret.
func Verify(secret, timestamp string, body []byte, signatureHeader string, now time.Time, maxSkew time.Duration) error {
	if maxSkew <= 0 {
		maxSkew = DefaultMaxSkew
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
	if skew > int64(maxSkew/time.Second) {
		return fmt.Errorf("%w: %s is %ds from now, more than %s", ErrStale, timestamp, skew, maxSkew)
	}
	hexSig, ok := strings.CutPrefix(signatureHeader, SignaturePrefix)
	if !ok {
		return fmt.Errorf("%w: %s must start with %q", ErrBadSignature, HeaderSignature, SignaturePrefix)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not %d hex-encoded bytes", ErrBadSignature, HeaderSignature, sha256.Size)
	}
	if !hmac.Equal(got, mac(secret, timestamp, body)) {
		return fmt.Errorf("%w: wrong secret or altered body", ErrBadSignature)
	}
	return nil
}

// parseTimestamp reads decimal Unix seconds; signs and spaces are refused
// so one timestamp has exactly one signed spelling.
func parseTimestamp(s string) (int64, error) {
	if s == "" || len(s) > 18 {
		return 0, fmt.Errorf("%w: %s must be Unix seconds", ErrBadTimestamp, HeaderTimestamp)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %s must be Unix seconds", ErrBadTimestamp, HeaderTimestamp)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s must be Unix seconds", ErrBadTimestamp, HeaderTimestamp)
	}
	return n, nil
}
