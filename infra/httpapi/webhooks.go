package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/stdwebhooks"
)

// webhookView is an endpoint as its tenant sees it. Secret is shown only
// by the create and rotate-secret answers.
type webhookView struct {
	ID          int64              `json:"id"`
	URL         string             `json:"url"`
	Events      []domain.EventType `json:"events"`
	Description string             `json:"description"`
	Secret      string             `json:"secret,omitempty"`
	CreatedAt   time.Time          `json:"created_at"`
	UpdatedAt   time.Time          `json:"updated_at"`
	Links       map[string]string  `json:"links"`
}

type deliveryView struct {
	ID            int64                 `json:"id"`
	Event         domain.EventType      `json:"event"`
	MessageID     string                `json:"message_id"`
	TaskID        int64                 `json:"task_id"`
	Status        domain.DeliveryStatus `json:"status"`
	Attempts      int                   `json:"attempts"`
	NextAttemptAt *time.Time            `json:"next_attempt_at"`
	DeliveredAt   *time.Time            `json:"delivered_at"`
	CreatedAt     time.Time             `json:"created_at"`
	UpdatedAt     time.Time             `json:"updated_at"`
	// RecentAttempts are the last attempts, newest first.
	RecentAttempts []attemptView `json:"recent_attempts"`
}

type attemptView struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	// StatusCode is null when no response came.
	StatusCode *int    `json:"status_code"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

func webhookPath(id int64) string { return "/api/v1/webhooks/" + strconv.FormatInt(id, 10) }

func viewWebhook(e *domain.WebhookEndpoint, withSecret bool) webhookView {
	v := webhookView{ID: e.ID, URL: e.URL, Events: e.Events, Description: e.Description, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt,
		Links: map[string]string{"self": webhookPath(e.ID), "deliveries": webhookPath(e.ID) + "/deliveries"}}
	if withSecret {
		v.Secret = stdwebhooks.FormatSecret(e.Secret)
	}
	return v
}

func viewDelivery(d *domain.Delivery) deliveryView {
	v := deliveryView{ID: d.ID, Event: d.Event, MessageID: d.MessageID, TaskID: d.TaskID, Status: d.Status, Attempts: d.Attempts,
		DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, RecentAttempts: []attemptView{}}
	if d.Status == domain.DeliveryPending {
		v.NextAttemptAt = d.NextAttemptAt
	}
	for _, a := range d.Recent {
		av := attemptView{Attempt: a.Attempt, At: a.At, DurationMS: float64(a.Duration.Microseconds()) / 1000, Error: a.Error}
		if a.StatusCode != 0 {
			code := a.StatusCode
			av.StatusCode = &code
		}
		v.RecentAttempts = append(v.RecentAttempts, av)
	}
	return v
}

// webhookBody is the create request of an endpoint.
type webhookBody struct {
	URL         string             `json:"url"`
	Events      []domain.EventType `json:"events"`
	Description string             `json:"description"`
}

var webhookRule = &keyRule{keys: map[string]bool{"url": true, "events": true, "description": true}}

// webhooksOn answers 404 when the server has no webhooks.
func (s *Server) webhooksOn(c *gin.Context) bool {
	if s.webhooks == nil {
		writeProblem(c, http.StatusNotFound, "webhooks are not enabled on this server", nil)
		return false
	}
	return true
}

// pathID parses an id path segment. Only the canonical form of a positive
// integer names something: "+1" and "01" are not 1 (404).
func pathID(c *gin.Context, param, what string) (int64, bool) {
	raw := c.Param(param)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		writeProblem(c, http.StatusNotFound, fmt.Sprintf("no %s %q", what, raw), nil)
		return 0, false
	}
	return id, true
}

func (s *Server) createWebhook(c *gin.Context) {
	if !s.webhooksOn(c) {
		return
	}
	var body webhookBody
	if !s.readJSON(c, &body, webhookRule) {
		return
	}
	e, err := s.webhooks.Create(c.Request.Context(), actor(c), domain.EndpointRequest{URL: body.URL, Events: body.Events, Description: body.Description})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", webhookPath(e.ID))
	c.JSON(http.StatusCreated, viewWebhook(e, true))
}

func (s *Server) listWebhooks(c *gin.Context) {
	if !s.webhooksOn(c) {
		return
	}
	es, err := s.webhooks.List(c.Request.Context(), actor(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]webhookView, len(es))
	for i, e := range es {
		items[i] = viewWebhook(e, false)
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *Server) getWebhook(c *gin.Context) {
	id, ok := pathID(c, "id", "webhook endpoint")
	if !ok || !s.webhooksOn(c) {
		return
	}
	e, err := s.webhooks.Get(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWebhook(e, false))
}

func (s *Server) deleteWebhook(c *gin.Context) {
	id, ok := pathID(c, "id", "webhook endpoint")
	if !ok || !s.webhooksOn(c) {
		return
	}
	if err := s.webhooks.Delete(c.Request.Context(), actor(c), id); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) rotateWebhookSecret(c *gin.Context) {
	id, ok := pathID(c, "id", "webhook endpoint")
	if !ok || !s.webhooksOn(c) {
		return
	}
	e, err := s.webhooks.RotateSecret(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewWebhook(e, true))
}

func (s *Server) webhookDeliveries(c *gin.Context) {
	id, ok := pathID(c, "id", "webhook endpoint")
	if !ok || !s.webhooksOn(c) {
		return
	}
	limit := 20
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			n = 0 // refused below, with the range
		}
		limit = n
	}
	ds, err := s.webhooks.Deliveries(c.Request.Context(), actor(c), id, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	items := make([]deliveryView, len(ds))
	for i, d := range ds {
		items[i] = viewDelivery(d)
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *Server) redeliver(c *gin.Context) {
	id, ok := pathID(c, "id", "webhook endpoint")
	if !ok {
		return
	}
	delivery, ok := pathID(c, "delivery", "delivery")
	if !ok || !s.webhooksOn(c) {
		return
	}
	d, err := s.webhooks.Redeliver(c.Request.Context(), actor(c), id, delivery)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, viewDelivery(d))
}
