-- +goose Up
-- The scheduler's re-send sweep: waiting tasks with no intent in flight,
-- read from the index instead of scanning every waiting row.
CREATE INDEX idx_tasks_status_sent ON tasks (status, intent_sent_at);

-- +goose Down
DROP INDEX idx_tasks_status_sent;
