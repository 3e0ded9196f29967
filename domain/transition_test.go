package domain_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

const (
	notExecuted = domain.StatusNotExecuted
	executing   = domain.StatusExecuting
	failed      = domain.StatusFailed
	succeeded   = domain.StatusSuccess
	cancelled   = domain.StatusCancelled
)

// legalMoves is the status machine as designed, written out by hand:
// claim; cancel while waiting (queued, or FAILED awaiting an automatic
// retry); succeed, fail, stop on request, or go back
// to the queue (release on shutdown, rescue of a lapsed lease) while
// running; retry of a failed or cancelled task; remake of a SUCCESS task
// whose file expired. SUCCESS leaves only for the queue and no status moves
// to itself.
var legalMoves = map[[2]domain.Status]bool{
	{notExecuted, executing}: true,
	{notExecuted, cancelled}: true,
	{failed, cancelled}:      true,
	{executing, succeeded}:   true,
	{executing, failed}:      true,
	{executing, cancelled}:   true,
	{executing, notExecuted}: true,
	{failed, notExecuted}:    true,
	{cancelled, notExecuted}: true,
	{succeeded, notExecuted}: true,
}

func TestCanMoveEveryPair(t *testing.T) {
	t.Parallel()
	all := []domain.Status{notExecuted, executing, failed, succeeded, cancelled}
	require.ElementsMatch(t, all, domain.Statuses)
	for _, from := range all {
		for _, to := range all {
			want := legalMoves[[2]domain.Status{from, to}]
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				t.Parallel()
				require.Equal(t, want, domain.CanMove(from, to))
			})
		}
	}
}

func TestCanMoveUnknownStatuses(t *testing.T) {
	t.Parallel()
	require.False(t, domain.CanMove("", executing))
	require.False(t, domain.CanMove("RUNNING", executing))
	require.False(t, domain.CanMove(notExecuted, "RUNNING"))
	require.False(t, domain.CanMove("not_executed", executing), "statuses are case sensitive")
}

func TestSuccessOnlyRemadeAndNoSelfMoves(t *testing.T) {
	t.Parallel()
	for _, to := range domain.Statuses {
		require.Equal(t, to == notExecuted, domain.CanMove(succeeded, to), "SUCCESS -> %s", to)
		require.False(t, domain.CanMove(to, to), "%s -> itself", to)
	}
}

func TestTransitionsTable(t *testing.T) {
	t.Parallel()
	type tr struct {
		from []domain.Status
		to   domain.Status
	}
	want := map[string]tr{
		"claim":          {[]domain.Status{notExecuted}, executing},
		"succeed":        {[]domain.Status{executing}, succeeded},
		"fail":           {[]domain.Status{executing}, failed},
		"cancel":         {[]domain.Status{notExecuted, failed}, cancelled},
		"cancel_running": {[]domain.Status{executing}, cancelled},
		"retry":          {[]domain.Status{failed, cancelled}, notExecuted},
		"remake":         {[]domain.Status{succeeded}, notExecuted},
		"release":        {[]domain.Status{executing}, notExecuted},
	}
	require.Len(t, domain.Transitions, len(want))
	for _, x := range domain.Transitions {
		w, ok := want[x.Name]
		require.True(t, ok, "unexpected transition %q", x.Name)
		require.ElementsMatch(t, w.from, x.From, x.Name)
		require.Equal(t, w.to, x.To, x.Name)
		for _, s := range domain.Statuses {
			require.Equal(t, contains(w.from, s), x.Allows(s), "%s allows %s", x.Name, s)
			if x.Allows(s) {
				require.True(t, domain.CanMove(s, x.To), "%s: CanMove(%s, %s)", x.Name, s, x.To)
			}
		}
	}
	// The named vars are the entries of the table.
	named := []domain.Transition{domain.Claim, domain.Succeed, domain.Fail, domain.CancelWaiting,
		domain.CancelRunning, domain.Retry, domain.Remake, domain.Release}
	require.Equal(t, named, domain.Transitions)
}

func contains(ss []domain.Status, s domain.Status) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestEveryLegalMoveHasATransition(t *testing.T) {
	t.Parallel()
	for mv := range legalMoves {
		found := false
		for _, x := range domain.Transitions {
			if x.To == mv[1] && x.Allows(mv[0]) {
				found = true
			}
		}
		require.True(t, found, "%s -> %s", mv[0], mv[1])
	}
}

func TestStatusValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s     domain.Status
		valid bool
	}{
		{notExecuted, true},
		{executing, true},
		{failed, true},
		{succeeded, true},
		{cancelled, true},
		{"", false},
		{"RUNNING", false},
		{"success", false},
		{"SUCCESS ", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.s), func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.valid, tc.s.Valid())
		})
	}
	require.Equal(t, []domain.Status{notExecuted, executing, failed, succeeded, cancelled}, domain.Statuses,
		"life-cycle order")
}

func TestFormatValid(t *testing.T) {
	t.Parallel()
	tests := map[domain.Format]bool{
		domain.FormatXLSX: true, domain.FormatCSV: true,
		"": false, "XLSX": false, "xls": false, "pdf": false, " csv": false,
	}
	for f, want := range tests {
		require.Equal(t, want, f.Valid(), "%q", f)
	}
	require.Equal(t, domain.FormatXLSX, domain.Formats[0], "the first format is the default")
	require.Equal(t, []domain.Format{domain.FormatXLSX, domain.FormatCSV}, domain.Formats)
}

func TestValueKindValid(t *testing.T) {
	t.Parallel()
	tests := map[domain.ValueKind]bool{
		domain.KindString: true, domain.KindInt: true, domain.KindDecimal: true,
		domain.KindTime: true, domain.KindBool: true,
		"": false, "float": false, "String": false, "date": false,
	}
	for k, want := range tests {
		require.Equal(t, want, k.Valid(), "%q", k)
	}
}
