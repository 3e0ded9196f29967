package sqlprovider

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
)

// bothPaths fetches every batch twice, through Fetch (the business
// contract, Go values) and FetchText (what the runner uses, text read from
// the driver), and checks the two agree: the same error, or the same
// cursor, end and rows, each text cell the canonical text of the value
// Fetch returned. So every test of the provider covers both paths.
type bothPaths struct {
	t *testing.T
	p *Provider
}

func both(t *testing.T, p *Provider) bothPaths { return bothPaths{t: t, p: p} }

// Fetch returns what Fetch returned, once FetchText agreed with it.
func (b bothPaths) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	b.t.Helper()
	typed, err := b.p.Fetch(ctx, req)
	var text domain.TextRows
	tb, terr := b.p.FetchText(ctx, req, &text)
	if err != nil {
		require.Error(b.t, terr, "FetchText succeeded where Fetch failed with %v", err)
		require.Equal(b.t, err.Error(), terr.Error())
		require.Equal(b.t, domain.IsPermanent(err), domain.IsPermanent(terr))
		return typed, err
	}
	require.NoError(b.t, terr)
	require.Equal(b.t, typed.NextCursor, tb.NextCursor)
	require.Equal(b.t, typed.Done, tb.Done)
	require.Empty(b.t, tb.Rows)
	require.Equal(b.t, len(typed.Rows), text.Len())
	fields := b.p.Fields()
	var want []byte
	for r, row := range typed.Rows {
		for c, v := range row {
			cell := text.Cell(r, c)
			if v == nil {
				if cell != nil {
					b.t.Fatalf("row %d, field %s: text %q for NULL", r, fields[c].Name, cell)
				}
				continue
			}
			var ok bool
			if want, ok = appendCanonical(want[:0], v); !ok || string(want) != string(cell) {
				b.t.Fatalf("row %d, field %s: text %q for %T %v (canonical %q)", r, fields[c].Name, cell, v, v, want)
			}
			if r >= 50 {
				continue // the first rows of each batch also parse back
			}
			parsed, err := domain.ParseText(fields[c].Kind, cell)
			require.NoError(b.t, err)
			if tv, ok := v.(time.Time); ok {
				require.True(b.t, tv.Equal(parsed.(time.Time)), "row %d, field %s", r, fields[c].Name)
			} else {
				require.Equal(b.t, v, parsed, "row %d, field %s", r, fields[c].Name)
			}
		}
	}
	return typed, nil
}
