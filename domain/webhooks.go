package domain

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// EventType names something that happened to a task that a business
// service can be told about by a webhook.
type EventType string

// The event types. A task reports one when it is done: its status will
// not change by itself any more.
const (
	EventTaskSucceeded EventType = "task.succeeded"
	// EventTaskFailed is sent only when no automatic retry is coming.
	EventTaskFailed    EventType = "task.failed"
	EventTaskCancelled EventType = "task.cancelled"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventTaskSucceeded, EventTaskFailed, EventTaskCancelled}

// TaskEventOf is the event a task in its current state reports, if any:
// the one place that decides which state changes are events. Stores call
// it on the row a transition left, inside the transition's transaction,
// and write the outbox rows of the event there, so an event is recorded
// if and only if its state change is.
func TaskEventOf(t *Task) (EventType, bool) {
	if !t.Done() {
		return "", false
	}
	switch t.Status {
	case StatusSuccess:
		return EventTaskSucceeded, true
	case StatusFailed:
		return EventTaskFailed, true
	case StatusCancelled:
		return EventTaskCancelled, true
	}
	return "", false
}

// WebhookEndpoint is a URL of a tenant's that is told about its tasks'
// events.
type WebhookEndpoint struct {
	ID          int64
	Tenant      string
	URL         string
	Events      []EventType
	Description string
	// Secret is the HMAC key requests to the endpoint are signed with
	// (Standard Webhooks); shown to the tenant only when made.
	Secret    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Wants reports whether the endpoint subscribed to ev.
func (e *WebhookEndpoint) Wants(ev EventType) bool { return slices.Contains(e.Events, ev) }

// DeliveryStatus is where one delivery of an event to an endpoint stands.
type DeliveryStatus string

// The delivery statuses.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed: every attempt for the retry period failed.
	DeliveryFailed DeliveryStatus = "failed"
)

// Delivery is one event on its way to one endpoint: an event fans out to
// every endpoint of its tenant that wants it, one delivery each.
type Delivery struct {
	ID         int64
	EndpointID int64
	Tenant     string
	EventID    int64
	// MessageID is the event's webhook-id, the same for every delivery
	// and attempt of one event, so a receiver can drop repeats.
	MessageID string
	Event     EventType
	TaskID    int64
	Status    DeliveryStatus
	Attempts  int
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// Recent holds the last attempts, newest first (listings only).
	Recent []DeliveryAttempt
}

// DeliveryAttempt is one try of a delivery.
type DeliveryAttempt struct {
	Attempt int
	At      time.Time
	// StatusCode is the endpoint's HTTP status; 0 when no response came.
	StatusCode int
	Duration   time.Duration
	// Error says why the attempt failed; empty on success.
	Error string
}

// WebhookStore keeps endpoints and their deliveries. Every method is
// scoped by tenant: another tenant's endpoint is ErrWebhookNotFound.
type WebhookStore interface {
	// CreateEndpoint stores e and sets its ID.
	CreateEndpoint(ctx context.Context, e *WebhookEndpoint) error
	// Endpoints lists a tenant's endpoints, oldest first.
	Endpoints(ctx context.Context, tenant string) ([]*WebhookEndpoint, error)
	Endpoint(ctx context.Context, tenant string, id int64) (*WebhookEndpoint, error)
	// DeleteEndpoint removes an endpoint and its deliveries.
	DeleteEndpoint(ctx context.Context, tenant string, id int64) error
	// SetEndpointSecret replaces an endpoint's secret.
	SetEndpointSecret(ctx context.Context, tenant string, id int64, secret []byte, now time.Time) error
	// Deliveries lists an endpoint's deliveries newest first, each with
	// its last few attempts.
	Deliveries(ctx context.Context, tenant string, endpoint int64, limit int) ([]*Delivery, error)
	// Redeliver queues the event of a delivery to its endpoint again, as
	// a new delivery due now.
	Redeliver(ctx context.Context, tenant string, endpoint, delivery int64, now time.Time) (*Delivery, error)
}

// ErrWebhookNotFound: no endpoint (or delivery) with that id in the
// caller's tenant.
var ErrWebhookNotFound = &Error{Kind: KindNotFound, Message: "webhook endpoint not found"}

// WebhookTargets decides whether Download Center may call a URL: the
// infrastructure's check of where its host resolves (no loopback, private
// or link-local address unless allowed). A refusal is a *FieldErrors or a
// KindInvalid error.
type WebhookTargets interface {
	CheckTarget(ctx context.Context, u *url.URL) error
}

// Limits of an endpoint's registration.
const (
	MaxWebhookURLLen         = 2048
	MaxWebhookDescriptionLen = 500
	// MaxWebhookEndpoints bounds a tenant's endpoints: every event fans
	// out to each.
	MaxWebhookEndpoints = 20
	// WebhookSecretBytes is the size of an endpoint's signing key.
	WebhookSecretBytes = 32
)

// EndpointRequest is what a tenant registers.
type EndpointRequest struct {
	URL         string
	Events      []EventType
	Description string
}

// Webhooks is the use cases of a tenant's webhook endpoints. Managing them
// takes the admin scope: an endpoint receives every task of the tenant,
// whoever it was made for, and its secret speaks for Download Center.
type Webhooks struct {
	Store WebhookStore
	// Targets checks where a URL leads; nil checks only its form.
	Targets WebhookTargets
	Now     Clock
}

// Create validates req and registers the endpoint with a new secret.
func (w *Webhooks) Create(ctx context.Context, a Actor, req EndpointRequest) (*WebhookEndpoint, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	e, err := w.validate(ctx, req)
	if err != nil {
		return nil, err
	}
	have, err := w.Store.Endpoints(ctx, a.Tenant)
	if err != nil {
		return nil, err
	}
	if len(have) >= MaxWebhookEndpoints {
		return nil, Errorf(KindConflict, "the tenant has %d webhook endpoints, the most it may have; delete one first", len(have))
	}
	if e.Secret, err = newWebhookSecret(); err != nil {
		return nil, err
	}
	now := w.Now()
	e.Tenant, e.CreatedAt, e.UpdatedAt = a.Tenant, now, now
	if err := w.Store.CreateEndpoint(ctx, e); err != nil {
		return nil, fmt.Errorf("create webhook endpoint: %w", err)
	}
	return e, nil
}

func (w *Webhooks) validate(ctx context.Context, req EndpointRequest) (*WebhookEndpoint, error) {
	var fe FieldErrors
	u, err := url.Parse(req.URL)
	switch {
	case req.URL == "":
		fe.Add("url", "is required")
	case len(req.URL) > MaxWebhookURLLen:
		fe.Add("url", "must be at most %d characters", MaxWebhookURLLen)
	case err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "":
		fe.Add("url", "must be an absolute http or https URL with a host")
	case u.User != nil:
		fe.Add("url", "must not carry credentials")
	case u.Fragment != "" || strings.HasSuffix(req.URL, "#"):
		fe.Add("url", "must not have a fragment")
	case strings.ContainsFunc(req.URL, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		fe.Add("url", "must not contain spaces or control characters")
	}
	var events []EventType
	if len(req.Events) == 0 {
		fe.Add("events", "name at least one of %s", joinEvents(EventTypes))
	}
	for i, ev := range req.Events {
		if !slices.Contains(EventTypes, ev) {
			fe.Add(fmt.Sprintf("events[%d]", i), "unknown event %q; known: %s", truncateText(string(ev), 64), joinEvents(EventTypes))
			continue
		}
		if !slices.Contains(events, ev) {
			events = append(events, ev)
		}
	}
	if n := utf8.RuneCountInString(req.Description); n > MaxWebhookDescriptionLen || !utf8.ValidString(req.Description) {
		fe.Add("description", "must be valid UTF-8 of at most %d characters", MaxWebhookDescriptionLen)
	} else if strings.ContainsFunc(req.Description, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		fe.Add("description", "must be printable")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	if w.Targets != nil {
		if err := w.Targets.CheckTarget(ctx, u); err != nil {
			return nil, err
		}
	}
	return &WebhookEndpoint{URL: req.URL, Events: events, Description: req.Description}, nil
}

func joinEvents(evs []EventType) string {
	s := make([]string, len(evs))
	for i, e := range evs {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func truncateText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

func newWebhookSecret() ([]byte, error) {
	key := make([]byte, WebhookSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make webhook secret: %w", err)
	}
	return key, nil
}

// List returns the tenant's endpoints.
func (w *Webhooks) List(ctx context.Context, a Actor) ([]*WebhookEndpoint, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	return w.Store.Endpoints(ctx, a.Tenant)
}

// Get returns one endpoint of the tenant.
func (w *Webhooks) Get(ctx context.Context, a Actor, id int64) (*WebhookEndpoint, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	return w.Store.Endpoint(ctx, a.Tenant, id)
}

// Delete removes an endpoint; its pending deliveries are dropped.
func (w *Webhooks) Delete(ctx context.Context, a Actor, id int64) error {
	if err := a.require(ScopeAdmin); err != nil {
		return err
	}
	return w.Store.DeleteEndpoint(ctx, a.Tenant, id)
}

// RotateSecret gives an endpoint a new secret and returns the endpoint
// holding it. Requests are signed with the new one from then on,
// retries of earlier deliveries too.
func (w *Webhooks) RotateSecret(ctx context.Context, a Actor, id int64) (*WebhookEndpoint, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	secret, err := newWebhookSecret()
	if err != nil {
		return nil, err
	}
	if err := w.Store.SetEndpointSecret(ctx, a.Tenant, id, secret, w.Now()); err != nil {
		return nil, err
	}
	return w.Store.Endpoint(ctx, a.Tenant, id)
}

// MaxDeliveriesListed bounds a deliveries listing.
const MaxDeliveriesListed = 100

// Deliveries lists an endpoint's recent deliveries with their attempts.
func (w *Webhooks) Deliveries(ctx context.Context, a Actor, id int64, limit int) ([]*Delivery, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxDeliveriesListed {
		return nil, &FieldErrors{Errors: []FieldError{{Field: "limit", Reason: fmt.Sprintf("must be an integer between 1 and %d", MaxDeliveriesListed)}}}
	}
	if _, err := w.Store.Endpoint(ctx, a.Tenant, id); err != nil {
		return nil, err
	}
	return w.Store.Deliveries(ctx, a.Tenant, id, limit)
}

// Redeliver sends a delivery's event to its endpoint again.
func (w *Webhooks) Redeliver(ctx context.Context, a Actor, id, delivery int64) (*Delivery, error) {
	if err := a.require(ScopeAdmin); err != nil {
		return nil, err
	}
	return w.Store.Redeliver(ctx, a.Tenant, id, delivery, w.Now())
}
