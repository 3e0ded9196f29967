package app

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/localfs"
	"github.com/downloadcenter/dc/infra/s3"
)

// The file stores DC_STORAGE selects.
const (
	StorageLocal = "local"
	StorageS3    = "s3"
)

// S3Settings are the DC_S3_* settings of DC_STORAGE=s3.
type S3Settings struct {
	Endpoint  string
	Bucket    string
	Prefix    string
	Region    string
	AccessKey string
	SecretKey string
	// PathStyle is "true", "false" or "" (true when an endpoint is set:
	// S3-compatible servers rarely have a DNS name per bucket).
	PathStyle string
	// Proxy streams downloads through dc-api instead of redirecting.
	Proxy   bool
	LinkTTL time.Duration
}

// pathStyle resolves PathStyle; Validate has checked it parses.
func (s S3Settings) pathStyle() bool {
	if s.PathStyle == "" {
		return s.Endpoint != ""
	}
	b, _ := strconv.ParseBool(s.PathStyle)
	return b
}

func (c Config) validateStorage() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Storage {
	case StorageLocal:
	case StorageS3:
		if c.S3.Bucket == "" {
			bad("DC_S3_BUCKET must be set with DC_STORAGE=s3")
		}
		if (c.S3.AccessKey == "") != (c.S3.SecretKey == "") {
			bad("DC_S3_ACCESS_KEY and DC_S3_SECRET_KEY must be set together (or both left empty for the AWS credential chain)")
		}
		if c.S3.PathStyle != "" {
			if _, err := strconv.ParseBool(c.S3.PathStyle); err != nil {
				bad("DC_S3_PATH_STYLE must be true or false, got %q", c.S3.PathStyle)
			}
		}
		if c.S3.LinkTTL < time.Second || c.S3.LinkTTL > 7*24*time.Hour {
			bad("DC_S3_LINK_TTL must be between 1s and 168h, got %s", c.S3.LinkTTL)
		}
	default:
		bad("DC_STORAGE must be local or s3, got %q", c.Storage)
	}
	return errs
}

// fileStore is the configured file store; links is set when downloads
// should redirect to the store instead of streaming through dc-api.
type fileStore struct {
	files domain.FileStore
	links domain.FileLinker
}

func openFiles(ctx context.Context, cfg Config, log *slog.Logger) (fileStore, error) {
	if cfg.Storage != StorageS3 {
		files, err := localfs.New(cfg.StorageDir)
		return fileStore{files: files}, err
	}
	st, err := s3.New(ctx, s3.Config{
		Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket, Prefix: cfg.S3.Prefix, Region: cfg.S3.Region,
		AccessKey: cfg.S3.AccessKey, SecretKey: cfg.S3.SecretKey, PathStyle: cfg.S3.pathStyle(),
		LinkTTL: cfg.S3.LinkTTL, Log: log,
	})
	if err != nil {
		return fileStore{}, err
	}
	if err := checkBucketRetrying(ctx, st, log); err != nil {
		return fileStore{}, err
	}
	log.Info("file store: S3 bucket", "endpoint", cfg.S3.Endpoint, "bucket", cfg.S3.Bucket, "prefix", cfg.S3.Prefix,
		"path_style", cfg.S3.pathStyle(), "downloads", map[bool]string{true: "proxied", false: "redirected"}[cfg.S3.Proxy])
	fs := fileStore{files: st}
	if !cfg.S3.Proxy {
		fs.links = st
	}
	return fs, nil
}

// checkBucketRetrying waits for a bucket server that is still starting (a
// container started beside it) for up to a minute, as for the database; a
// wrong bucket name or key stops the process at start at once, rather
// than failing every export.
func checkBucketRetrying(ctx context.Context, st *s3.Store, log *slog.Logger) error {
	deadline := time.Now().Add(time.Minute)
	for {
		err := st.Check(ctx)
		if err == nil || s3.Refused(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		log.Warn("bucket not reachable; retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
