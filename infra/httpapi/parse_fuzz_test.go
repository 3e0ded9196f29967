package httpapi

import (
	"strings"
	"testing"
	"time"
)

// FuzzBearer: the Authorization parser never panics, accepts only the
// Bearer scheme with a token68, and returns a token that is a suffix of
// the header with no spaces in it.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer x", "bearer dck_abc", "BEARER  dck_abc==",
		"Basic dXNlcjpwYXNz", "Bearer a b", "Bearer \x00", "Bearer é", "Bearer ==", "Bearer" + strings.Repeat("x", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, ok := bearer(h)
		if !ok {
			if tok != "" {
				t.Fatalf("refused %q but returned %q", h, tok)
			}
			return
		}
		if !strings.EqualFold(h[:6], "Bearer") || !strings.HasSuffix(h, tok) || tok == "" {
			t.Fatalf("accepted %q as %q", h, tok)
		}
		if strings.ContainsAny(tok, " \t\r\n\x00") {
			t.Fatalf("token %q holds a space or control character", tok)
		}
	})
}

// FuzzLink: the link parser never panics; whatever it accepts formats back
// to the very same token (one spelling per link), and no token but the
// one signed verifies.
func FuzzLink(f *testing.F) {
	l := &Links{Secret: []byte("0123456789abcdef0123456789abcdef"), TTL: time.Hour, Now: time.Now}
	good, _ := l.sign(42, 3)
	good = strings.TrimPrefix(good, linkPrefix)
	for _, s := range []string{good, "", "1.1.1." + strings.Repeat("0", 64), "01.1.1." + strings.Repeat("a", 64),
		"-1.1.1." + strings.Repeat("a", 64), "1.1.1." + strings.Repeat("A", 64), "1.1.1.1.1", "a.b.c.d",
		"9223372036854775808.1.1." + strings.Repeat("a", 64), good[:len(good)-1] + "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		k, sig, err := parseLink(tok)
		if err != nil {
			return
		}
		if back := formatLink(k) + "." + sig; back != tok {
			t.Fatalf("%q parsed to %+v, which formats as %q", tok, k, back)
		}
		if _, err := l.verify(tok); err == nil && tok != good {
			t.Fatalf("%q verified but was never signed", tok)
		}
	})
}
