package httpprovider_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/infra/httpprovider"
)

// The signature is the Standard Webhooks one, under the secret's bytes:
// v1, base64 HMAC-SHA256 of id.timestamp.body.
func TestSignIsStandardWebhooks(t *testing.T) {
	t.Parallel()
	body := []byte(`{"type":"invoices","params":{},"cursor":null,"limit":10}`)
	m := hmac.New(sha256.New, []byte(testSecret))
	m.Write([]byte("req_1.1767323045." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	require.Equal(t, want, httpprovider.Sign(testSecret, "req_1", 1767323045, body))
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_323_045, 0)
	body := []byte(`{"type":"invoices","params":{"year":2026},"cursor":"abc","limit":500}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := httpprovider.Sign(testSecret, "req_1", now.Unix(), body)
	tests := []struct {
		name    string
		secret  string
		id, ts  string
		body    []byte
		sig     string
		now     time.Time
		skew    time.Duration
		wantErr error // nil: accepted
	}{
		{name: "valid", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now},
		{name: "clock 4m59s ahead", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now.Add(4*time.Minute + 59*time.Second)},
		{name: "clock 5m behind", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now.Add(-5 * time.Minute)},
		{name: "replayed after 5m01s", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now.Add(5*time.Minute + time.Second), wantErr: httpprovider.ErrStale},
		{name: "timestamp from the future", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now.Add(-10 * time.Minute), wantErr: httpprovider.ErrStale},
		{name: "custom skew", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good, now: now.Add(31 * time.Second), skew: 30 * time.Second, wantErr: httpprovider.ErrStale},
		{name: "huge timestamp", secret: testSecret, id: "req_1", ts: "999999999999999999", body: body, sig: good, now: now, wantErr: httpprovider.ErrStale},
		{name: "wrong secret", secret: "another-secret-0123456789", id: "req_1", ts: ts, body: body, sig: good, now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "altered body", secret: testSecret, id: "req_1", ts: ts, body: []byte(`{"type":"invoices","params":{"year":2025},"cursor":"abc","limit":500}`), sig: good, now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "another id", secret: testSecret, id: "req_2", ts: ts, body: body, sig: good, now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "timestamp not the signed one", secret: testSecret, id: "req_1", ts: strconv.FormatInt(now.Unix()+1, 10), body: body, sig: good, now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "missing prefix", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good[len("v1,"):], now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "not base64", secret: testSecret, id: "req_1", ts: ts, body: body, sig: "v1,***", now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "truncated", secret: testSecret, id: "req_1", ts: ts, body: body, sig: good[:len(good)-2], now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "no signature", secret: testSecret, id: "req_1", ts: ts, body: body, now: now, wantErr: httpprovider.ErrBadSignature},
		{name: "no timestamp", secret: testSecret, id: "req_1", body: body, sig: good, now: now, wantErr: httpprovider.ErrBadTimestamp},
		{name: "signed timestamp", secret: testSecret, id: "req_1", ts: "+" + ts, body: body, sig: good, now: now, wantErr: httpprovider.ErrBadTimestamp},
		{name: "timestamp in milliseconds text", secret: testSecret, id: "req_1", ts: ts + ".5", body: body, sig: good, now: now, wantErr: httpprovider.ErrBadTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			h.Set(httpprovider.HeaderID, tt.id)
			h.Set(httpprovider.HeaderTimestamp, tt.ts)
			h.Set(httpprovider.HeaderSignature, tt.sig)
			err := httpprovider.Verify(tt.secret, h, tt.body, tt.now, tt.skew)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), testSecret)
		})
	}
}
