package httpapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Links signs and checks download links: a link names a task, one of its
// attempts (whose file it is) and an expiry, signed with HMAC-SHA256 under
// a secret every replica shares, so it works with no API key — for a
// browser or an e-mail — until it expires.
type Links struct {
	Secret []byte
	TTL    time.Duration
	Now    func() time.Time
}

// link is what a download link says.
type link struct {
	Task    int64
	Attempt int
	Expires int64 // unix milliseconds: a link lives TTL, not up to a second more or less
}

// linkPrefix is the path links live under, outside /api/v1 (which wants a key).
const linkPrefix = "/files/"

func (l *Links) mac(k link) string {
	m := hmac.New(sha256.New, l.Secret)
	m.Write([]byte("dc-link-v1\n" + strconv.FormatInt(k.Task, 10) + "\n" + strconv.Itoa(k.Attempt) + "\n" + strconv.FormatInt(k.Expires, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// sign returns the path of a link to the file of the task's attempt.
func (l *Links) sign(task int64, attempt int) (string, time.Time) {
	exp := l.Now().Add(l.TTL).UnixMilli()
	k := link{Task: task, Attempt: attempt, Expires: exp}
	return linkPrefix + formatLink(k) + "." + l.mac(k), time.UnixMilli(exp).UTC()
}

func formatLink(k link) string {
	return strconv.FormatInt(k.Task, 10) + "." + strconv.Itoa(k.Attempt) + "." + strconv.FormatInt(k.Expires, 10)
}

var (
	errBadLink     = errors.New("this download link is not valid")
	errExpiredLink = errors.New("this download link has expired; ask for the task again for a fresh one")
)

// parseLink reads the token of a link path: task.attempt.expires.signature.
// Numbers are canonical decimal (no signs, no leading zeros) so that no two
// spellings name one link; the signature is lowercase hex.
func parseLink(tok string) (link, string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 {
		return link{}, "", errBadLink
	}
	var nums [3]int64
	for i, p := range parts[:3] {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n <= 0 || strconv.FormatInt(n, 10) != p {
			return link{}, "", errBadLink
		}
		nums[i] = n
	}
	if nums[1] > 1<<31-1 {
		return link{}, "", errBadLink
	}
	sig := parts[3]
	if len(sig) != 64 || strings.ToLower(sig) != sig {
		return link{}, "", errBadLink
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return link{}, "", errBadLink
	}
	return link{Task: nums[0], Attempt: int(nums[1]), Expires: nums[2]}, sig, nil
}

// verify checks a link token: its signature, then its expiry.
func (l *Links) verify(tok string) (link, error) {
	k, sig, err := parseLink(tok)
	if err != nil {
		return link{}, err
	}
	if !hmac.Equal([]byte(sig), []byte(l.mac(k))) {
		return link{}, errBadLink
	}
	if l.Now().UnixMilli() >= k.Expires {
		return link{}, errExpiredLink
	}
	return k, nil
}
