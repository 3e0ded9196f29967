package domain_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// changesEnv is a change feed over a fake store whose clock the test moves.
type changesEnv struct {
	store *fakeStore
	feed  *domain.Changes
	now   time.Time
}

func newChangesEnv() *changesEnv {
	e := &changesEnv{store: newFakeStore(), now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	e.feed = &domain.Changes{Store: e.store, Now: func() time.Time { return e.now }, Every: time.Second,
		Slack: 3 * time.Second, Batch: 2, FileTTL: time.Hour}
	return e
}

func (e *changesEnv) add(t *testing.T, tenant, owner, name string, at time.Time) *domain.Task {
	t.Helper()
	tk, err := e.store.Create(context.Background(), &domain.Task{Tenant: tenant, Owner: owner, Name: name, Type: "rows",
		Format: domain.FormatCSV, Params: json.RawMessage(`{}`), Status: domain.StatusNotExecuted, RowsTotal: -1,
		CreatedAt: at, UpdatedAt: at})
	require.NoError(t, err)
	return tk
}

// drain returns the names of the tasks waiting on s.
func drain(s *domain.Subscription) []string {
	var out []string
	for {
		select {
		case t := <-s.C:
			out = append(out, t.Name)
		default:
			return out
		}
	}
}

// TestChangesDeliverWhatEachActorSees: a session sees only its user's
// changed tasks, a key its tenant's; nothing is delivered twice; a change
// committed late (an older UpdatedAt) within the slack still arrives.
func TestChangesDeliverWhatEachActorSees(t *testing.T) {
	t.Parallel()
	e := newChangesEnv()
	ctx := context.Background()
	rw := []domain.Scope{domain.ScopeRead, domain.ScopeWrite}
	alice, err := e.feed.Subscribe(domain.Actor{Tenant: "acme", User: "alice", OwnOnly: true, Scopes: rw})
	require.NoError(t, err)
	bob, err := e.feed.Subscribe(domain.Actor{Tenant: "acme", User: "bob", OwnOnly: true, Scopes: rw})
	require.NoError(t, err)
	service, err := e.feed.Subscribe(domain.Actor{Tenant: "acme", Scopes: rw})
	require.NoError(t, err)
	other, err := e.feed.Subscribe(domain.Actor{Tenant: "globex", User: "alice", OwnOnly: true, Scopes: rw})
	require.NoError(t, err)
	_, err = e.feed.Subscribe(domain.Actor{Tenant: "acme", Scopes: []domain.Scope{domain.ScopeWrite}})
	require.Equal(t, domain.KindForbidden, domain.KindOf(err), "following needs the read scope")

	old := e.add(t, "acme", "alice", "before the feed started", e.now.Add(-time.Minute))
	require.NoError(t, e.feed.Poll(ctx))
	require.Empty(t, drain(alice), "the feed starts from now: what existed is loaded by the page itself")

	e.now = e.now.Add(time.Second)
	a1 := e.add(t, "acme", "alice", "a1", e.now)
	e.add(t, "acme", "bob", "b1", e.now)
	e.add(t, "globex", "alice", "g1", e.now)
	a2 := e.add(t, "acme", "alice", "a2", e.now.Add(time.Millisecond))
	require.NoError(t, e.feed.Poll(ctx))
	require.Equal(t, []string{"a1", "a2"}, drain(alice), "more than one batch (Batch 2) in one poll")
	require.Equal(t, []string{"b1"}, drain(bob))
	require.Equal(t, []string{"a1", "b1", "a2"}, drain(service))
	require.Equal(t, []string{"g1"}, drain(other))

	require.NoError(t, e.feed.Poll(ctx))
	require.Empty(t, drain(alice), "nothing changed: nothing delivered again")

	// a1 progresses; a transaction that committed late carries an
	// UpdatedAt before the newest change seen, but within the slack.
	e.now = e.now.Add(time.Second)
	_, err = e.store.Claim(ctx, a1.ID, "w", e.now, e.now.Add(time.Minute))
	require.NoError(t, err)
	e.add(t, "acme", "alice", "a3 committed late", e.now.Add(-1500*time.Millisecond))
	require.NoError(t, e.feed.Poll(ctx))
	require.Equal(t, []string{"a3 committed late", "a1"}, drain(alice))
	_, err = e.store.Cancel(ctx, a2.ID, e.now)
	require.NoError(t, err)
	require.NoError(t, e.feed.Poll(ctx))
	require.Equal(t, []string{"a2"}, drain(alice))

	_, err = e.store.Cancel(ctx, old.ID, e.now.Add(-time.Hour))
	require.NoError(t, err)
	require.NoError(t, e.feed.Poll(ctx))
	require.Empty(t, drain(alice), "a change older than the slack is not the feed's")

	e.feed.Unsubscribe(bob)
	drain(service)
	e.add(t, "acme", "bob", "b2", e.now.Add(time.Second))
	require.NoError(t, e.feed.Poll(ctx))
	require.Empty(t, drain(bob), "unsubscribed")
	require.Equal(t, []string{"b2"}, drain(service))
}

// TestChangesSignalLostWhenFull: a subscriber that does not read loses
// changes and is told to reload.
func TestChangesSignalLostWhenFull(t *testing.T) {
	t.Parallel()
	e := newChangesEnv()
	e.feed.Batch = 1000
	ctx := context.Background()
	s, err := e.feed.Subscribe(domain.Actor{Tenant: "acme", Scopes: domain.DefaultScopes})
	require.NoError(t, err)
	require.NoError(t, e.feed.Poll(ctx))
	for i := range 300 {
		e.add(t, "acme", "u", "t", e.now.Add(time.Duration(i+1)*time.Millisecond))
	}
	require.NoError(t, e.feed.Poll(ctx))
	require.Len(t, s.C, cap(s.C))
	select {
	case <-s.Lost:
	default:
		t.Fatal("no Lost signal after dropping changes")
	}
}

// TestSessionActorSeesOnlyItsUser: an OwnOnly actor gets, lists, cancels
// and retries its own user's tasks only; another user's task is not found.
func TestSessionActorSeesOnlyItsUser(t *testing.T) {
	t.Parallel()
	tasks := newTasksEnv().tasks
	ctx := context.Background()
	service := domain.Actor{Tenant: "acme", Scopes: domain.DefaultScopes}
	svcAlice, svcBob := service, service
	svcAlice.User, svcBob.User = "alice", "bob"
	mine, _, err := tasks.Create(ctx, svcAlice, domain.CreateRequest{Name: "mine", Type: "orders", Params: json.RawMessage(`{"rows":1}`)})
	require.NoError(t, err)
	theirs, _, err := tasks.Create(ctx, svcBob, domain.CreateRequest{Name: "theirs", Type: "orders", Params: json.RawMessage(`{"rows":1}`)})
	require.NoError(t, err)

	alice := domain.Actor{Tenant: "acme", User: "alice", OwnOnly: true, Scopes: domain.DefaultScopes}
	_, err = tasks.Get(ctx, alice, mine.ID)
	require.NoError(t, err)
	_, err = tasks.Get(ctx, alice, theirs.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = tasks.Cancel(ctx, alice, theirs.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = tasks.Retry(ctx, alice, theirs.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = tasks.FileOf(ctx, alice, theirs.ID)
	require.ErrorIs(t, err, domain.ErrNotFound)
	ts, err := tasks.List(ctx, alice, domain.ListQuery{})
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.Equal(t, mine.ID, ts[0].ID)
	ts, err = tasks.List(ctx, alice, domain.ListQuery{Owner: "bob"})
	require.NoError(t, err)
	require.Empty(t, ts, "asking for another user's list finds nothing")
	_, err = tasks.Cancel(ctx, alice, mine.ID)
	require.NoError(t, err)
	created, _, err := tasks.Create(ctx, alice, domain.CreateRequest{Name: "new", Type: "orders", Params: json.RawMessage(`{"rows":1}`)})
	require.NoError(t, err)
	require.Equal(t, "alice", created.Owner, "a session creates as its user")
}
