package mysql

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/downloadcenter/dc/domain"
)

// endpointRow is the webhook_endpoints table's row.
type endpointRow struct {
	ID          int64 `gorm:"primaryKey"`
	Tenant      string
	URL         string `gorm:"column:url"`
	Events      string
	Description string
	// Secret is the key, base64.
	Secret    string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt time.Time `gorm:"autoUpdateTime:false"`
}

func (endpointRow) TableName() string { return "webhook_endpoints" }

// eventRow is the webhook_events table's row: the outbox.
type eventRow struct {
	ID     int64  `gorm:"primaryKey"`
	UID    string `gorm:"column:uid"`
	Tenant string
	Type   string
	TaskID int64
	// Task is the taskRow the transition left, as JSON.
	Task      string
	CreatedAt time.Time `gorm:"autoCreateTime:false"`
}

func (eventRow) TableName() string { return "webhook_events" }

// deliveryRow is the webhook_deliveries table's row.
type deliveryRow struct {
	ID            int64 `gorm:"primaryKey"`
	EventID       int64
	EndpointID    int64
	Tenant        string
	Status        string
	Attempts      int
	NextAttemptAt *time.Time
	DeliveredAt   *time.Time
	CreatedAt     time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt     time.Time `gorm:"autoUpdateTime:false"`
}

func (deliveryRow) TableName() string { return "webhook_deliveries" }

// attemptRow is the webhook_attempts table's row.
type attemptRow struct {
	ID          int64 `gorm:"primaryKey"`
	DeliveryID  int64
	Attempt     int
	AttemptedAt time.Time
	StatusCode  int
	DurationUs  int64 `gorm:"column:duration_us"`
	Error       string
}

func (attemptRow) TableName() string { return "webhook_attempts" }

func endpointFromRow(r *endpointRow) (*domain.WebhookEndpoint, error) {
	key, err := base64.StdEncoding.DecodeString(r.Secret)
	if err != nil {
		return nil, fmt.Errorf("decode secret of webhook endpoint %d: %w", r.ID, err)
	}
	e := &domain.WebhookEndpoint{
		ID: r.ID, Tenant: r.Tenant, URL: r.URL, Description: r.Description, Secret: key,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	for _, ev := range strings.Split(r.Events, ",") {
		if ev != "" {
			e.Events = append(e.Events, domain.EventType(ev))
		}
	}
	return e, nil
}

// writeOutbox records, inside the transaction tx that just changed task
// id, the event the change caused, if the task is now done: one event row
// and a delivery to each of the tenant's endpoints that wants it. With no
// such endpoint nothing is written.
func writeOutbox(tx *gorm.DB, id int64, now time.Time) error {
	var r taskRow
	if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
		return fmt.Errorf("read task %d for its event: %w", id, err)
	}
	t, err := fromRow(&r)
	if err != nil {
		return err
	}
	ev, ok := domain.TaskEventOf(t)
	if !ok {
		return nil
	}
	var eps []endpointRow
	if err := tx.Where("tenant = ?", t.Tenant).Order("id").Find(&eps).Error; err != nil {
		return fmt.Errorf("read webhook endpoints: %w", err)
	}
	var targets []int64
	for i := range eps {
		if strings.Contains(","+eps[i].Events+",", ","+string(ev)+",") {
			targets = append(targets, eps[i].ID)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	snapshot, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("encode task %d for its event: %w", id, err)
	}
	uid, err := newMessageID()
	if err != nil {
		return err
	}
	at := now.UTC()
	e := &eventRow{UID: uid, Tenant: t.Tenant, Type: string(ev), TaskID: id, Task: string(snapshot), CreatedAt: at}
	if err := tx.Create(e).Error; err != nil {
		return fmt.Errorf("insert webhook event: %w", err)
	}
	ds := make([]deliveryRow, len(targets))
	for i, ep := range targets {
		ds[i] = deliveryRow{EventID: e.ID, EndpointID: ep, Tenant: t.Tenant, Status: string(domain.DeliveryPending),
			NextAttemptAt: &at, CreatedAt: at, UpdatedAt: at}
	}
	if err := tx.Create(&ds).Error; err != nil {
		return fmt.Errorf("insert webhook deliveries: %w", err)
	}
	return nil
}

// newMessageID makes an event's webhook-id: random, so ids never repeat
// across databases (a receiver may keep them to drop repeats).
func newMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make webhook message id: %w", err)
	}
	return "msg_" + hex.EncodeToString(b[:]), nil
}

// CreateEndpoint stores a webhook endpoint.
func (s *Store) CreateEndpoint(ctx context.Context, e *domain.WebhookEndpoint) error {
	evs := make([]string, len(e.Events))
	for i, ev := range e.Events {
		evs[i] = string(ev)
	}
	r := &endpointRow{Tenant: e.Tenant, URL: e.URL, Events: strings.Join(evs, ","), Description: e.Description,
		Secret: base64.StdEncoding.EncodeToString(e.Secret), CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()}
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("insert webhook endpoint: %w", err)
	}
	e.ID = r.ID
	return nil
}

// Endpoints lists a tenant's endpoints, oldest first.
func (s *Store) Endpoints(ctx context.Context, tenant string) ([]*domain.WebhookEndpoint, error) {
	var rows []endpointRow
	if err := s.db.WithContext(ctx).Where("tenant = ?", tenant).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("select webhook endpoints: %w", err)
	}
	out := make([]*domain.WebhookEndpoint, 0, len(rows))
	for i := range rows {
		e, err := endpointFromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Endpoint returns one endpoint of a tenant.
func (s *Store) Endpoint(ctx context.Context, tenant string, id int64) (*domain.WebhookEndpoint, error) {
	var r endpointRow
	err := s.db.WithContext(ctx).Where("tenant = ? AND id = ?", tenant, id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrWebhookNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("select webhook endpoint: %w", err)
	}
	return endpointFromRow(&r)
}

// DeleteEndpoint removes an endpoint with its deliveries and their attempts.
func (s *Store) DeleteEndpoint(ctx context.Context, tenant string, id int64) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Where("tenant = ? AND id = ?", tenant, id).Delete(&endpointRow{})
		if res.Error != nil {
			return fmt.Errorf("delete webhook endpoint: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return domain.ErrWebhookNotFound
		}
		sub := tx.Model(&deliveryRow{}).Select("id").Where("endpoint_id = ?", id)
		if err := tx.Where("delivery_id IN (?)", sub).Delete(&attemptRow{}).Error; err != nil {
			return fmt.Errorf("delete webhook attempts: %w", err)
		}
		if err := tx.Where("endpoint_id = ?", id).Delete(&deliveryRow{}).Error; err != nil {
			return fmt.Errorf("delete webhook deliveries: %w", err)
		}
		return nil
	})
}

// SetEndpointSecret replaces an endpoint's secret.
func (s *Store) SetEndpointSecret(ctx context.Context, tenant string, id int64, secret []byte, now time.Time) error {
	res := s.db.WithContext(ctx).Model(&endpointRow{}).Where("tenant = ? AND id = ?", tenant, id).
		Updates(map[string]any{"secret": base64.StdEncoding.EncodeToString(secret), "updated_at": now.UTC()})
	if res.Error != nil {
		return fmt.Errorf("rotate webhook secret: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return domain.ErrWebhookNotFound
	}
	return nil
}

// recentAttempts is how many attempts a deliveries listing shows of each.
const recentAttempts = 10

// Deliveries lists an endpoint's deliveries newest first, each with its
// last attempts.
func (s *Store) Deliveries(ctx context.Context, tenant string, endpoint int64, limit int) ([]*domain.Delivery, error) {
	var rows []deliveryRow
	err := s.db.WithContext(ctx).Where("tenant = ? AND endpoint_id = ?", tenant, endpoint).Order("id DESC").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("select webhook deliveries: %w", err)
	}
	if len(rows) == 0 {
		return []*domain.Delivery{}, nil
	}
	ids, eventIDs := make([]int64, len(rows)), make([]int64, len(rows))
	for i := range rows {
		ids[i], eventIDs[i] = rows[i].ID, rows[i].EventID
	}
	events, err := s.events(ctx, eventIDs)
	if err != nil {
		return nil, err
	}
	var atts []attemptRow
	if err := s.db.WithContext(ctx).Where("delivery_id IN ?", ids).Order("id DESC").Find(&atts).Error; err != nil {
		return nil, fmt.Errorf("select webhook attempts: %w", err)
	}
	byDelivery := map[int64][]domain.DeliveryAttempt{}
	for _, a := range atts {
		if len(byDelivery[a.DeliveryID]) < recentAttempts {
			byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], domain.DeliveryAttempt{
				Attempt: a.Attempt, At: a.AttemptedAt.UTC(), StatusCode: a.StatusCode,
				Duration: time.Duration(a.DurationUs) * time.Microsecond, Error: a.Error,
			})
		}
	}
	out := make([]*domain.Delivery, len(rows))
	for i := range rows {
		d := deliveryFromRow(&rows[i], events[rows[i].EventID])
		d.Recent = byDelivery[d.ID]
		out[i] = d
	}
	return out, nil
}

func (s *Store) events(ctx context.Context, ids []int64) (map[int64]*eventRow, error) {
	var evs []eventRow
	if err := s.db.WithContext(ctx).Select("id", "uid", "tenant", "type", "task_id", "created_at").Where("id IN ?", ids).Find(&evs).Error; err != nil {
		return nil, fmt.Errorf("select webhook events: %w", err)
	}
	out := make(map[int64]*eventRow, len(evs))
	for i := range evs {
		out[evs[i].ID] = &evs[i]
	}
	return out, nil
}

func deliveryFromRow(r *deliveryRow, ev *eventRow) *domain.Delivery {
	d := &domain.Delivery{
		ID: r.ID, EndpointID: r.EndpointID, Tenant: r.Tenant, EventID: r.EventID, Status: domain.DeliveryStatus(r.Status),
		Attempts: r.Attempts, NextAttemptAt: utc(r.NextAttemptAt), DeliveredAt: utc(r.DeliveredAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
	if ev != nil {
		d.MessageID, d.Event, d.TaskID = ev.UID, domain.EventType(ev.Type), ev.TaskID
	}
	return d
}

// Redeliver queues a delivery's event to its endpoint again as a new
// delivery, due now.
func (s *Store) Redeliver(ctx context.Context, tenant string, endpoint, delivery int64, now time.Time) (*domain.Delivery, error) {
	var old deliveryRow
	err := s.db.WithContext(ctx).Where("tenant = ? AND endpoint_id = ? AND id = ?", tenant, endpoint, delivery).Take(&old).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.Errorf(domain.KindNotFound, "webhook endpoint %d has no delivery %d", endpoint, delivery)
	}
	if err != nil {
		return nil, fmt.Errorf("select webhook delivery: %w", err)
	}
	at := now.UTC()
	r := &deliveryRow{EventID: old.EventID, EndpointID: endpoint, Tenant: tenant, Status: string(domain.DeliveryPending),
		NextAttemptAt: &at, CreatedAt: at, UpdatedAt: at}
	if err := s.db.WithContext(ctx).Create(r).Error; err != nil {
		return nil, fmt.Errorf("insert webhook delivery: %w", err)
	}
	evs, err := s.events(ctx, []int64{r.EventID})
	if err != nil {
		return nil, err
	}
	return deliveryFromRow(r, evs[r.EventID]), nil
}

// DueDeliveries lists pending deliveries due at now, from
// idx_webhook_deliveries_due.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, skip []int64, limit int) ([]domain.DueDelivery, error) {
	db := s.db.WithContext(ctx).Model(&deliveryRow{}).Select("id", "endpoint_id", "attempts").
		Where("status = ? AND next_attempt_at <= ?", string(domain.DeliveryPending), now.UTC())
	if len(skip) > 0 {
		db = db.Where("endpoint_id NOT IN ?", skip)
	}
	var rows []deliveryRow
	if err := db.Order("next_attempt_at").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("select due webhook deliveries: %w", err)
	}
	out := make([]domain.DueDelivery, len(rows))
	for i, r := range rows {
		out[i] = domain.DueDelivery{ID: r.ID, EndpointID: r.EndpointID, Attempts: r.Attempts}
	}
	return out, nil
}

// ClaimDelivery takes a due delivery for one attempt with one conditional
// UPDATE, then reads what sending it needs.
func (s *Store) ClaimDelivery(ctx context.Context, d domain.DueDelivery, now, leaseUntil time.Time) (*domain.ClaimedDelivery, error) {
	res := s.db.WithContext(ctx).Model(&deliveryRow{}).
		Where("id = ? AND status = ? AND attempts = ? AND next_attempt_at <= ?", d.ID, string(domain.DeliveryPending), d.Attempts, now.UTC()).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "next_attempt_at": leaseUntil.UTC(), "updated_at": now.UTC()})
	if res.Error != nil {
		return nil, fmt.Errorf("claim webhook delivery %d: %w", d.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, domain.ErrLostRace
	}
	var r deliveryRow
	if err := s.db.WithContext(ctx).Where("id = ?", d.ID).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("read webhook delivery %d: %w", d.ID, err)
	}
	var ev eventRow
	if err := s.db.WithContext(ctx).Where("id = ?", r.EventID).Take(&ev).Error; err != nil {
		return nil, fmt.Errorf("read webhook event %d: %w", r.EventID, err)
	}
	var ep endpointRow
	err := s.db.WithContext(ctx).Where("id = ?", r.EndpointID).Take(&ep).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domain.ErrLostRace // deleted meanwhile, with its deliveries
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook endpoint %d: %w", r.EndpointID, err)
	}
	endpoint, err := endpointFromRow(&ep)
	if err != nil {
		return nil, err
	}
	var tr taskRow
	if err := json.Unmarshal([]byte(ev.Task), &tr); err != nil {
		return nil, fmt.Errorf("decode the task of webhook event %d: %w", ev.ID, err)
	}
	t, err := fromRow(&tr)
	if err != nil {
		return nil, err
	}
	return &domain.ClaimedDelivery{
		Delivery: *deliveryFromRow(&r, &ev), URL: endpoint.URL, Secret: endpoint.Secret, Task: t, EventAt: ev.CreatedAt.UTC(),
	}, nil
}

// maxAttemptErrorLen bounds a stored attempt's error (VARCHAR(1000)).
const maxAttemptErrorLen = 1000

// RecordAttempt stores an attempt and moves its delivery on, in one
// transaction, while the claim holds.
func (s *Store) RecordAttempt(ctx context.Context, r domain.AttemptRecord) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		at := r.At.UTC()
		set := map[string]any{"status": string(r.Status), "next_attempt_at": utc(r.NextAttemptAt), "updated_at": at}
		if r.Status == domain.DeliveryDelivered {
			set["delivered_at"] = at
		}
		res := tx.Model(&deliveryRow{}).Where("id = ? AND status = ? AND attempts = ?", r.DeliveryID, string(domain.DeliveryPending), r.Attempt).Updates(set)
		if res.Error != nil {
			return fmt.Errorf("record webhook attempt: %w", res.Error)
		}
		if res.RowsAffected == 0 {
			return domain.ErrLostRace
		}
		msg := r.Error
		if len(msg) > maxAttemptErrorLen {
			msg = truncateAt(msg, maxAttemptErrorLen-len("…"))
		}
		a := &attemptRow{DeliveryID: r.DeliveryID, Attempt: r.Attempt, AttemptedAt: at, StatusCode: r.StatusCode,
			DurationUs: r.Duration.Microseconds(), Error: msg}
		if err := tx.Create(a).Error; err != nil {
			return fmt.Errorf("insert webhook attempt: %w", err)
		}
		return nil
	})
}

// OldestUndelivered is when the oldest pending delivery was made.
func (s *Store) OldestUndelivered(ctx context.Context) (time.Time, error) {
	var rows []deliveryRow
	err := s.db.WithContext(ctx).Select("id", "created_at").Where("status = ?", string(domain.DeliveryPending)).
		Order("created_at").Limit(1).Find(&rows).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("select oldest webhook delivery: %w", err)
	}
	if len(rows) == 0 {
		return time.Time{}, nil
	}
	return rows[0].CreatedAt.UTC(), nil
}

// PruneDeliveries deletes finished deliveries made before before, their
// attempts, and the events they leave without any delivery.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int, error) {
	var rows []deliveryRow
	err := s.db.WithContext(ctx).Select("id", "event_id").
		Where("status IN ? AND created_at < ?", []string{string(domain.DeliveryDelivered), string(domain.DeliveryFailed)}, before.UTC()).
		Order("created_at").Limit(limit).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	ids, events := make([]int64, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		ids[i], events[i] = r.ID, r.EventID
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("delivery_id IN ?", ids).Delete(&attemptRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("id IN ?", ids).Delete(&deliveryRow{}).Error; err != nil {
			return err
		}
		left := tx.Model(&deliveryRow{}).Select("1").Where("webhook_deliveries.event_id = webhook_events.id")
		return tx.Where("id IN ? AND NOT EXISTS (?)", events, left).Delete(&eventRow{}).Error
	})
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return len(ids), nil
}
