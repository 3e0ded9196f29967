package httpprovider_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/httpprovider"
)

// TestLegacySignatureHeaders: by default a request also carries the
// X-DC-Timestamp / X-DC-Signature pair of earlier releases, computed as
// they were (hex HMAC-SHA256 of timestamp "." body under the secret's
// bytes), beside the Standard Webhooks headers; legacy_signature: false
// drops them.
func TestLegacySignatureHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		legacy *bool
		want   bool
	}{
		{name: "unset", legacy: nil, want: true},
		{name: "on", legacy: ptr(true), want: true},
		{name: "off", legacy: ptr(false), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type seen struct {
				header http.Header
				body   []byte
			}
			got := make(chan seen, 1)
			svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got <- seen{r.Header.Clone(), b}
				reply(w, 200, `{"rows": [], "next_cursor": null}`)
			}))
			t.Cleanup(svc.Close)
			p := newProvider(t, svc.URL, func(c *httpprovider.Config) { c.LegacySignature = tc.legacy })
			_, err := p.Fetch(t.Context(), domain.FetchRequest{Limit: 5})
			require.NoError(t, err)
			s := <-got
			require.NoError(t, httpprovider.Verify(testSecret, s.header, s.body, time.Now(), 0), "the Standard Webhooks signature is always there")
			ts := s.header.Get(httpprovider.LegacyHeaderTimestamp)
			sig := s.header.Get(httpprovider.LegacyHeaderSignature)
			if !tc.want {
				require.Empty(t, ts)
				require.Empty(t, sig)
				return
			}
			require.Equal(t, s.header.Get(httpprovider.HeaderTimestamp), ts, "one clock reading for both")
			sec, err := strconv.ParseInt(ts, 10, 64)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), time.Unix(sec, 0), time.Minute)
			m := hmac.New(sha256.New, []byte(testSecret))
			m.Write([]byte(ts + "."))
			m.Write(s.body)
			require.Equal(t, "sha256="+hex.EncodeToString(m.Sum(nil)), sig)
		})
	}
}

func ptr[T any](v T) *T { return &v }
