package domain_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// ordersFields is the test provider's row.
var ordersFields = []domain.Field{
	{Name: "id", Header: "Order ID", Kind: domain.KindInt},
	{Name: "customer", Header: "Customer", Kind: domain.KindString},
	{Name: "amount", Header: "Amount", Kind: domain.KindDecimal},
	{Name: "note", Header: "Note", Kind: domain.KindString},
}

// usersFields has a field with no default header.
var usersFields = []domain.Field{
	{Name: "id", Header: "ID", Kind: domain.KindInt},
	{Name: "nick", Header: "", Kind: domain.KindString},
}

// validateOrders accepts an optional positive "rows" and fails outright
// (not a field error) for "explode".
func validateOrders(params map[string]any) error {
	var fe domain.FieldErrors
	if v, ok := params["rows"]; ok {
		n, isNum := v.(json.Number)
		if !isNum {
			fe.Add("params.rows", "must be a number")
		} else if i, err := n.Int64(); err != nil || i < 1 {
			fe.Add("params.rows", "must be a positive integer")
		}
	}
	if _, ok := params["explode"]; ok {
		return errors.New("provider validation backend unavailable")
	}
	return fe.Err()
}

type tasksEnv struct {
	store  *fakeStore
	sender *fakeSender
	clock  *fakeClock
	tasks  *domain.Tasks
}

func newTasksEnv() *tasksEnv {
	e := &tasksEnv{store: newFakeStore(), sender: &fakeSender{}, clock: newFakeClock()}
	reg := domain.Registry{
		"orders": &fakeProvider{fields: ordersFields, validate: validateOrders},
		"users":  &fakeProvider{fields: usersFields},
	}
	e.tasks = &domain.Tasks{Store: e.store, Sender: e.sender, Providers: reg, Now: e.clock.Now, Log: discardLog}
	return e
}

func validRequest() domain.CreateRequest {
	return domain.CreateRequest{Name: "March orders", Type: "orders", Params: json.RawMessage(`{"rows": 5}`)}
}

func defaultOrderColumns() []domain.Column {
	return []domain.Column{
		{Field: "id", Header: "Order ID"},
		{Field: "customer", Header: "Customer"},
		{Field: "amount", Header: "Amount"},
		{Field: "note", Header: "Note"},
	}
}

func TestCreateStoresWaitingTaskAndSendsIntent(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	ctx := context.Background()

	got, created, err := e.tasks.Create(ctx, acme, validRequest())
	require.NoError(t, err)
	require.True(t, created)
	require.NotZero(t, got.ID)
	require.Equal(t, "March orders", got.Name)
	require.Equal(t, "orders", got.Type)
	require.Equal(t, domain.FormatXLSX, got.Format, "default format")
	require.JSONEq(t, `{"rows":5}`, string(got.Params))
	require.Equal(t, domain.StatusNotExecuted, got.Status)
	require.Equal(t, int64(-1), got.RowsTotal)
	require.Zero(t, got.Attempts)
	require.Equal(t, defaultOrderColumns(), got.Columns)
	require.Equal(t, t0, got.CreatedAt)
	require.Equal(t, t0, got.UpdatedAt)
	require.Empty(t, got.RequestHash, "no idempotency key, no hash")
	require.NotNil(t, got.IntentSentAt)
	require.Equal(t, t0, *got.IntentSentAt)

	require.Equal(t, []domain.Intent{{TaskID: got.ID, Type: "orders"}}, e.sender.intents())
	stored := e.store.task(got.ID)
	require.Equal(t, domain.StatusNotExecuted, stored.Status)
	require.Equal(t, int64(-1), stored.RowsTotal)
	require.NotNil(t, stored.IntentSentAt, "MarkSent recorded")
	require.Equal(t, t0, *stored.IntentSentAt)
	require.Empty(t, e.store.eventLog(), "creating is not a transition")
}

func TestCreateWithFailingSenderStillReturnsTask(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	e.sender.fail(errors.New("broker down"))

	got, created, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err, "the task is safe in the store; the scheduler sends it later")
	require.True(t, created)
	require.Nil(t, got.IntentSentAt)
	require.Nil(t, e.store.task(got.ID).IntentSentAt)
	require.Empty(t, e.sender.intents())
	require.Equal(t, 1, e.sender.sendAttempts())
}

func TestCreateWhenTaskIsClaimedBeforeMarkSent(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	// A fast worker claims the task the moment its intent is out.
	e.sender.onSend = func(in domain.Intent) {
		_, err := e.store.Claim(context.Background(), in.TaskID, "w1", t0, t0.Add(6*time.Minute))
		require.NoError(t, err)
	}
	got, created, err := e.tasks.Create(context.Background(), acme, validRequest())
	require.NoError(t, err)
	require.True(t, created)
	require.Nil(t, got.IntentSentAt, "MarkSent lost the race: nothing recorded")
	require.Equal(t, domain.StatusExecuting, e.store.task(got.ID).Status)
}

func TestCreateStoreFailure(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the fake store refuses a dead context, as a driver would
	_, created, err := e.tasks.Create(ctx, acme, validRequest())
	require.Error(t, err)
	require.False(t, created)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, domain.KindInternal, domain.KindOf(err))
	require.Empty(t, e.sender.intents())
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	col := func(c domain.Column) []domain.Column { return []domain.Column{c} }
	tests := []struct {
		name   string
		edit   func(*domain.CreateRequest)
		fields []string // the fields named, in order
		reason string   // a reason must contain this
	}{
		{"name empty", func(r *domain.CreateRequest) { r.Name = "" }, []string{"name"}, "required"},
		{"name whitespace", func(r *domain.CreateRequest) { r.Name = " \t\n " }, []string{"name"}, "required"},
		{"name 101 chars", func(r *domain.CreateRequest) { r.Name = strings.Repeat("a", 101) }, []string{"name"}, "at most 100"},
		{"name 101 runes", func(r *domain.CreateRequest) { r.Name = strings.Repeat("界", 101) }, []string{"name"}, "at most 100"},
		{"name invalid utf-8", func(r *domain.CreateRequest) { r.Name = "bad \xff name" }, []string{"name"}, "UTF-8"},
		{"type missing", func(r *domain.CreateRequest) { r.Type = "" }, []string{"type"}, "required"},
		{"type unknown", func(r *domain.CreateRequest) { r.Type = "invoices" }, []string{"type"}, `unknown export type "invoices"; known types: orders, users`},
		{"format unknown", func(r *domain.CreateRequest) { r.Format = "pdf" }, []string{"format"}, "must be one of"},
		{"format wrong case", func(r *domain.CreateRequest) { r.Format = "XLSX" }, []string{"format"}, "must be one of"},
		{"idempotency key too long", func(r *domain.CreateRequest) { r.IdempotencyKey = strings.Repeat("k", 256) }, []string{"Idempotency-Key"}, "at most 255"},
		{"params array", func(r *domain.CreateRequest) { r.Params = json.RawMessage(`[1,2]`) }, []string{"params"}, "JSON object"},
		{"params string", func(r *domain.CreateRequest) { r.Params = json.RawMessage(`"x"`) }, []string{"params"}, "JSON object"},
		{"params number", func(r *domain.CreateRequest) { r.Params = json.RawMessage(`42`) }, []string{"params"}, "JSON object"},
		{"params malformed", func(r *domain.CreateRequest) { r.Params = json.RawMessage(`{"rows":`) }, []string{"params"}, "JSON object"},
		{"params rejected by provider", func(r *domain.CreateRequest) { r.Params = json.RawMessage(`{"rows": -1}`) }, []string{"params.rows"}, "positive"},
		{"provider errors merged with ours", func(r *domain.CreateRequest) {
			r.Name = ""
			r.Format = "pdf"
			r.Params = json.RawMessage(`{"rows": "many"}`)
		}, []string{"name", "format", "params.rows"}, ""},
		{"column unknown field", func(r *domain.CreateRequest) { r.Columns = col(domain.Column{Field: "price"}) }, []string{"columns[0].field"}, `unknown field "price"; known fields: id, customer, amount, note`},
		{"column empty field", func(r *domain.CreateRequest) {
			r.Columns = []domain.Column{{Field: "id"}, {Field: "", Header: "X"}}
		}, []string{"columns[1].field"}, "required"},
		{"column width negative", func(r *domain.CreateRequest) { r.Columns = col(domain.Column{Field: "id", Width: -1}) }, []string{"columns[0].width"}, "between 0 and 255"},
		{"column width too wide", func(r *domain.CreateRequest) { r.Columns = col(domain.Column{Field: "id", Width: 255.5}) }, []string{"columns[0].width"}, "between 0 and 255"},
		{"column header too long", func(r *domain.CreateRequest) {
			r.Columns = col(domain.Column{Field: "id", Header: strings.Repeat("界", 256)})
		}, []string{"columns[0].header"}, "at most 255"},
		{"column format too long", func(r *domain.CreateRequest) {
			r.Columns = col(domain.Column{Field: "id", Format: strings.Repeat("0", 101)})
		}, []string{"columns[0].format"}, "at most 100"},
		{"too many columns", func(r *domain.CreateRequest) {
			r.Columns = make([]domain.Column, domain.MaxColumns+1)
			for i := range r.Columns {
				r.Columns[i] = domain.Column{Field: "id"}
			}
		}, []string{"columns"}, "at most 200"},
		{"several columns wrong", func(r *domain.CreateRequest) {
			r.Columns = []domain.Column{{Field: "nope", Width: 300}, {Field: "id"}, {Field: ""}}
		}, []string{"columns[0].field", "columns[0].width", "columns[2].field"}, ""},
		{"columns unchecked for an unknown type", func(r *domain.CreateRequest) {
			r.Type = "invoices"
			r.Columns = col(domain.Column{Field: "nope"})
		}, []string{"type"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTasksEnv()
			req := validRequest()
			tc.edit(&req)
			got, created, err := e.tasks.Create(context.Background(), acme, req)
			require.Error(t, err)
			require.Nil(t, got)
			require.False(t, created)
			require.Equal(t, domain.KindInvalid, domain.KindOf(err))
			var fe *domain.FieldErrors
			require.ErrorAs(t, err, &fe)
			var names []string
			for _, f := range fe.Errors {
				names = append(names, f.Field)
			}
			require.Equal(t, tc.fields, names, err.Error())
			if tc.reason != "" {
				require.Contains(t, fe.Errors[0].Reason, tc.reason)
			}
			require.Zero(t, e.store.count(), "nothing stored")
			require.Empty(t, e.sender.intents(), "nothing sent")
		})
	}
}

func TestCreateAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*domain.CreateRequest)
		check func(t *testing.T, got *domain.Task)
	}{
		{"name of 100 runes", func(r *domain.CreateRequest) { r.Name = strings.Repeat("界", 100) }, func(t *testing.T, got *domain.Task) {
			require.Equal(t, strings.Repeat("界", 100), got.Name)
		}},
		{"name of 100 chars after trimming", func(r *domain.CreateRequest) { r.Name = "  " + strings.Repeat("a", 100) + "\n" }, func(t *testing.T, got *domain.Task) {
			require.Equal(t, strings.Repeat("a", 100), got.Name)
		}},
		{"csv", func(r *domain.CreateRequest) { r.Format = domain.FormatCSV }, func(t *testing.T, got *domain.Task) {
			require.Equal(t, domain.FormatCSV, got.Format)
		}},
		{"no params", func(r *domain.CreateRequest) { r.Params = nil }, func(t *testing.T, got *domain.Task) {
			require.JSONEq(t, `{}`, string(got.Params))
		}},
		{"null params", func(r *domain.CreateRequest) { r.Params = json.RawMessage(" null ") }, func(t *testing.T, got *domain.Task) {
			require.JSONEq(t, `{}`, string(got.Params))
		}},
		{"params kept exact", func(r *domain.CreateRequest) {
			r.Params = json.RawMessage(`{"rows": 3, "min": 12345678901234567890.10, "tags": ["a"]}`)
		}, func(t *testing.T, got *domain.Task) {
			require.Equal(t, `{"min":12345678901234567890.10,"rows":3,"tags":["a"]}`, string(got.Params))
		}},
		{"default columns are the provider's fields", func(r *domain.CreateRequest) { r.Columns = nil }, func(t *testing.T, got *domain.Task) {
			require.Equal(t, defaultOrderColumns(), got.Columns)
		}},
		{"columns chosen, headers defaulted", func(r *domain.CreateRequest) {
			r.Columns = []domain.Column{
				{Field: "amount"},
				{Field: "note"},
				{Field: "id", Header: "No.", Width: 255, Format: "0"},
				{Field: "amount", Header: "Amount again", Width: 0},
			}
		}, func(t *testing.T, got *domain.Task) {
			require.Equal(t, []domain.Column{
				{Field: "amount", Header: "Amount"},
				{Field: "note", Header: "Note"},
				{Field: "id", Header: "No.", Width: 255, Format: "0"},
				{Field: "amount", Header: "Amount again"},
			}, got.Columns)
		}},
		{"header falls back to the field name", func(r *domain.CreateRequest) {
			r.Type, r.Params = "users", nil
			r.Columns = []domain.Column{{Field: "nick"}, {Field: "id"}}
		}, func(t *testing.T, got *domain.Task) {
			require.Equal(t, []domain.Column{{Field: "nick", Header: "nick"}, {Field: "id", Header: "ID"}}, got.Columns)
		}},
		{"header of 255 runes", func(r *domain.CreateRequest) {
			r.Columns = []domain.Column{{Field: "id", Header: strings.Repeat("界", 255)}}
		}, func(t *testing.T, got *domain.Task) {
			require.Equal(t, strings.Repeat("界", 255), got.Columns[0].Header)
		}},
		{"200 columns", func(r *domain.CreateRequest) {
			r.Columns = make([]domain.Column, domain.MaxColumns)
			for i := range r.Columns {
				r.Columns[i] = domain.Column{Field: "customer"}
			}
		}, func(t *testing.T, got *domain.Task) {
			require.Len(t, got.Columns, 200)
		}},
		{"idempotency key of 255", func(r *domain.CreateRequest) { r.IdempotencyKey = strings.Repeat("k", 255) }, func(t *testing.T, got *domain.Task) {
			require.Equal(t, strings.Repeat("k", 255), got.IdempotencyKey)
			require.Len(t, got.RequestHash, 64)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTasksEnv()
			req := validRequest()
			tc.edit(&req)
			got, created, err := e.tasks.Create(context.Background(), acme, req)
			require.NoError(t, err)
			require.True(t, created)
			tc.check(t, got)
			tc.check(t, e.store.task(got.ID))
		})
	}
}

// The default columns copy the provider's headers as they are, so a field
// with no header gets an empty header cell, while the same field asked for
// explicitly gets its name as header. Fix in checkColumns:
//
//	 	for i, f := range fields {
//	-		out[i] = Column{Field: f.Name, Header: f.Header}
//	+		h := f.Header
//	+		if h == "" {
//	+			h = f.Name
//	+		}
//	+		out[i] = Column{Field: f.Name, Header: h}
//	 	}
func TestCreateDefaultColumnsHeaderFallsBackToFieldName(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	got, _, err := e.tasks.Create(context.Background(), acme, domain.CreateRequest{Name: "u", Type: "users"})
	require.NoError(t, err)
	require.Equal(t, []domain.Column{{Field: "id", Header: "ID"}, {Field: "nick", Header: "nick"}}, got.Columns)
}

func TestCreateProviderValidationError(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	req := validRequest()
	req.Params = json.RawMessage(`{"explode": true}`)
	_, _, err := e.tasks.Create(context.Background(), acme, req)
	require.Error(t, err)
	require.Equal(t, domain.KindInternal, domain.KindOf(err), "not the client's fault")
	require.Contains(t, err.Error(), "backend unavailable")
	require.Zero(t, e.store.count())
}

func TestCreateIdempotency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("same key same request is a replay", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		req := validRequest()
		req.IdempotencyKey = "k-1"
		first, created, err := e.tasks.Create(ctx, acme, req)
		require.NoError(t, err)
		require.True(t, created)
		require.NotEmpty(t, first.RequestHash)

		e.clock.Advance(6 * time.Minute)
		// The same request, spelled differently: whitespace, key order,
		// the default format and the default columns written out.
		again := req
		again.Name = "  March orders "
		again.Params = json.RawMessage(`{ "rows" : 5 }`)
		again.Format = domain.FormatXLSX
		again.Columns = defaultOrderColumns()
		for _, r := range []domain.CreateRequest{req, again} {
			second, created, err := e.tasks.Create(ctx, acme, r)
			require.NoError(t, err)
			require.False(t, created)
			require.Equal(t, first.ID, second.ID)
			require.Equal(t, t0, second.CreatedAt)
		}
		require.Equal(t, 1, e.store.count())
		require.Len(t, e.sender.intents(), 1, "a replay sends no second intent")
	})

	t.Run("same key different request", func(t *testing.T) {
		t.Parallel()
		for name, edit := range map[string]func(*domain.CreateRequest){
			"name":    func(r *domain.CreateRequest) { r.Name = "April orders" },
			"format":  func(r *domain.CreateRequest) { r.Format = domain.FormatCSV },
			"params":  func(r *domain.CreateRequest) { r.Params = json.RawMessage(`{"rows": 6}`) },
			"columns": func(r *domain.CreateRequest) { r.Columns = []domain.Column{{Field: "id"}} },
			"type":    func(r *domain.CreateRequest) { r.Type = "users"; r.Params = nil },
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := newTasksEnv()
				req := validRequest()
				req.IdempotencyKey = "k-1"
				_, _, err := e.tasks.Create(ctx, acme, req)
				require.NoError(t, err)
				edit(&req)
				got, created, err := e.tasks.Create(ctx, acme, req)
				require.Error(t, err)
				require.Nil(t, got)
				require.False(t, created)
				require.Equal(t, domain.KindMismatch, domain.KindOf(err))
				require.Contains(t, err.Error(), `"k-1"`)
				require.Equal(t, 1, e.store.count())
				require.Len(t, e.sender.intents(), 1)
			})
		}
	})

	t.Run("different keys make different tasks", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		req := validRequest()
		req.IdempotencyKey = "a"
		a, _, err := e.tasks.Create(ctx, acme, req)
		require.NoError(t, err)
		req.IdempotencyKey = "b"
		b, created, err := e.tasks.Create(ctx, acme, req)
		require.NoError(t, err)
		require.True(t, created)
		require.NotEqual(t, a.ID, b.ID)
		require.Equal(t, a.RequestHash, b.RequestHash, "the hash is of the request, not the key")
	})

	t.Run("no key never dedupes", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		for range 3 {
			_, created, err := e.tasks.Create(ctx, acme, validRequest())
			require.NoError(t, err)
			require.True(t, created)
		}
		require.Equal(t, 3, e.store.count())
	})
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	id := e.store.put(&domain.Task{Name: "x", Type: "orders", Status: notExecuted})
	got, err := e.tasks.Get(context.Background(), acme, id)
	require.NoError(t, err)
	require.Equal(t, id, got.ID)

	_, err = e.tasks.Get(context.Background(), acme, 999)
	require.ErrorIs(t, err, domain.ErrNotFound)
	require.Equal(t, domain.KindNotFound, domain.KindOf(err))
	require.Contains(t, err.Error(), "999")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from       domain.Status
		wantStatus domain.Status
		wantFlag   bool
		conflict   bool
	}{
		{notExecuted, cancelled, false, false},
		{executing, executing, true, false},
		{failed, "", false, true},
		{succeeded, "", false, true},
		{cancelled, "", false, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			t.Parallel()
			e := newTasksEnv()
			id := e.store.put(&domain.Task{Type: "orders", Status: tc.from, WorkerID: "w1", Attempts: 1})
			got, err := e.tasks.Cancel(context.Background(), acme, id)
			if tc.conflict {
				require.Error(t, err)
				require.Nil(t, got)
				require.Equal(t, domain.KindConflict, domain.KindOf(err))
				require.Equal(t, fmt.Sprintf("cannot cancel task %d: it is %s", id, tc.from), err.Error())
				require.Equal(t, tc.from, e.store.task(id).Status, "unchanged")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantStatus, got.Status)
			require.Equal(t, tc.wantFlag, got.CancelRequested)
			require.Equal(t, tc.wantStatus, e.store.task(id).Status)
			require.Empty(t, e.sender.intents())
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		_, err := e.tasks.Cancel(context.Background(), acme, 42)
		require.ErrorIs(t, err, domain.ErrNotFound)
		require.Equal(t, domain.KindNotFound, domain.KindOf(err))
	})
}

func TestRetry(t *testing.T) {
	t.Parallel()
	for _, from := range domain.Statuses {
		t.Run(string(from), func(t *testing.T) {
			t.Parallel()
			e := newTasksEnv()
			next := t0.Add(6 * time.Minute)
			id := e.store.put(&domain.Task{
				Type: "orders", Status: from, Attempts: 2, Error: "boom", Permanent: from == failed,
				NextAttemptAt: &next, CancelRequested: from == cancelled,
				File: &domain.FileInfo{Name: "kept.csv"}, FinishedAt: &t0,
			})
			got, err := e.tasks.Retry(context.Background(), acme, id)
			if from != failed && from != cancelled {
				require.Error(t, err)
				require.Nil(t, got)
				require.Equal(t, domain.KindConflict, domain.KindOf(err))
				want := fmt.Sprintf("cannot retry task %d: it is %s", id, from)
				if from == succeeded {
					want += " and its file is still there"
				}
				require.Equal(t, want, err.Error())
				require.Equal(t, from, e.store.task(id).Status)
				require.Empty(t, e.sender.intents())
				return
			}
			require.NoError(t, err, "a user may retry even a permanent failure, before it is due")
			require.Equal(t, notExecuted, got.Status)
			require.Equal(t, 2, got.Attempts, "attempts keep counting")
			require.Nil(t, got.NextAttemptAt)
			require.NotNil(t, got.IntentSentAt)
			require.Equal(t, []domain.Intent{{TaskID: id, Type: "orders"}}, e.sender.intents())
			stored := e.store.task(id)
			require.Equal(t, notExecuted, stored.Status)
			require.NotNil(t, stored.IntentSentAt)
			require.Equal(t, []string{"retry"}, e.store.eventNames(id))
		})
	}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		_, err := e.tasks.Retry(context.Background(), acme, 42)
		require.ErrorIs(t, err, domain.ErrNotFound)
		require.Equal(t, domain.KindNotFound, domain.KindOf(err))
	})

	t.Run("failing sender", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		e.sender.fail(errors.New("broker down"))
		id := e.store.put(&domain.Task{Type: "orders", Status: failed})
		got, err := e.tasks.Retry(context.Background(), acme, id)
		require.NoError(t, err)
		require.Equal(t, notExecuted, got.Status)
		require.Nil(t, got.IntentSentAt)
		require.Nil(t, e.store.task(id).IntentSentAt)
	})
}

func TestRetryRemakesAnExpiredFile(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	e.tasks.FileTTL = time.Hour
	old := t0.Add(-2 * time.Hour)
	id := e.store.put(&domain.Task{Type: "orders", Status: succeeded, Attempts: 1, FinishedAt: &old,
		File: &domain.FileInfo{Name: "task-1-1.csv"}})
	_, err := e.tasks.FileOf(context.Background(), acme, id)
	require.Equal(t, domain.KindGone, domain.KindOf(err))
	got, err := e.tasks.Retry(context.Background(), acme, id)
	require.NoError(t, err)
	require.Equal(t, notExecuted, got.Status)
	require.Equal(t, []string{"remake"}, e.store.eventNames(id))
	require.Equal(t, []domain.Intent{{TaskID: id, Type: "orders"}}, e.sender.intents())
}

func TestOtherTenantsTasksAreNotFound(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	ctx := context.Background()
	globex := domain.Actor{Tenant: "globex", Scopes: domain.Scopes}
	id := e.store.put(&domain.Task{Type: "orders", Status: succeeded, File: &domain.FileInfo{Name: "f.csv"}})
	_, err := e.tasks.Get(ctx, globex, id)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = e.tasks.FileOf(ctx, globex, id)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = e.tasks.Cancel(ctx, globex, id)
	require.ErrorIs(t, err, domain.ErrNotFound)
	_, err = e.tasks.Retry(ctx, globex, id)
	require.ErrorIs(t, err, domain.ErrNotFound)
	ts, err := e.tasks.List(ctx, globex, domain.ListQuery{})
	require.NoError(t, err)
	require.Empty(t, ts)
	ts, err = e.tasks.List(ctx, acme, domain.ListQuery{})
	require.NoError(t, err)
	require.Len(t, ts, 1)

	reader := domain.Actor{Tenant: "acme", Scopes: []domain.Scope{domain.ScopeRead}}
	_, err = e.tasks.Cancel(ctx, reader, id)
	require.Equal(t, domain.KindForbidden, domain.KindOf(err))
	_, _, err = e.tasks.Create(ctx, reader, validRequest())
	require.Equal(t, domain.KindForbidden, domain.KindOf(err))
	_, err = e.tasks.Get(ctx, reader, id)
	require.NoError(t, err)
}

func TestFileOf(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	ctx := context.Background()
	done := e.store.put(&domain.Task{Status: succeeded, File: &domain.FileInfo{Name: "task-1-1.xlsx", Rows: 3}})
	got, err := e.tasks.FileOf(ctx, acme, done)
	require.NoError(t, err)
	require.Equal(t, "task-1-1.xlsx", got.File.Name)

	for _, s := range []domain.Status{notExecuted, executing, failed, cancelled} {
		id := e.store.put(&domain.Task{Status: s})
		_, err := e.tasks.FileOf(ctx, acme, id)
		require.Equal(t, domain.KindConflict, domain.KindOf(err), s)
		require.Contains(t, err.Error(), "it is "+string(s))
	}
	noFile := e.store.put(&domain.Task{Status: succeeded})
	_, err = e.tasks.FileOf(ctx, acme, noFile)
	require.Equal(t, domain.KindConflict, domain.KindOf(err))

	_, err = e.tasks.FileOf(ctx, acme, 999)
	require.Equal(t, domain.KindNotFound, domain.KindOf(err))
}

func TestList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("validation", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			q      domain.ListQuery
			fields []string
		}{
			{"bad status", domain.ListQuery{Status: "RUNNING"}, []string{"status"}},
			{"lower-case status", domain.ListQuery{Status: "failed"}, []string{"status"}},
			{"negative limit", domain.ListQuery{Limit: -1}, []string{"limit"}},
			{"limit too big", domain.ListQuery{Limit: 501}, []string{"limit"}},
			{"both", domain.ListQuery{Status: "x", Limit: 1000}, []string{"status", "limit"}},
		}
		for _, tc := range tests {
			e := newTasksEnv()
			_, err := e.tasks.List(ctx, acme, tc.q)
			require.Equal(t, domain.KindInvalid, domain.KindOf(err), tc.name)
			var fe *domain.FieldErrors
			require.ErrorAs(t, err, &fe)
			var names []string
			for _, f := range fe.Errors {
				names = append(names, f.Field)
			}
			require.Equal(t, tc.fields, names, tc.name)
		}
	})

	t.Run("limits", func(t *testing.T) {
		t.Parallel()
		for in, want := range map[int]int{0: 50, 1: 1, 50: 50, 500: 500} {
			e := newTasksEnv()
			_, err := e.tasks.List(ctx, acme, domain.ListQuery{Limit: in})
			require.NoError(t, err)
			e.store.mu.Lock()
			got := e.store.lastList.Limit
			e.store.mu.Unlock()
			require.Equal(t, want, got, "limit %d", in)
		}
	})

	t.Run("filters newest first", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		for i := range 6 {
			s := failed
			if i%2 == 0 {
				s = succeeded
			}
			e.store.put(&domain.Task{Type: "orders", Status: s})
		}
		got, err := e.tasks.List(ctx, acme, domain.ListQuery{Status: failed, Limit: 2})
		require.NoError(t, err)
		require.Equal(t, []int64{6, 4}, ids(got))
		got, err = e.tasks.List(ctx, acme, domain.ListQuery{Status: failed, BeforeID: 4})
		require.NoError(t, err)
		require.Equal(t, []int64{2}, ids(got))
	})

	t.Run("store failure", func(t *testing.T) {
		t.Parallel()
		e := newTasksEnv()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := e.tasks.List(cctx, acme, domain.ListQuery{})
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, domain.KindInternal, domain.KindOf(err))
	})
}

func ids(ts []*domain.Task) []int64 {
	out := make([]int64, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestDecodeParams(t *testing.T) {
	t.Parallel()
	m, err := domain.DecodeParams(json.RawMessage(`{"n": 12345678901234567890, "d": 1.50}`))
	require.NoError(t, err)
	require.Equal(t, json.Number("12345678901234567890"), m["n"], "numbers stay exact")
	require.Equal(t, json.Number("1.50"), m["d"])

	for _, bad := range []string{``, `null`, `[]`, `"s"`, `1`, `{`, `{"a":}`} {
		_, err := domain.DecodeParams(json.RawMessage(bad))
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "must be a JSON object")
	}
}

// DecodeParams reads the first JSON value and ignores whatever follows,
// so `{"a":1} trailing` or `{} []` pass as "a JSON object". Fix: after the
// Decode, require the end of input:
//
//	if _, err := dec.Token(); err != io.EOF {
//		return nil, errors.New("must be a single JSON object")
//	}
func TestDecodeParamsRejectsTrailingData(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{`{"a":1} trailing`, `{} []`, `{}{}`} {
		_, err := domain.DecodeParams(json.RawMessage(bad))
		require.Error(t, err, "%q", bad)
	}
}

func TestKindOf(t *testing.T) {
	t.Parallel()
	fe := &domain.FieldErrors{}
	fe.Add("name", "is required")
	tests := []struct {
		name string
		err  error
		want domain.Kind
	}{
		{"nil", nil, domain.KindInternal},
		{"plain", errors.New("x"), domain.KindInternal},
		{"not found", domain.ErrNotFound, domain.KindNotFound},
		{"wrapped not found", fmt.Errorf("get task 1: %w", domain.ErrNotFound), domain.KindNotFound},
		{"twice wrapped lost race", fmt.Errorf("a: %w", fmt.Errorf("b: %w", domain.ErrLostRace)), domain.KindConflict},
		{"duplicate key", domain.ErrDuplicateKey, domain.KindConflict},
		{"field errors", fe, domain.KindInvalid},
		{"wrapped field errors", fmt.Errorf("create: %w", fe), domain.KindInvalid},
		{"mismatch", domain.Errorf(domain.KindMismatch, "m %d", 1), domain.KindMismatch},
		{"wrapped invalid", fmt.Errorf("x: %w", domain.Errorf(domain.KindInvalid, "bad")), domain.KindInvalid},
		{"permanent not found", domain.Permanent(fmt.Errorf("x: %w", domain.ErrNotFound)), domain.KindNotFound},
		{"joined", errors.Join(errors.New("a"), domain.ErrLostRace), domain.KindConflict},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, domain.KindOf(tc.err), tc.name)
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	want := map[domain.Kind]string{
		domain.KindInternal: "internal", domain.KindInvalid: "invalid", domain.KindNotFound: "not_found",
		domain.KindConflict: "conflict", domain.KindMismatch: "mismatch", domain.Kind(99): "internal",
	}
	for k, s := range want {
		require.Equal(t, s, k.String())
	}
}

func TestErrorValues(t *testing.T) {
	t.Parallel()
	err := domain.Errorf(domain.KindConflict, "task %d is %s", 7, "busy")
	require.Equal(t, "task 7 is busy", err.Error())
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, domain.KindConflict, de.Kind)

	var fe domain.FieldErrors
	require.NoError(t, fe.Err())
	require.NoError(t, (*domain.FieldErrors)(nil).Err())
	fe.Add("name", "is required")
	fe.Add("columns[0].width", "must be between %d and %d", 0, 255)
	require.Error(t, fe.Err())
	require.Equal(t, "invalid request: name: is required; columns[0].width: must be between 0 and 255", fe.Error())
	require.Equal(t, []domain.FieldError{{"name", "is required"}, {"columns[0].width", "must be between 0 and 255"}}, fe.Errors)
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	require.NoError(t, domain.Permanent(nil))
	base := errors.New("403 forbidden")
	p := domain.Permanent(base)
	require.True(t, domain.IsPermanent(p))
	require.True(t, domain.IsPermanent(fmt.Errorf("fetch: %w", p)))
	require.ErrorIs(t, p, base)
	require.Equal(t, "403 forbidden", p.Error())
	require.False(t, domain.IsPermanent(base))
	require.False(t, domain.IsPermanent(nil))
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	a, b := &fakeProvider{}, &fakeProvider{}
	reg := domain.Registry{"zeta": a, "alpha": b, "mid": a}
	var _ domain.Providers = reg
	p, ok := reg.Provider("alpha")
	require.True(t, ok)
	require.Same(t, b, p)
	_, ok = reg.Provider("nope")
	require.False(t, ok)
	require.Equal(t, []string{"alpha", "mid", "zeta"}, reg.Types())
	require.Empty(t, domain.Registry{}.Types())
}

func TestCreatePausesSendsAfterAFailure(t *testing.T) {
	t.Parallel()
	e := newTasksEnv()
	ctx := context.Background()
	e.sender.fail(errors.New("broker down"))
	_, _, err := e.tasks.Create(ctx, acme, validRequest())
	require.NoError(t, err)
	require.Equal(t, 1, e.sender.sendAttempts())

	// For a few seconds creates do not wait on the broker at all.
	e.sender.fail(nil)
	e.clock.Advance(4 * time.Second)
	second, created, err := e.tasks.Create(ctx, acme, validRequest())
	require.NoError(t, err)
	require.True(t, created)
	require.Nil(t, second.IntentSentAt, "left to the scheduler")
	require.Equal(t, 1, e.sender.sendAttempts())

	// Then they send again.
	e.clock.Advance(2 * time.Second)
	third, _, err := e.tasks.Create(ctx, acme, validRequest())
	require.NoError(t, err)
	require.NotNil(t, third.IntentSentAt)
	require.Equal(t, []domain.Intent{{TaskID: third.ID, Type: "orders"}}, e.sender.intents())
}
