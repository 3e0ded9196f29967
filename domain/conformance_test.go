package domain_test

import (
	"testing"

	"github.com/downloadcenter/dc/domain/storetest"
)

// The in-memory fake the Runner and Scheduler suites use behaves as the
// SQL store does: both run the one conformance suite (infra/mysql runs it
// on SQLite and MySQL).
func TestFakeStoreConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) storetest.Store { return newFakeStore() })
}
