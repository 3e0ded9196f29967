package storetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// WebhookStore is a task store that also keeps webhook endpoints and
// writes the outbox of task events in its transitions.
type WebhookStore interface {
	Store
	domain.WebhookStore
	domain.DeliveryStore
}

// RunWebhooks runs the webhook conformance tests: events are written by
// the transitions that cause them and only then, fan out to the tenant's
// matching endpoints, and deliveries are claimed and recorded
// conditionally.
func RunWebhooks(t *testing.T, open func(t *testing.T) WebhookStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s WebhookStore)
	}{
		{"OutboxFollowsTransitions", outboxFollowsTransitions},
		{"DeliveryClaimIsConditionalWithALease", deliveryClaimIsConditional},
		{"RedeliverDeleteAndRotate", redeliverDeleteAndRotate},
		{"PruneKeepsPendingAndRecent", pruneKeepsPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func endpoint(t *testing.T, s WebhookStore, tenant string, evs ...domain.EventType) *domain.WebhookEndpoint {
	t.Helper()
	e := &domain.WebhookEndpoint{Tenant: tenant, URL: "https://hooks.example/" + tenant, Events: evs,
		Secret: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: T0, UpdatedAt: T0}
	require.NoError(t, s.CreateEndpoint(ctx, e))
	require.Positive(t, e.ID)
	return e
}

func tenantTask(t *testing.T, s WebhookStore, tenant string) int64 {
	t.Helper()
	tk := newTask("t")
	tk.Tenant = tenant
	tk, err := s.Create(ctx, tk)
	require.NoError(t, err)
	return tk.ID
}

func events(t *testing.T, s WebhookStore, tenant string, ep int64) []string {
	t.Helper()
	ds, err := s.Deliveries(ctx, tenant, ep, 100)
	require.NoError(t, err)
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Event)+" "+itoa(d.TaskID))
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func outboxFollowsTransitions(t *testing.T, s WebhookStore) {
	all := endpoint(t, s, "a", domain.EventTypes...)
	onlyOK := endpoint(t, s, "a", domain.EventTaskSucceeded)
	other := endpoint(t, s, "b", domain.EventTypes...)

	ok := tenantTask(t, s, "a")
	o := claim(t, s, ok, "w1", 0)
	// A worker that lost the task records nothing, and no event.
	require.ErrorIs(t, s.Succeed(ctx, domain.Owner{TaskID: ok, Worker: "w2", Attempt: 1}, domain.FileInfo{Name: "f"}, T0.Add(time.Second)), domain.ErrLostRace)
	require.Empty(t, events(t, s, "a", all.ID))
	require.NoError(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f", Rows: 5, Size: 10, Sheets: 1}, T0.Add(2*time.Second)))

	// A failure with a retry coming is no event; the last one is.
	failing := tenantTask(t, s, "a")
	o = claim(t, s, failing, "w1", 3*time.Second)
	retryAt := T0.Add(4 * time.Second)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "boom", NextAttemptAt: &retryAt}, T0.Add(3*time.Second)))
	require.Len(t, events(t, s, "a", all.ID), 1)
	require.NoError(t, s.Retry(ctx, failing, true, T0.Add(5*time.Second)))
	o = claim(t, s, failing, "w1", 6*time.Second)
	require.NoError(t, s.Fail(ctx, o, domain.Failure{Message: "boom", Permanent: true}, T0.Add(7*time.Second)))

	cancelled := tenantTask(t, s, "a")
	_, err := s.Cancel(ctx, cancelled, T0.Add(8*time.Second))
	require.NoError(t, err)

	require.Equal(t, []string{"task.cancelled " + itoa(cancelled), "task.failed " + itoa(failing), "task.succeeded " + itoa(ok)},
		events(t, s, "a", all.ID), "newest first, one per event")
	require.Equal(t, []string{"task.succeeded " + itoa(ok)}, events(t, s, "a", onlyOK.ID), "only the events it subscribed to")
	require.Empty(t, events(t, s, "b", other.ID), "never another tenant's events")
	require.Empty(t, events(t, s, "b", all.ID), "listings are scoped by tenant")

	// One event fans out as one delivery per endpoint, sharing its id.
	due, err := s.DueDeliveries(ctx, T0.Add(time.Hour), nil, 100)
	require.NoError(t, err)
	require.Len(t, due, 4)
	ds, err := s.Deliveries(ctx, "a", onlyOK.ID, 10)
	require.NoError(t, err)
	dsAll, err := s.Deliveries(ctx, "a", all.ID, 10)
	require.NoError(t, err)
	require.Equal(t, dsAll[2].MessageID, ds[0].MessageID)
	require.NotEqual(t, dsAll[0].MessageID, dsAll[1].MessageID)
	require.Equal(t, domain.DeliveryPending, ds[0].Status)
	oldest, err := s.OldestUndelivered(ctx)
	require.NoError(t, err)
	require.True(t, oldest.Equal(T0.Add(2*time.Second)), "oldest %s", oldest)
	// Not due before the event happened.
	due, err = s.DueDeliveries(ctx, T0, nil, 100)
	require.NoError(t, err)
	require.Empty(t, due)
}

func deliveryClaimIsConditional(t *testing.T, s WebhookStore) {
	ep := endpoint(t, s, "a", domain.EventTaskSucceeded)
	busy := endpoint(t, s, "a", domain.EventTaskSucceeded)
	id := tenantTask(t, s, "a")
	o := claim(t, s, id, "w1", 0)
	require.NoError(t, s.Succeed(ctx, o, domain.FileInfo{Name: "f", Rows: 5}, T0.Add(time.Second)))

	now := T0.Add(2 * time.Second)
	due, err := s.DueDeliveries(ctx, now, []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Len(t, due, 1, "deliveries of skipped endpoints are left out")
	require.Equal(t, ep.ID, due[0].EndpointID)
	lease := now.Add(time.Minute)
	c, err := s.ClaimDelivery(ctx, due[0], now, lease)
	require.NoError(t, err)
	_, err = s.ClaimDelivery(ctx, due[0], now, lease)
	require.ErrorIs(t, err, domain.ErrLostRace, "one claim wins")
	require.Equal(t, 1, c.Attempts)
	require.Equal(t, ep.URL, c.URL)
	require.Equal(t, ep.Secret, c.Secret)
	require.Equal(t, domain.EventTaskSucceeded, c.Event)
	require.NotEmpty(t, c.MessageID)
	require.Equal(t, id, c.Task.ID)
	require.Equal(t, domain.StatusSuccess, c.Task.Status, "the task as the event saw it")
	require.Equal(t, int64(5), c.Task.File.Rows)
	require.True(t, c.EventAt.Equal(T0.Add(time.Second)))

	// Leased: not due again until the lease lapses (a dead claimer).
	due, err = s.DueDeliveries(ctx, now.Add(30*time.Second), []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Empty(t, due)
	due, err = s.DueDeliveries(ctx, lease, []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	require.Equal(t, 1, due[0].Attempts)
	c2, err := s.ClaimDelivery(ctx, due[0], lease, lease.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, c2.Attempts)

	// The first claimer's late record changes nothing.
	rec := domain.AttemptRecord{DeliveryID: c.ID, Status: domain.DeliveryDelivered,
		DeliveryAttempt: domain.DeliveryAttempt{Attempt: 1, At: lease, StatusCode: 200, Duration: time.Millisecond}}
	require.ErrorIs(t, s.RecordAttempt(ctx, rec), domain.ErrLostRace)

	next := lease.Add(5 * time.Second)
	rec = domain.AttemptRecord{DeliveryID: c.ID, Status: domain.DeliveryPending, NextAttemptAt: &next,
		DeliveryAttempt: domain.DeliveryAttempt{Attempt: 2, At: lease, StatusCode: 500, Duration: 3 * time.Millisecond, Error: "HTTP 500"}}
	require.NoError(t, s.RecordAttempt(ctx, rec))
	due, err = s.DueDeliveries(ctx, next.Add(-time.Millisecond), []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Empty(t, due, "the backoff holds")
	due, err = s.DueDeliveries(ctx, next, []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Len(t, due, 1)
	c3, err := s.ClaimDelivery(ctx, due[0], next, next.Add(time.Minute))
	require.NoError(t, err)
	require.NoError(t, s.RecordAttempt(ctx, domain.AttemptRecord{DeliveryID: c3.ID, Status: domain.DeliveryDelivered,
		DeliveryAttempt: domain.DeliveryAttempt{Attempt: 3, At: next, StatusCode: 204, Duration: 2 * time.Millisecond}}))

	ds, err := s.Deliveries(ctx, "a", ep.ID, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	d := ds[0]
	require.Equal(t, domain.DeliveryDelivered, d.Status)
	require.Equal(t, 3, d.Attempts)
	require.NotNil(t, d.DeliveredAt)
	require.Len(t, d.Recent, 2, "recorded attempts only, newest first")
	require.Equal(t, 204, d.Recent[0].StatusCode)
	require.Equal(t, 500, d.Recent[1].StatusCode)
	require.Equal(t, "HTTP 500", d.Recent[1].Error)
	require.Equal(t, 3*time.Millisecond, d.Recent[1].Duration)
	due, err = s.DueDeliveries(ctx, next.Add(time.Hour), []int64{busy.ID}, 10)
	require.NoError(t, err)
	require.Empty(t, due, "a delivered delivery is never due")
}

func redeliverDeleteAndRotate(t *testing.T, s WebhookStore) {
	ep := endpoint(t, s, "a", domain.EventTaskCancelled)
	id := tenantTask(t, s, "a")
	_, err := s.Cancel(ctx, id, T0.Add(time.Second))
	require.NoError(t, err)
	ds, err := s.Deliveries(ctx, "a", ep.ID, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)

	_, err = s.Redeliver(ctx, "b", ep.ID, ds[0].ID, T0.Add(time.Minute))
	require.Equal(t, domain.KindNotFound, domain.KindOf(err), "another tenant's delivery")
	again, err := s.Redeliver(ctx, "a", ep.ID, ds[0].ID, T0.Add(time.Minute))
	require.NoError(t, err)
	require.NotEqual(t, ds[0].ID, again.ID)
	require.Equal(t, ds[0].MessageID, again.MessageID, "the same event, the same webhook-id")
	require.Equal(t, domain.DeliveryPending, again.Status)
	due, err := s.DueDeliveries(ctx, T0.Add(time.Minute), nil, 10)
	require.NoError(t, err)
	require.Len(t, due, 2)

	require.True(t, errors.Is(s.SetEndpointSecret(ctx, "b", ep.ID, []byte("x"), T0), domain.ErrWebhookNotFound))
	require.NoError(t, s.SetEndpointSecret(ctx, "a", ep.ID, []byte("another-secret-of-32-bytes-long!"), T0.Add(time.Hour)))
	got, err := s.Endpoint(ctx, "a", ep.ID)
	require.NoError(t, err)
	require.Equal(t, []byte("another-secret-of-32-bytes-long!"), got.Secret)
	require.Equal(t, []domain.EventType{domain.EventTaskCancelled}, got.Events)
	_, err = s.Endpoint(ctx, "b", ep.ID)
	require.ErrorIs(t, err, domain.ErrWebhookNotFound)

	require.ErrorIs(t, s.DeleteEndpoint(ctx, "b", ep.ID), domain.ErrWebhookNotFound)
	require.NoError(t, s.DeleteEndpoint(ctx, "a", ep.ID))
	due, err = s.DueDeliveries(ctx, T0.Add(time.Hour), nil, 10)
	require.NoError(t, err)
	require.Empty(t, due, "its deliveries went with it")
	eps, err := s.Endpoints(ctx, "a")
	require.NoError(t, err)
	require.Empty(t, eps)
	oldest, err := s.OldestUndelivered(ctx)
	require.NoError(t, err)
	require.True(t, oldest.IsZero())
}

func pruneKeepsPending(t *testing.T, s WebhookStore) {
	ep := endpoint(t, s, "a", domain.EventTaskCancelled)
	for i := 0; i < 3; i++ {
		_, err := s.Cancel(ctx, tenantTask(t, s, "a"), T0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	dues, err := s.DueDeliveries(ctx, T0.Add(time.Minute), nil, 10)
	require.NoError(t, err)
	require.Len(t, dues, 3)
	// The first delivered, the second failed, the third still pending.
	for i, status := range []domain.DeliveryStatus{domain.DeliveryDelivered, domain.DeliveryFailed} {
		c, err := s.ClaimDelivery(ctx, dues[i], T0.Add(time.Minute), T0.Add(2*time.Minute))
		require.NoError(t, err)
		require.NoError(t, s.RecordAttempt(ctx, domain.AttemptRecord{DeliveryID: c.ID, Status: status,
			DeliveryAttempt: domain.DeliveryAttempt{Attempt: 1, At: T0.Add(time.Minute), StatusCode: 200}}))
	}
	n, err := s.PruneDeliveries(ctx, T0, 10)
	require.NoError(t, err)
	require.Zero(t, n, "none made before the cut-off")
	n, err = s.PruneDeliveries(ctx, T0.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, 2, n, "the finished ones")
	ds, err := s.Deliveries(ctx, "a", ep.ID, 10)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, domain.DeliveryPending, ds[0].Status)
	require.Equal(t, dues[2].ID, ds[0].ID)
	require.NotEmpty(t, ds[0].MessageID, "its event is kept")
}
