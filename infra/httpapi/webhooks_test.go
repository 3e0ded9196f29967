package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// adminKey makes a key of tenant with the admin scope webhooks need.
func (e *env) adminKey(t *testing.T, tenant string) string {
	t.Helper()
	k, _, err := e.keys.Create(context.Background(), tenant, "admin", []domain.Scope{domain.ScopeAdmin})
	require.NoError(t, err)
	return k
}

type webhookJSON struct {
	ID     int64    `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
}

func TestWebhookEndpointsLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key = e.adminKey(t, "acme")
	// 8.8.8.8 is public: a literal needs no DNS lookup.
	r := e.do(t, http.MethodPost, "/api/v1/webhooks", "application/json",
		`{"url":"https://8.8.8.8/hooks","events":["task.succeeded","task.failed","task.succeeded"],"description":"billing"}`)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var w webhookJSON
	require.NoError(t, json.Unmarshal(r.body, &w))
	require.Equal(t, []string{"task.succeeded", "task.failed"}, w.Events, "duplicates dropped")
	require.Equal(t, "/api/v1/webhooks/"+itoa(w.ID), r.header.Get("Location"))
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(w.Secret, "whsec_"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(w.Secret, "whsec_"))
	require.GreaterOrEqual(t, len(key), 24, "the secret is at least 24 random bytes")

	// The secret is shown once: not by get or list.
	r = e.do(t, http.MethodGet, "/api/v1/webhooks/"+itoa(w.ID), "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.NotContains(t, string(r.body), "whsec_")
	r = e.do(t, http.MethodGet, "/api/v1/webhooks", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"url":"https://8.8.8.8/hooks"`)
	require.NotContains(t, string(r.body), "whsec_")

	// Rotation gives a new secret.
	r = e.do(t, http.MethodPost, "/api/v1/webhooks/"+itoa(w.ID)+"/rotate-secret", "", "")
	require.Equal(t, http.StatusOK, r.status)
	var rotated webhookJSON
	require.NoError(t, json.Unmarshal(r.body, &rotated))
	require.NotEqual(t, w.Secret, rotated.Secret)
	require.True(t, strings.HasPrefix(rotated.Secret, "whsec_"))

	r = e.do(t, http.MethodGet, "/api/v1/webhooks/"+itoa(w.ID)+"/deliveries", "", "")
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"items":[]}`, string(r.body))
	r = e.do(t, http.MethodGet, "/api/v1/webhooks/"+itoa(w.ID)+"/deliveries?limit=0", "", "")
	require.Equal(t, http.StatusBadRequest, r.status)
	r = e.do(t, http.MethodPost, "/api/v1/webhooks/"+itoa(w.ID)+"/deliveries/1/redeliver", "", "")
	require.Equal(t, http.StatusNotFound, r.status)

	// Another tenant sees none of it: 404, never 403.
	other := *e
	other.key = e.adminKey(t, "globex")
	for _, rq := range [][2]string{
		{http.MethodGet, "/api/v1/webhooks/" + itoa(w.ID)},
		{http.MethodDelete, "/api/v1/webhooks/" + itoa(w.ID)},
		{http.MethodPost, "/api/v1/webhooks/" + itoa(w.ID) + "/rotate-secret"},
		{http.MethodGet, "/api/v1/webhooks/" + itoa(w.ID) + "/deliveries"},
		{http.MethodPost, "/api/v1/webhooks/" + itoa(w.ID) + "/deliveries/1/redeliver"},
	} {
		r = other.do(t, rq[0], rq[1], "", "")
		require.Equal(t, http.StatusNotFound, r.status, "%s %s", rq[0], rq[1])
		decodeProblem(t, r)
	}
	r = other.do(t, http.MethodGet, "/api/v1/webhooks", "", "")
	require.JSONEq(t, `{"items":[]}`, string(r.body))

	r = e.do(t, http.MethodDelete, "/api/v1/webhooks/"+itoa(w.ID), "", "")
	require.Equal(t, http.StatusNoContent, r.status)
	r = e.do(t, http.MethodGet, "/api/v1/webhooks/"+itoa(w.ID), "", "")
	require.Equal(t, http.StatusNotFound, r.status)
	for _, bad := range []string{"0", "01", "+1", "x"} {
		r = e.do(t, http.MethodGet, "/api/v1/webhooks/"+bad, "", "")
		require.Equal(t, http.StatusNotFound, r.status, bad)
	}
}

func TestWebhooksNeedTheAdminScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t) // the default key: tasks:read and tasks:write
	for _, rq := range [][3]string{
		{http.MethodPost, "/api/v1/webhooks", `{"url":"https://8.8.8.8/h","events":["task.failed"]}`},
		{http.MethodGet, "/api/v1/webhooks", ""},
		{http.MethodGet, "/api/v1/webhooks/1", ""},
		{http.MethodDelete, "/api/v1/webhooks/1", ""},
		{http.MethodPost, "/api/v1/webhooks/1/rotate-secret", ""},
		{http.MethodGet, "/api/v1/webhooks/1/deliveries", ""},
		{http.MethodPost, "/api/v1/webhooks/1/deliveries/1/redeliver", ""},
	} {
		ctype := ""
		if rq[2] != "" {
			ctype = "application/json"
		}
		r := e.do(t, rq[0], rq[1], ctype, rq[2])
		require.Equal(t, http.StatusForbidden, r.status, "%s %s: %s", rq[0], rq[1], r.body)
		require.Contains(t, decodeProblem(t, r).Detail, "admin")
	}
}

func TestWebhookRegistrationRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.key = e.adminKey(t, "acme")
	for _, tc := range []struct{ name, body, field string }{
		{"no url", `{"events":["task.succeeded"]}`, "url"},
		{"relative", `{"url":"/hooks","events":["task.succeeded"]}`, "url"},
		{"ftp", `{"url":"ftp://8.8.8.8/x","events":["task.succeeded"]}`, "url"},
		{"no host", `{"url":"http:///x","events":["task.succeeded"]}`, "url"},
		{"credentials", `{"url":"https://u:p@8.8.8.8/x","events":["task.succeeded"]}`, "url"},
		{"fragment", `{"url":"https://8.8.8.8/x#f","events":["task.succeeded"]}`, "url"},
		{"too long", `{"url":"https://8.8.8.8/` + strings.Repeat("a", 2048) + `","events":["task.succeeded"]}`, "url"},
		{"no events", `{"url":"https://8.8.8.8/x","events":[]}`, "events"},
		{"unknown event", `{"url":"https://8.8.8.8/x","events":["task.exploded"]}`, "events[0]"},
		{"long description", `{"url":"https://8.8.8.8/x","events":["task.failed"],"description":"` + strings.Repeat("d", 501) + `"}`, "description"},
		{"control in description", `{"url":"https://8.8.8.8/x","events":["task.failed"],"description":"a\u0007b"}`, "description"},
		// Private targets are refused unless DC_WEBHOOK_ALLOW_PRIVATE=true.
		{"loopback", `{"url":"http://127.0.0.1:9/x","events":["task.succeeded"]}`, "url"},
		{"localhost", `{"url":"http://localhost:9/x","events":["task.succeeded"]}`, "url"},
		{"private", `{"url":"http://10.1.2.3/x","events":["task.succeeded"]}`, "url"},
		{"link-local metadata", `{"url":"http://169.254.169.254/latest","events":["task.succeeded"]}`, "url"},
		{"ipv6 loopback", `{"url":"http://[::1]/x","events":["task.succeeded"]}`, "url"},
		{"mapped loopback", `{"url":"http://[::ffff:127.0.0.1]/x","events":["task.succeeded"]}`, "url"},
		{"unresolvable", `{"url":"http://no-such-host.invalid/x","events":["task.succeeded"]}`, "url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/api/v1/webhooks", "application/json", tc.body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			p := decodeProblem(t, r)
			require.NotEmpty(t, p.Errors)
			require.Equal(t, tc.field, p.Errors[0].Field, p.Detail)
		})
	}
	for _, body := range []string{`{"url":"https://8.8.8.8/x","events":["task.failed"],"URL":"x"}`, `{"url":1}`, `[]`, `{"url":"https://8.8.8.8/x","events":["task.failed"],"secret":"mine"}`} {
		r := e.do(t, http.MethodPost, "/api/v1/webhooks", "application/json", body)
		require.Equal(t, http.StatusBadRequest, r.status, body)
	}
	r := e.do(t, http.MethodPost, "/api/v1/webhooks", "text/plain", `{}`)
	require.Equal(t, http.StatusUnsupportedMediaType, r.status)

	// At most 20 endpoints per tenant.
	for i := 0; i < domain.MaxWebhookEndpoints; i++ {
		r := e.do(t, http.MethodPost, "/api/v1/webhooks", "application/json", `{"url":"https://8.8.8.8/x","events":["task.failed"]}`)
		require.Equal(t, http.StatusCreated, r.status)
	}
	r = e.do(t, http.MethodPost, "/api/v1/webhooks", "application/json", `{"url":"https://8.8.8.8/x","events":["task.failed"]}`)
	require.Equal(t, http.StatusConflict, r.status)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
