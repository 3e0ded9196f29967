-- Completion webhooks: a tenant's endpoints, the outbox of task events
-- (written in the transaction of the state change that causes each), one
-- delivery per event and endpoint, and each delivery's attempts.
-- +goose Up
CREATE TABLE webhook_endpoints (
    id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant      VARCHAR(64)   NOT NULL,
    url         VARCHAR(2048) NOT NULL,
    events      VARCHAR(255)  NOT NULL,
    description VARCHAR(500)  NOT NULL DEFAULT '',
    secret      VARCHAR(128)  NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    updated_at  DATETIME(6)   NOT NULL,
    KEY idx_webhook_endpoints_tenant (tenant, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE webhook_events (
    id         BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uid        VARCHAR(64) NOT NULL,
    tenant     VARCHAR(64) NOT NULL,
    type       VARCHAR(32) NOT NULL,
    task_id    BIGINT      NOT NULL,
    -- the task as the transition left it, so every attempt sends the same facts
    task       MEDIUMTEXT  NOT NULL,
    created_at DATETIME(6) NOT NULL,
    UNIQUE KEY uq_webhook_events_uid (uid),
    KEY idx_webhook_events_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE webhook_deliveries (
    id              BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id        BIGINT      NOT NULL,
    endpoint_id     BIGINT      NOT NULL,
    tenant          VARCHAR(64) NOT NULL,
    status          VARCHAR(16) NOT NULL,
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NULL,
    delivered_at    DATETIME(6) NULL,
    created_at      DATETIME(6) NOT NULL,
    updated_at      DATETIME(6) NOT NULL,
    -- the dispatcher's poll: pending and due, oldest due first
    KEY idx_webhook_deliveries_due (status, next_attempt_at),
    -- the backlog gauge and pruning
    KEY idx_webhook_deliveries_status_created (status, created_at),
    KEY idx_webhook_deliveries_endpoint (endpoint_id, id),
    KEY idx_webhook_deliveries_event (event_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE webhook_attempts (
    id           BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    delivery_id  BIGINT        NOT NULL,
    attempt      INT           NOT NULL,
    attempted_at DATETIME(6)   NOT NULL,
    status_code  INT           NOT NULL,
    duration_us  BIGINT        NOT NULL,
    error        VARCHAR(1000) NOT NULL DEFAULT '',
    KEY idx_webhook_attempts_delivery (delivery_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
