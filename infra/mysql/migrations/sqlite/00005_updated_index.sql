-- +goose Up
-- The change feed of the live page (every dc-api polls the tasks changed
-- since its last look, about once a second) reads this index instead of
-- scanning the table.
CREATE INDEX idx_tasks_updated ON tasks (updated_at, id);

-- +goose Down
DROP INDEX idx_tasks_updated;
