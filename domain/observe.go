package domain

import (
	"context"
	"time"
)

// TaskStats is a snapshot of the task table, for the backlog gauges.
type TaskStats struct {
	// ByStatus counts tasks per status; every status is present.
	ByStatus map[Status]int64
	// OldestWaiting is when the longest-waiting NOT_EXECUTED task started
	// waiting (its last status change); zero when none waits.
	OldestWaiting time.Time
}

// StatsStore reads TaskStats in one query.
type StatsStore interface {
	Stats(ctx context.Context) (TaskStats, error)
}

// TasksObserver hears what the client-facing use cases did, for metrics.
// Its methods must be quick and must not fail.
type TasksObserver interface {
	TaskCreated(exportType string, format Format)
	IntentSendFailed()
}

// SchedulerObserver hears what the scheduler did and saw, for metrics.
type SchedulerObserver interface {
	IntentSendFailed()
	TaskRescued()
	TaskStats(TaskStats)
}

// Attempt outcomes, as a RunObserver hears them.
const (
	OutcomeSuccess   = "success"
	OutcomeFailed    = "failed"
	OutcomeCancelled = "cancelled"
	OutcomeReleased  = "released"
	// OutcomeLost is an attempt whose task another party took (a lapsed
	// lease rescued) or whose outcome could not be recorded.
	OutcomeLost = "lost"
)

// AttemptReport describes one finished attempt of a task.
type AttemptReport struct {
	Type    string
	Format  Format
	Outcome string
	// Finished is the task's final status when this attempt ended it
	// (SUCCESS, CANCELLED, or FAILED with no retry coming); empty when
	// the task goes on.
	Finished Status
	Rows     int64
	Bytes    int64
	Duration time.Duration
}

// RunObserver hears what a worker's runner does, for metrics.
type RunObserver interface {
	// RowsWritten is called after each batch written.
	RowsWritten(exportType string, n int)
	AttemptFinished(AttemptReport)
}
