package sqlprovider

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
)

// This file reads a batch through the driver's own connection
// (sql.Conn.Raw) rather than database/sql's Rows: the text path hands each
// value the driver decoded straight to its textCell. database/sql's Scan
// converts and checks every value of every row on the way (convertAssign),
// which profiles put at a quarter of the export's CPU; the driver's
// decoding stays, and so do the pool, the statement's context and the
// binding of params, as on the typed path.

// rawRows is a query's result read from the driver: its rows and the
// statement they came from, closed together.
type rawRows struct {
	rows driver.Rows
	stmt driver.Stmt
}

// Close closes the rows, then their statement.
func (r *rawRows) Close() error {
	err := r.rows.Close()
	if r.stmt != nil {
		err = errors.Join(err, r.stmt.Close())
	}
	return err
}

// bindArgs converts args to driver values as database/sql does.
func bindArgs(dc any, args []any) ([]driver.NamedValue, error) {
	named := make([]driver.NamedValue, len(args))
	checker, _ := dc.(driver.NamedValueChecker)
	for i, a := range args {
		nv := driver.NamedValue{Ordinal: i + 1, Value: a}
		err := driver.ErrSkip
		if checker != nil {
			err = checker.CheckNamedValue(&nv)
		}
		if errors.Is(err, driver.ErrSkip) {
			nv.Value, err = driver.DefaultParameterConverter.ConvertValue(a)
		}
		if err != nil {
			return nil, fmt.Errorf("bind param %d: %w", i+1, err)
		}
		named[i] = nv
	}
	return named, nil
}

// bits tells which columns are BITs, whose bytes are a number, not text.
func (r *rawRows) bits() []bool {
	bits := make([]bool, len(r.rows.Columns()))
	if t, ok := r.rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		for i := range bits {
			bits[i] = t.ColumnTypeDatabaseTypeName(i) == "BIT"
		}
	}
	return bits
}

// queryRaw runs query with args on a driver connection as database/sql
// would: the driver interpolates the args (see connConfig) or, when it
// declines, the statement is prepared and the server binds them.
func queryRaw(ctx context.Context, dc any, query string, args []any) (*rawRows, error) {
	named, err := bindArgs(dc, args)
	if err != nil {
		return nil, err
	}
	if q, ok := dc.(driver.QueryerContext); ok {
		rows, err := q.QueryContext(ctx, query, named)
		if err == nil {
			return &rawRows{rows: rows}, nil
		}
		if !errors.Is(err, driver.ErrSkip) {
			return nil, err
		}
	}
	prep, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver connection %T cannot prepare with a context", dc)
	}
	stmt, err := prep.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	sq, ok := stmt.(driver.StmtQueryContext)
	if !ok {
		_ = stmt.Close()
		return nil, fmt.Errorf("driver statement %T cannot query with a context", stmt)
	}
	rows, err := sq.QueryContext(ctx, named)
	if err != nil {
		_ = stmt.Close()
		return nil, err
	}
	return &rawRows{rows: rows, stmt: stmt}, nil
}
