-- +goose Up
CREATE TABLE tasks (
    id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name             VARCHAR(400) NOT NULL,
    type             VARCHAR(64)  NOT NULL,
    format           VARCHAR(8)   NOT NULL,
    params           MEDIUMTEXT   NOT NULL,
    column_defs      MEDIUMTEXT   NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    attempts         INT          NOT NULL DEFAULT 0,
    error            TEXT         NOT NULL,
    permanent        BOOLEAN      NOT NULL DEFAULT FALSE,
    rows_written     BIGINT       NOT NULL DEFAULT 0,
    rows_total       BIGINT       NOT NULL DEFAULT -1,
    file_name        VARCHAR(255) NULL,
    file_size        BIGINT       NOT NULL DEFAULT 0,
    file_rows        BIGINT       NOT NULL DEFAULT 0,
    file_sheets      INT          NOT NULL DEFAULT 0,
    worker_id        VARCHAR(128) NOT NULL DEFAULT '',
    cancel_requested BOOLEAN      NOT NULL DEFAULT FALSE,
    lease_until      DATETIME(6)  NULL,
    next_attempt_at  DATETIME(6)  NULL,
    intent_sent_at   DATETIME(6)  NULL,
    idempotency_key  VARCHAR(255) NULL,
    request_hash     CHAR(64)     NOT NULL DEFAULT '',
    created_at       DATETIME(6)  NOT NULL,
    started_at       DATETIME(6)  NULL,
    finished_at      DATETIME(6)  NULL,
    updated_at       DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_tasks_idempotency_key (idempotency_key),
    -- listing: newest first, optionally by status and/or type
    KEY idx_tasks_status_id (status, id),
    KEY idx_tasks_type_id (type, id),
    -- the scheduler's scans
    KEY idx_tasks_status_next_attempt (status, next_attempt_at),
    KEY idx_tasks_status_lease (status, lease_until),
    KEY idx_tasks_status_updated (status, updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE tasks;
