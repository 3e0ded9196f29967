package stdwebhooks_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/stdwebhooks"
)

// The example of the Standard Webhooks specification (its reference
// libraries' test vector): this secret, id, timestamp and body sign to
// this signature.
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specBody      = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	key := stdwebhooks.Key(specSecret)
	require.Equal(t, specSignature, stdwebhooks.Sign(key, specID, specTimestamp, []byte(specBody)))
	require.NoError(t, stdwebhooks.Verify(key, specID, strconv.Itoa(specTimestamp), []byte(specBody), specSignature,
		time.Unix(specTimestamp+10, 0), 0))
}

func TestVerifyRefuses(t *testing.T) {
	key := stdwebhooks.Key(specSecret)
	ts := strconv.Itoa(specTimestamp)
	now := time.Unix(specTimestamp, 0)
	body := []byte(specBody)
	for _, tc := range []struct {
		name, id, ts, body, sig string
		now                     time.Time
		want                    error
	}{
		{"altered body", specID, ts, `{"test": 2432232315}`, specSignature, now, stdwebhooks.ErrBadSignature},
		{"other id", "msg_other", ts, specBody, specSignature, now, stdwebhooks.ErrBadSignature},
		{"other timestamp", specID, strconv.Itoa(specTimestamp + 1), specBody, specSignature, now, stdwebhooks.ErrBadSignature},
		{"no v1 prefix", specID, ts, specBody, specSignature[3:], now, stdwebhooks.ErrBadSignature},
		{"empty signature", specID, ts, specBody, "", now, stdwebhooks.ErrBadSignature},
		{"stale", specID, ts, specBody, specSignature, now.Add(6 * time.Minute), stdwebhooks.ErrStale},
		{"from the future", specID, ts, specBody, specSignature, now.Add(-6 * time.Minute), stdwebhooks.ErrStale},
		{"signed timestamp", specID, "+" + ts, specBody, specSignature, now, stdwebhooks.ErrBadTimestamp},
		{"no timestamp", specID, "", specBody, specSignature, now, stdwebhooks.ErrBadTimestamp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := stdwebhooks.Verify(key, tc.id, tc.ts, []byte(tc.body), tc.sig, tc.now, 0)
			require.ErrorIs(t, err, tc.want)
			require.NotContains(t, err.Error(), specSecret[6:])
		})
	}
	// Several signatures (a rotation in progress): one matching is enough.
	require.NoError(t, stdwebhooks.Verify(key, specID, ts, body, "v1,AAAA "+specSignature, now, 0))
}

func TestSetHeadersAndSecrets(t *testing.T) {
	key, err := stdwebhooks.NewSecret()
	require.NoError(t, err)
	require.Len(t, key, 32)
	printed := stdwebhooks.FormatSecret(key)
	require.Regexp(t, `^whsec_[A-Za-z0-9+/]{43}=$`, printed)
	require.Equal(t, key, stdwebhooks.Key(printed))
	require.Equal(t, []byte("a-shared-secret-typed-by-hand"), stdwebhooks.Key("a-shared-secret-typed-by-hand"))

	h := http.Header{}
	at := time.Unix(1767323045, 0)
	stdwebhooks.SetHeaders(h, key, "msg_1", at, []byte("{}"))
	require.Equal(t, "msg_1", h.Get("webhook-id"))
	require.Equal(t, "1767323045", h.Get("webhook-timestamp"))
	require.NoError(t, stdwebhooks.VerifyRequest(key, h, []byte("{}"), at, 0))
	require.ErrorIs(t, stdwebhooks.VerifyRequest(key, h, []byte("{ }"), at, 0), stdwebhooks.ErrBadSignature)
}
