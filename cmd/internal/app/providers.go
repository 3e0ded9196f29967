package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/httpprovider"
	"github.com/downloadcenter/dc/infra/sqlprovider"
)

// providersFile is the shape of DC_PROVIDERS_FILE.
type providersFile struct {
	SQL  []sqlprovider.Config  `yaml:"sql"`
	HTTP []httpprovider.Config `yaml:"http"`
}

// Providers is the registry of export types: the compiled-in Go providers
// and those DC_PROVIDERS_FILE declares. The api validates against it and
// the worker runs from it, so both must be given the same file. Close
// releases the SQL connection pools.
type Providers struct {
	Registry domain.Registry
	pools    *sqlprovider.Pools
}

// Close releases what the providers hold.
func (p *Providers) Close() error {
	if p.pools == nil {
		return nil
	}
	return p.pools.Close()
}

// LoadProviders builds the registry. A Go provider is registered by adding
// it to the compiled-in map below.
// Each SQL export type's query is checked against its database first: a
// permanent problem (syntax, unknown column, missing grant) stops the
// start; an unreachable database is only logged, as tasks retry.
//
// The demo type is registered only when withDemo is set (the embedded mode,
// or DC_DEMO=true): it exists to try the service, and in production anyone
// with a key could make a worker write ten million made-up rows with it.
func LoadProviders(ctx context.Context, path string, withDemo bool, getenv func(string) string, log *slog.Logger) (*Providers, error) {
	reg := domain.Registry{}
	if withDemo {
		reg[demo.Type] = demo.New()
	}
	if path == "" {
		return &Providers{Registry: reg}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read providers file: %w", err)
	}
	var file providersFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("providers file %s: %w", path, err)
	}
	add := func(kind, typ string, p domain.Provider) error {
		if _, dup := reg[typ]; dup {
			return fmt.Errorf("providers file %s: %s export type %q is declared twice (or shadows a built-in type)", path, kind, typ)
		}
		reg[typ] = p
		return nil
	}
	pools := sqlprovider.NewPools(sqlprovider.PoolLimits{})
	fail := func(err error) (*Providers, error) {
		_ = pools.Close()
		return nil, err
	}
	for i, c := range file.SQL {
		p, err := sqlprovider.New(c, pools, getenv)
		if err != nil {
			return fail(fmt.Errorf("providers file %s: sql[%d] (%s): %w", path, i, c.Type, err))
		}
		if err := add("sql", c.Type, p); err != nil {
			return fail(err)
		}
		checkCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = p.Check(checkCtx)
		cancel()
		switch {
		case domain.IsPermanent(err):
			return fail(fmt.Errorf("providers file %s: sql[%d] (%s): %w", path, i, c.Type, err))
		case err != nil:
			log.Warn("sql export type not checked: its database does not answer", "type", c.Type, "err", err)
		}
	}
	for i, c := range file.HTTP {
		p, err := httpprovider.New(c, getenv, nil)
		if err != nil {
			return fail(fmt.Errorf("providers file %s: http[%d] (%s): %w", path, i, c.Type, err))
		}
		if err := add("http", c.Type, p); err != nil {
			return fail(err)
		}
	}
	return &Providers{Registry: reg, pools: pools}, nil
}
