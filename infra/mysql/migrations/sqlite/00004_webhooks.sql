-- Completion webhooks: see the MySQL migration of the same number.
-- +goose Up
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant      TEXT     NOT NULL,
    url         TEXT     NOT NULL,
    events      TEXT     NOT NULL,
    description TEXT     NOT NULL DEFAULT '',
    secret      TEXT     NOT NULL,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
CREATE INDEX idx_webhook_endpoints_tenant ON webhook_endpoints (tenant, id);

CREATE TABLE webhook_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    uid        TEXT     NOT NULL,
    tenant     TEXT     NOT NULL,
    type       TEXT     NOT NULL,
    task_id    INTEGER  NOT NULL,
    task       TEXT     NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_webhook_events_uid ON webhook_events (uid);
CREATE INDEX idx_webhook_events_created ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER  NOT NULL,
    endpoint_id     INTEGER  NOT NULL,
    tenant          TEXT     NOT NULL,
    status          TEXT     NOT NULL,
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NULL,
    delivered_at    DATETIME NULL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX idx_webhook_deliveries_status_created ON webhook_deliveries (status, created_at);
CREATE INDEX idx_webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX idx_webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER  NOT NULL,
    attempt      INTEGER  NOT NULL,
    attempted_at DATETIME NOT NULL,
    status_code  INTEGER  NOT NULL,
    duration_us  INTEGER  NOT NULL,
    error        TEXT     NOT NULL DEFAULT ''
);
CREATE INDEX idx_webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
