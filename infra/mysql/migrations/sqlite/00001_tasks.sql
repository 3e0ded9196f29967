-- +goose Up
CREATE TABLE tasks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    format           TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    column_defs      TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT    NOT NULL DEFAULT '',
    permanent        BOOLEAN NOT NULL DEFAULT FALSE,
    rows_written     INTEGER NOT NULL DEFAULT 0,
    rows_total       INTEGER NOT NULL DEFAULT -1,
    file_name        TEXT    NULL,
    file_size        INTEGER NOT NULL DEFAULT 0,
    file_rows        INTEGER NOT NULL DEFAULT 0,
    file_sheets      INTEGER NOT NULL DEFAULT 0,
    worker_id        TEXT    NOT NULL DEFAULT '',
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    lease_until      DATETIME NULL,
    next_attempt_at  DATETIME NULL,
    intent_sent_at   DATETIME NULL,
    idempotency_key  TEXT    NULL,
    request_hash     TEXT    NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    started_at       DATETIME NULL,
    finished_at      DATETIME NULL,
    updated_at       DATETIME NOT NULL
);
CREATE UNIQUE INDEX uq_tasks_idempotency_key ON tasks (idempotency_key);
CREATE INDEX idx_tasks_status_id ON tasks (status, id);
CREATE INDEX idx_tasks_type_id ON tasks (type, id);
CREATE INDEX idx_tasks_status_next_attempt ON tasks (status, next_attempt_at);
CREATE INDEX idx_tasks_status_lease ON tasks (status, lease_until);
CREATE INDEX idx_tasks_status_updated ON tasks (status, updated_at);

-- +goose Down
DROP TABLE tasks;
