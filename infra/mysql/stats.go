package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/downloadcenter/dc/domain"
)

// Stats counts tasks per status and finds when the longest-waiting task
// started waiting, in one grouped query (the status index serves it).
func (s *Store) Stats(ctx context.Context) (domain.TaskStats, error) {
	rows, err := s.db.WithContext(ctx).Raw("SELECT status, COUNT(*), MIN(updated_at) FROM tasks GROUP BY status").Rows()
	if err != nil {
		return domain.TaskStats{}, fmt.Errorf("count tasks by status: %w", err)
	}
	defer rows.Close()
	st := domain.TaskStats{ByStatus: make(map[domain.Status]int64, len(domain.Statuses))}
	for _, k := range domain.Statuses {
		st.ByStatus[k] = 0
	}
	for rows.Next() {
		var status string
		var n int64
		var oldest any
		if err := rows.Scan(&status, &n, &oldest); err != nil {
			return domain.TaskStats{}, fmt.Errorf("count tasks by status: %w", err)
		}
		st.ByStatus[domain.Status(status)] = n
		if domain.Status(status) == domain.StatusNotExecuted {
			st.OldestWaiting = anyTime(oldest)
		}
	}
	if err := rows.Err(); err != nil {
		return domain.TaskStats{}, fmt.Errorf("count tasks by status: %w", err)
	}
	return st, nil
}

// anyTime reads an aggregate's time: MySQL's driver gives time.Time (with
// parseTime), SQLite's gives the stored text.
func anyTime(v any) time.Time {
	switch v := v.(type) {
	case time.Time:
		return v.UTC()
	case []byte:
		return parseStoredTime(string(v))
	case string:
		return parseStoredTime(v)
	}
	return time.Time{}
}

func parseStoredTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
