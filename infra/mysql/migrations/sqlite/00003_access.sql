-- Access control: see the MySQL migration of the same number.
-- +goose Up
ALTER TABLE tasks ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN file_removed_at DATETIME NULL;
DROP INDEX uq_tasks_idempotency_key;
CREATE UNIQUE INDEX uq_tasks_tenant_idempotency_key ON tasks (tenant, idempotency_key);
CREATE INDEX idx_tasks_tenant_id ON tasks (tenant, id);
CREATE INDEX idx_tasks_tenant_status_id ON tasks (tenant, status, id);
CREATE INDEX idx_tasks_tenant_owner_id ON tasks (tenant, owner, id);
CREATE INDEX idx_tasks_status_finished ON tasks (status, finished_at);
CREATE INDEX idx_tasks_created ON tasks (created_at);
CREATE INDEX idx_tasks_file_name ON tasks (file_name);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT     NOT NULL,
    name         TEXT     NOT NULL,
    scopes       TEXT     NOT NULL,
    hash         TEXT     NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME NULL,
    revoked_at   DATETIME NULL
);
CREATE UNIQUE INDEX uq_api_keys_hash ON api_keys (hash);

CREATE TABLE tenants (
    name               TEXT PRIMARY KEY,
    max_active         INTEGER NULL,
    creates_per_minute INTEGER NULL,
    max_rows           INTEGER NULL,
    max_file_bytes     INTEGER NULL,
    updated_at         DATETIME NOT NULL
);

-- +goose Down
DROP TABLE tenants;
DROP TABLE api_keys;
DROP INDEX idx_tasks_file_name;
DROP INDEX idx_tasks_created;
DROP INDEX idx_tasks_status_finished;
DROP INDEX idx_tasks_tenant_owner_id;
DROP INDEX idx_tasks_tenant_status_id;
DROP INDEX idx_tasks_tenant_id;
DROP INDEX uq_tasks_tenant_idempotency_key;
CREATE UNIQUE INDEX uq_tasks_idempotency_key ON tasks (idempotency_key);
ALTER TABLE tasks DROP COLUMN file_removed_at;
ALTER TABLE tasks DROP COLUMN owner;
ALTER TABLE tasks DROP COLUMN tenant;
