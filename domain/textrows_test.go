package domain_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

func TestTextRows(t *testing.T) {
	t.Parallel()
	var tr domain.TextRows
	tr.Reset(3)
	tr.AppendCell([]byte("a"))
	tr.AppendNull()
	tr.AppendCell(nil) // empty text, not NULL
	tr.EndCell(append(tr.Text(), "12"...))
	tr.AppendCell([]byte("bc"))
	require.Equal(t, 1, tr.Len(), "the second row is incomplete")
	tr.DropRow()
	tr.AppendCell([]byte("x"))
	tr.AppendCell([]byte("y"))
	tr.AppendNull()
	require.Equal(t, 2, tr.Len())
	require.Equal(t, []byte("a"), tr.Cell(0, 0))
	require.Nil(t, tr.Cell(0, 1))
	require.NotNil(t, tr.Cell(0, 2))
	require.Empty(t, tr.Cell(0, 2))
	require.Equal(t, []byte("x"), tr.Cell(1, 0))
	require.Nil(t, tr.Cell(1, 2))
	cells := tr.Row(1, []int{2, 0}, make([][]byte, 2))
	require.Nil(t, cells[0])
	require.Equal(t, []byte("x"), cells[1])
	tr.Reset(1)
	require.Equal(t, 0, tr.Len())
}

func TestParseText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind domain.ValueKind
		text string
		want any
	}{
		{domain.KindString, "", ""},
		{domain.KindInt, "-9223372036854775808", int64(-9223372036854775808)},
		{domain.KindDecimal, "-0.50", domain.Decimal("-0.50")},
		{domain.KindBool, "true", true},
		{domain.KindBool, "false", false},
		{domain.KindTime, "2026-01-01T00:00:01.5Z", time.Date(2026, 1, 1, 0, 0, 1, 500_000_000, time.UTC)},
	} {
		got, err := domain.ParseText(tc.kind, []byte(tc.text))
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.want, got, tc.text)
	}
	v, err := domain.ParseText(domain.KindInt, nil)
	require.NoError(t, err)
	require.Nil(t, v, "NULL")
	for kind, bad := range map[domain.ValueKind]string{domain.KindInt: "1.0", domain.KindDecimal: "1e3", domain.KindBool: "1", domain.KindTime: "2026-01-01"} {
		_, err := domain.ParseText(kind, []byte(bad))
		require.Error(t, err, "%s %q", kind, bad)
	}
}

// textProvider is the fake provider handing its rows over as text.
type textProvider struct {
	*fakeProvider
	textCalls int
}

func (p *textProvider) FetchText(ctx context.Context, req domain.FetchRequest, into *domain.TextRows) (domain.Batch, error) {
	p.textCalls++
	b, err := p.Fetch(ctx, req)
	if err != nil {
		return b, err
	}
	for _, r := range b.Rows {
		for _, v := range r {
			if v == nil {
				into.AppendNull()
				continue
			}
			into.AppendCell(fmt.Append(nil, v))
		}
	}
	b.Rows = nil
	return b, nil
}

// textSheets records the text rows of a writer with a text path.
type textWriter struct {
	domain.SheetWriter
	rows *[][]string
}

func (w textWriter) WriteTextRow(cells [][]byte) error {
	row := make([]string, len(cells))
	for i, c := range cells {
		if c == nil {
			row[i] = "NULL"
		} else {
			row[i] = string(c)
		}
	}
	*w.rows = append(*w.rows, row)
	return nil
}

// A provider with a text path is read through it: a writer with one gets
// the cells as text, a writer without one the values parsed back, the
// task's columns picked from the row either way.
func TestRunReadsTextFromATextFetcher(t *testing.T) {
	t.Parallel()
	cols := []domain.Column{{Field: "amount", Header: "A"}, {Field: "note", Header: "N"}, {Field: "id", Header: "I"}}
	prov := &textProvider{fakeProvider: newOrders(7)}
	e := newRunnerEnv(prov)
	task := e.seed(func(t *domain.Task) { t.Columns = cols })
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status, got.Error)
	require.Equal(t, int64(7), got.RowsWritten)
	require.Equal(t, 3, prov.textCalls, "every batch through FetchText")
	_, rows := e.sheets.written()
	require.Len(t, rows, 7)
	for i, r := range rows {
		require.Equal(t, []any{domain.Decimal(fmt.Sprintf("%d.50", i)), nil, int64(100 + i)}, r)
	}

	var text [][]string
	prov = &textProvider{fakeProvider: newOrders(4)}
	e = newRunnerEnv(prov)
	inner := e.sheets.factory()
	e.runner.Writers[domain.FormatXLSX] = func(w io.Writer, c []domain.SheetColumn) (domain.SheetWriter, error) {
		sw, err := inner(w, c)
		return textWriter{SheetWriter: sw, rows: &text}, err
	}
	task = e.seed(func(t *domain.Task) { t.Columns = cols })
	e.run(t, context.Background(), task)
	got = e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status, got.Error)
	require.Equal(t, [][]string{{"0.50", "NULL", "100"}, {"1.50", "NULL", "101"}, {"2.50", "NULL", "102"}, {"3.50", "NULL", "103"}}, text)
}

// Text that is not its kind's canonical text fails the export for good
// when it has to be parsed back.
func TestRunRefusesBadText(t *testing.T) {
	t.Parallel()
	prov := &textProvider{fakeProvider: &fakeProvider{fields: ordersFields, rows: [][]any{{"x1", "c", domain.Decimal("1"), nil}}}}
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Contains(t, got.Error, `field id: integer text "x1"`)
}

// streamProvider is a textProvider that also streams (TextStreamer): its
// stream reads the batches through FetchText, and records how it is used.
type streamProvider struct {
	*textProvider
	opened, closed atomic.Int32
	failAt         int // the Next call that fails, 0: none
}

func (p *streamProvider) StreamText(ctx context.Context, req domain.FetchRequest) (domain.TextStream, error) {
	p.opened.Add(1)
	return &fakeStream{p: p, req: req}, nil
}

type fakeStream struct {
	p     *streamProvider
	req   domain.FetchRequest
	calls int
}

func (s *fakeStream) Next(ctx context.Context, into *domain.TextRows) (domain.Batch, error) {
	s.calls++
	if s.calls == s.p.failAt {
		return domain.Batch{}, errors.New("stream broke")
	}
	b, err := s.p.FetchText(ctx, s.req, into)
	s.req.Cursor = b.NextCursor
	return b, err
}

func (s *fakeStream) Close() error {
	s.p.closed.Add(1)
	return nil
}

// A provider that streams is read through one stream, which is closed at
// the end of the export, whether it succeeds or fails.
func TestRunReadsAStreamAndClosesIt(t *testing.T) {
	t.Parallel()
	prov := &streamProvider{textProvider: &textProvider{fakeProvider: newOrders(7)}}
	e := newRunnerEnv(prov)
	task := e.seed(nil)
	e.run(t, context.Background(), task)
	got := e.store.task(task.ID)
	require.Equal(t, domain.StatusSuccess, got.Status, got.Error)
	require.Equal(t, int64(7), got.RowsWritten)
	require.EqualValues(t, 1, prov.opened.Load(), "one stream for the export")
	require.EqualValues(t, 1, prov.closed.Load())
	require.Equal(t, 3, prov.textCalls)

	prov = &streamProvider{textProvider: &textProvider{fakeProvider: newOrders(7)}, failAt: 2}
	e = newRunnerEnv(prov)
	task = e.seed(nil)
	e.run(t, context.Background(), task)
	got = e.store.task(task.ID)
	require.Equal(t, domain.StatusFailed, got.Status)
	require.Contains(t, got.Error, "stream broke")
	require.EqualValues(t, 1, prov.closed.Load(), "closed after the failure too")
}
