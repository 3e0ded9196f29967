-- Access control: every task belongs to a tenant and an owner; API keys
-- (only their SHA-256) and per-tenant limit overrides. Tasks made before
-- this belong to tenant "default", the embedded mode's first tenant.
-- +goose Up
ALTER TABLE tasks
    ADD COLUMN tenant VARCHAR(64) NOT NULL DEFAULT 'default' AFTER id,
    ADD COLUMN owner VARCHAR(128) NOT NULL DEFAULT '' AFTER tenant,
    ADD COLUMN file_removed_at DATETIME(6) NULL AFTER file_sheets,
    DROP INDEX uq_tasks_idempotency_key,
    ADD UNIQUE KEY uq_tasks_tenant_idempotency_key (tenant, idempotency_key),
    -- listing within a tenant: newest first, by status, by owner
    ADD KEY idx_tasks_tenant_id (tenant, id),
    ADD KEY idx_tasks_tenant_status_id (tenant, status, id),
    ADD KEY idx_tasks_tenant_owner_id (tenant, owner, id),
    -- retention's scans
    ADD KEY idx_tasks_status_finished (status, finished_at),
    ADD KEY idx_tasks_created (created_at),
    ADD KEY idx_tasks_file_name (file_name);

CREATE TABLE api_keys (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    tenant       VARCHAR(64)  NOT NULL,
    name         VARCHAR(100) NOT NULL,
    scopes       VARCHAR(255) NOT NULL,
    hash         CHAR(64)     NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    revoked_at   DATETIME(6)  NULL,
    UNIQUE KEY uq_api_keys_hash (hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE tenants (
    name               VARCHAR(64) NOT NULL PRIMARY KEY,
    max_active         BIGINT      NULL,
    creates_per_minute BIGINT      NULL,
    max_rows           BIGINT      NULL,
    max_file_bytes     BIGINT      NULL,
    updated_at         DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE tenants;
DROP TABLE api_keys;
ALTER TABLE tasks
    DROP INDEX uq_tasks_tenant_idempotency_key,
    DROP INDEX idx_tasks_tenant_id,
    DROP INDEX idx_tasks_tenant_status_id,
    DROP INDEX idx_tasks_tenant_owner_id,
    DROP INDEX idx_tasks_status_finished,
    DROP INDEX idx_tasks_created,
    DROP INDEX idx_tasks_file_name,
    ADD UNIQUE KEY uq_tasks_idempotency_key (idempotency_key),
    DROP COLUMN file_removed_at,
    DROP COLUMN owner,
    DROP COLUMN tenant;
