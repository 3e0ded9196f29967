package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/downloadcenter/dc/cmd/internal/app"
	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/mysql"
)

// admin runs `dc-api keys …` and `dc-api tenants …`. They take every flag
// and DC_* variable the server takes, so they find its database, and work
// while servers run on it (a change reaches them within their cache TTL).
func admin(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: dc-api keys create|list|revoke … or dc-api tenants set|list …")
	}
	group, cmd, rest := args[0], args[1], args[2:]
	name := "dc-api " + group + " " + cmd
	open := func(cfg app.Config) (*mysql.Store, error) {
		// Logs go to stderr: stdout's last line is what scripts read.
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return app.OpenDB(ctx, cfg, log)
	}
	switch group + " " + cmd {
	case "keys create":
		var tenant, label, scopes string
		cfg, extra, err := app.ParseWith(name, rest, getenv, stdout, func(fs *flag.FlagSet) {
			fs.StringVar(&tenant, "tenant", "", "tenant the key belongs to (required)")
			fs.StringVar(&label, "name", "", "label of the key, e.g. the calling service (required)")
			fs.StringVar(&scopes, "scopes", domain.JoinScopes(domain.DefaultScopes), "comma-separated scopes: tasks:read, tasks:write, admin")
		})
		if err != nil {
			return err
		}
		if len(extra) > 0 || tenant == "" || label == "" {
			return errors.New("usage: dc-api keys create --tenant NAME --name LABEL [--scopes tasks:read,tasks:write,admin]")
		}
		sc, err := domain.ParseScopes(scopes)
		if err != nil {
			return err
		}
		st, err := open(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		secret, k, err := app.NewKeys(st).Create(ctx, tenant, label, sc)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %d for tenant %s (%s), scopes %s; it is shown only now:\n", k.ID, k.Tenant, k.Name, domain.JoinScopes(k.Scopes))
		fmt.Fprintln(stdout, secret)
		return nil
	case "keys list":
		cfg, extra, err := app.ParseWith(name, rest, getenv, stdout, func(*flag.FlagSet) {})
		if err != nil {
			return err
		}
		if len(extra) > 0 {
			return errors.New("usage: dc-api keys list")
		}
		st, err := open(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		ks, err := st.ListKeys(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		// One key a line, no header, so scripts can read it: id, tenant,
		// name, scopes, created, last used, revoked ("-": never).
		for _, k := range ks {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Tenant, k.Name, domain.JoinScopes(k.Scopes),
				k.CreatedAt.Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
		}
		return w.Flush()
	case "keys revoke":
		cfg, extra, err := app.ParseWith(name, rest, getenv, stdout, func(*flag.FlagSet) {})
		if err != nil {
			return err
		}
		if len(extra) != 1 {
			return errors.New("usage: dc-api keys revoke ID")
		}
		id, err := strconv.ParseInt(extra[0], 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("key id %q: want the number `dc-api keys list` shows first", extra[0])
		}
		st, err := open(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := app.NewKeys(st).Revoke(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %d revoked; API replicas refuse it within a few seconds\n", id)
		return nil
	case "tenants set":
		var lim [4]limitFlag
		cfg, extra, err := app.ParseWith(name, rest, getenv, stdout, func(fs *flag.FlagSet) {
			fs.Var(&lim[0], "max-active", "waiting and running tasks at once (0: no limit; default DC_TENANT_MAX_ACTIVE)")
			fs.Var(&lim[1], "creates-per-minute", "creates per minute (0: no limit; default DC_TENANT_CREATES_PER_MINUTE)")
			fs.Var(&lim[2], "max-rows", "rows per export (0: no limit; default DC_MAX_ROWS)")
			fs.Var(&lim[3], "max-file-bytes", "bytes per export file (0: no limit; default DC_MAX_FILE_BYTES)")
		})
		if err != nil {
			return err
		}
		if len(extra) != 1 {
			return errors.New("usage: dc-api tenants set NAME [--max-active N] [--creates-per-minute N] [--max-rows N] [--max-file-bytes N]")
		}
		if err := domain.ValidTenant(extra[0]); err != nil {
			return err
		}
		st, err := open(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		t, err := st.Tenant(ctx, extra[0])
		if errors.Is(err, domain.ErrNotFound) {
			t, err = &domain.TenantLimits{Tenant: extra[0]}, nil
		}
		if err != nil {
			return err
		}
		for i, p := range []**int64{&t.MaxActive, &t.CreatesPerMinute, &t.MaxRows, &t.MaxFileBytes} {
			if lim[i].set {
				v := lim[i].v
				*p = &v
			}
		}
		t.UpdatedAt = time.Now().UTC()
		if err := st.SetTenant(ctx, *t); err != nil {
			return err
		}
		l := t.Apply(app.NewTenants(st, cfg).Defaults)
		fmt.Fprintf(stdout, "tenant %s: max-active %d, creates-per-minute %d, max-rows %d, max-file-bytes %d (0: no limit)\n",
			t.Tenant, l.MaxActive, l.CreatesPerMinute, l.MaxRows, l.MaxFileBytes)
		return nil
	case "tenants list":
		cfg, extra, err := app.ParseWith(name, rest, getenv, stdout, func(*flag.FlagSet) {})
		if err != nil {
			return err
		}
		if len(extra) > 0 {
			return errors.New("usage: dc-api tenants list")
		}
		st, err := open(cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		ts, err := st.Tenants(ctx)
		if err != nil {
			return err
		}
		def := app.NewTenants(st, cfg).Defaults
		w := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		// One tenant a line: name, max-active, creates-per-minute, max-rows,
		// max-file-bytes; "(default)" first.
		fmt.Fprintf(w, "(default)\t%d\t%d\t%d\t%d\n", def.MaxActive, def.CreatesPerMinute, def.MaxRows, def.MaxFileBytes)
		for _, t := range ts {
			l := t.Apply(def)
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\n", t.Tenant, l.MaxActive, l.CreatesPerMinute, l.MaxRows, l.MaxFileBytes)
		}
		return w.Flush()
	}
	return fmt.Errorf("unknown command %q; want keys create|list|revoke or tenants set|list", group+" "+cmd)
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// limitFlag is an optional non-negative limit.
type limitFlag struct {
	v   int64
	set bool
}

func (f *limitFlag) String() string { return strconv.FormatInt(f.v, 10) }

func (f *limitFlag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("want a whole number ≥ 0, got %q", s)
	}
	f.v, f.set = n, true
	return nil
}
