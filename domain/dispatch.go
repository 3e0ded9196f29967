package domain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// DeliveryStore is what the webhook dispatcher claims deliveries from and
// records their attempts in.
type DeliveryStore interface {
	// DueDeliveries lists pending deliveries due at now, oldest due
	// first, leaving out those to the endpoints in skip.
	DueDeliveries(ctx context.Context, now time.Time, skip []int64, limit int) ([]DueDelivery, error)
	// ClaimDelivery takes a due delivery for one attempt, conditional on
	// it being still pending, due, and at the attempt count listed: one
	// replica wins, the others get ErrLostRace. The claim counts the
	// attempt and makes the delivery due again at leaseUntil, so one whose
	// claimer died is tried again then.
	ClaimDelivery(ctx context.Context, d DueDelivery, now, leaseUntil time.Time) (*ClaimedDelivery, error)
	// RecordAttempt stores an attempt and moves its delivery on,
	// conditional on the claim still holding (status pending, attempt
	// count unchanged); ErrLostRace otherwise.
	RecordAttempt(ctx context.Context, r AttemptRecord) error
	// OldestUndelivered is when the oldest pending delivery was made;
	// zero when none is pending.
	OldestUndelivered(ctx context.Context) (time.Time, error)
	// PruneDeliveries deletes up to limit finished (delivered or failed)
	// deliveries made before before, with their attempts and the events
	// left without a delivery, and returns how many deliveries it deleted.
	PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error)
}

// DueDelivery is a delivery ready to be claimed.
type DueDelivery struct {
	ID         int64
	EndpointID int64
	Attempts   int
}

// ClaimedDelivery is a delivery claimed for one attempt, with what sending
// it needs.
type ClaimedDelivery struct {
	Delivery
	URL    string
	Secret []byte
	// Task is the task as it was when the event happened.
	Task    *Task
	EventAt time.Time
}

// AttemptRecord is the outcome of one attempt and where it leaves the
// delivery.
type AttemptRecord struct {
	DeliveryID int64
	DeliveryAttempt
	Status DeliveryStatus
	// NextAttemptAt is when a still pending delivery is tried again.
	NextAttemptAt *time.Time
}

// WebhookRequest is one signed POST to an endpoint.
type WebhookRequest struct {
	URL    string
	Secret []byte
	// MessageID is the webhook-id header.
	MessageID string
	Body      []byte
}

// WebhookSender makes the HTTP request of a delivery: it signs it, sends
// it under its own timeout and reports the response status, or an error
// when none came.
type WebhookSender interface {
	Send(ctx context.Context, r WebhookRequest) (statusCode int, err error)
}

// Webhook attempt outcomes, as a DeliveryObserver hears them.
const (
	DeliveryOutcomeDelivered = "delivered"
	// DeliveryOutcomeRetry: the attempt failed, another is scheduled.
	DeliveryOutcomeRetry = "retry"
	// DeliveryOutcomeFailed: the attempt failed and was the last.
	DeliveryOutcomeFailed = "failed"
)

// DeliveryObserver hears webhook attempts and the backlog, for metrics.
type DeliveryObserver interface {
	WebhookAttempt(outcome string)
	// WebhookBacklog is the age of the oldest undelivered event (0: none).
	WebhookBacklog(oldest time.Duration)
}

// Dispatcher delivers webhook events: every dc-api runs one beside its
// scheduler. Deliveries are claimed with a conditional update and a lease,
// so replicas share the work, none sends a delivery another is sending,
// and one whose claimer died is sent again: at least once. Sends run
// concurrently, bounded overall and per endpoint, so a slow endpoint
// holds at most PerEndpoint of the slots and never delays the others.
type Dispatcher struct {
	Store  DeliveryStore
	Sender WebhookSender
	// Payload renders a task as the API shows it: the data of an event.
	Payload func(*Task) (json.RawMessage, error)
	// Backoff is the wait after a delivery's first failed attempt; it
	// doubles per attempt (±20%) up to MaxBackoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// RetryFor is how long after it was made a delivery is tried; then it
	// is marked failed.
	RetryFor time.Duration
	// Every is how often the store is polled for due deliveries; a
	// finished send polls at once too.
	Every time.Duration
	// Concurrency bounds the sends in flight; PerEndpoint those to one
	// endpoint.
	Concurrency int
	PerEndpoint int
	// Lease is how long a claim lasts: longer than a send can take.
	Lease time.Duration
	// KeepFor is how long finished deliveries (and their attempts) stay
	// listed; zero keeps them for ever. Pruned once a minute.
	KeepFor time.Duration
	Now     Clock
	Log     *slog.Logger
	// Observe hears attempts and the backlog; nil means none.
	Observe DeliveryObserver

	mu       sync.Mutex
	running  int
	inFlight map[int64]int
	freed    chan struct{}
	wg       sync.WaitGroup
	prunedAt time.Time
}

// Run delivers until ctx ends, then waits for the sends in flight (each
// bounded by the sender's timeout) to be recorded.
func (d *Dispatcher) Run(ctx context.Context) {
	d.inFlight = map[int64]int{}
	d.freed = make(chan struct{}, 1)
	tick := time.NewTicker(d.Every)
	defer tick.Stop()
	defer d.wg.Wait()
	d.observeBacklog(ctx)
	for {
		d.pump(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.observeBacklog(ctx)
			d.prune(ctx)
		case <-d.freed:
		}
	}
}

// pump claims and starts due deliveries while slots are free.
func (d *Dispatcher) pump(ctx context.Context) {
	for ctx.Err() == nil {
		free, skip := d.capacity()
		if free == 0 {
			return
		}
		now := d.Now()
		due, err := d.Store.DueDeliveries(ctx, now, skip, free)
		if err != nil {
			if ctx.Err() == nil {
				d.Log.Warn("list due webhook deliveries", "err", err)
			}
			return
		}
		started := 0
		for _, dd := range due {
			if !d.reserve(dd.EndpointID) {
				continue
			}
			c, err := d.Store.ClaimDelivery(ctx, dd, now, now.Add(d.Lease))
			if err != nil {
				d.release(dd.EndpointID)
				if errors.Is(err, ErrLostRace) {
					continue // another replica took it
				}
				if ctx.Err() == nil {
					d.Log.Warn("claim webhook delivery", "delivery_id", dd.ID, "err", err)
				}
				return
			}
			started++
			d.wg.Go(func() {
				defer d.release(dd.EndpointID)
				d.deliver(context.WithoutCancel(ctx), c)
			})
		}
		if started == 0 || len(due) < free {
			return
		}
	}
}

func (d *Dispatcher) capacity() (free int, skip []int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ep, n := range d.inFlight {
		if n >= d.PerEndpoint {
			skip = append(skip, ep)
		}
	}
	return d.Concurrency - d.running, skip
}

func (d *Dispatcher) reserve(endpoint int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running >= d.Concurrency || d.inFlight[endpoint] >= d.PerEndpoint {
		return false
	}
	d.running++
	d.inFlight[endpoint]++
	return true
}

func (d *Dispatcher) release(endpoint int64) {
	d.mu.Lock()
	d.running--
	if d.inFlight[endpoint]--; d.inFlight[endpoint] <= 0 {
		delete(d.inFlight, endpoint)
	}
	d.mu.Unlock()
	select {
	case d.freed <- struct{}{}:
	default:
	}
}

// envelope is the body of an event's request (Standard Webhooks' shape).
type envelope struct {
	Type      EventType       `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// maxAttemptError bounds the error text kept of an attempt.
const maxAttemptError = 500

// deliver makes one attempt of a claimed delivery and records it.
func (d *Dispatcher) deliver(ctx context.Context, c *ClaimedDelivery) {
	log := d.Log.With("delivery_id", c.ID, "endpoint_id", c.EndpointID, "task_id", c.TaskID, "event", c.Event, "attempt", c.Attempts)
	var code int
	var sendErr error
	start := time.Now()
	body, err := d.body(c)
	if err != nil {
		sendErr = err
	} else {
		code, sendErr = d.Sender.Send(ctx, WebhookRequest{URL: c.URL, Secret: c.Secret, MessageID: c.MessageID, Body: body})
	}
	took := time.Since(start)
	now := d.Now()
	rec := AttemptRecord{DeliveryID: c.ID, DeliveryAttempt: DeliveryAttempt{
		Attempt: c.Attempts, At: now, StatusCode: code, Duration: took,
	}}
	switch {
	case sendErr == nil && code >= 200 && code < 300:
		rec.Status = DeliveryDelivered
	default:
		if sendErr != nil {
			rec.Error = truncateText(sendErr.Error(), maxAttemptError)
		} else {
			rec.Error = fmt.Sprintf("the endpoint answered HTTP %d", code)
		}
		rec.Status, rec.NextAttemptAt = d.next(c, now)
	}
	outcome := DeliveryOutcomeDelivered
	switch {
	case rec.Status == DeliveryFailed:
		outcome = DeliveryOutcomeFailed
		log.Warn("webhook delivery failed for good", "status_code", code, "err", rec.Error)
	case rec.Status == DeliveryPending:
		outcome = DeliveryOutcomeRetry
		log.Info("webhook attempt failed; will retry", "status_code", code, "err", rec.Error, "next_attempt_at", rec.NextAttemptAt)
	default:
		log.Debug("webhook delivered", "status_code", code, "duration", took)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := d.Store.RecordAttempt(rctx, rec); err != nil {
		// The lease lapses and the delivery is sent again: at least once.
		log.Warn("record webhook attempt", "err", err)
		return
	}
	if d.Observe != nil {
		d.Observe.WebhookAttempt(outcome)
	}
}

func (d *Dispatcher) body(c *ClaimedDelivery) ([]byte, error) {
	if c.Task == nil {
		return nil, errors.New("the event holds no task")
	}
	data, err := d.Payload(c.Task)
	if err != nil {
		return nil, fmt.Errorf("render the task: %w", err)
	}
	return json.Marshal(envelope{Type: c.Event, Timestamp: c.EventAt.UTC(), Data: data})
}

// next decides when a failed attempt is tried again: Backoff·2^(n-1),
// ±20%, capped, until RetryFor after the delivery was made; the last
// attempt is at that deadline, after which the delivery has failed.
func (d *Dispatcher) next(c *ClaimedDelivery, now time.Time) (DeliveryStatus, *time.Time) {
	deadline := c.CreatedAt.Add(d.RetryFor)
	if !now.Before(deadline) {
		return DeliveryFailed, nil
	}
	p := RetryPolicy{MaxAttempts: math.MaxInt, Backoff: d.Backoff, MaxBackoff: d.MaxBackoff}
	at := p.NextAttempt(c.Attempts, false, now)
	if at.After(deadline) {
		at = &deadline
	}
	return DeliveryPending, at
}

// pruneBatch bounds the deliveries one prune deletes.
const pruneBatch = 1000

// prune deletes finished deliveries older than KeepFor, at most once a
// minute.
func (d *Dispatcher) prune(ctx context.Context) {
	now := d.Now()
	if d.KeepFor <= 0 || now.Sub(d.prunedAt) < time.Minute {
		return
	}
	d.prunedAt = now
	n, err := d.Store.PruneDeliveries(ctx, now.Add(-d.KeepFor), pruneBatch)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Warn("prune webhook deliveries", "err", err)
		}
		return
	}
	if n > 0 {
		d.Log.Info("pruned webhook deliveries", "deleted", n)
	}
}

func (d *Dispatcher) observeBacklog(ctx context.Context) {
	if d.Observe == nil {
		return
	}
	oldest, err := d.Store.OldestUndelivered(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Warn("read webhook backlog", "err", err)
		}
		return
	}
	age := time.Duration(0)
	if !oldest.IsZero() {
		age = max(0, d.Now().Sub(oldest))
	}
	d.Observe.WebhookBacklog(age)
}
