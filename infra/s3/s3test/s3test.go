// Package s3test gives tests a store on a throw-away prefix of the bucket
// the DC_S3_* variables name (deploy/services/up.sh runs SeaweedFS for it).
package s3test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/downloadcenter/dc/infra/s3"
)

var seq atomic.Int64

// Config returns the settings of the test bucket with a prefix of its own,
// whose objects and uploads are removed when the test ends. Without
// DC_S3_ENDPOINT it returns ok=false — except when CI=true, where the S3
// tests must run, and it fails the test.
func Config(t testing.TB) (cfg s3.Config, ok bool) {
	t.Helper()
	endpoint := os.Getenv("DC_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but DC_S3_ENDPOINT is not set: S3 tests must run in CI (make test starts SeaweedFS)")
		}
		t.Log("DC_S3_ENDPOINT not set: S3 part not run (make test sets it)")
		return cfg, false
	}
	cfg = s3.Config{
		Endpoint: endpoint, Bucket: os.Getenv("DC_S3_BUCKET"), Region: os.Getenv("DC_S3_REGION"),
		AccessKey: os.Getenv("DC_S3_ACCESS_KEY"), SecretKey: os.Getenv("DC_S3_SECRET_KEY"), PathStyle: true,
		Prefix: fmt.Sprintf("test-%d-%d-%d/", time.Now().Unix(), os.Getpid(), seq.Add(1)),
	}
	t.Cleanup(func() { Clean(t, cfg) })
	return cfg, true
}

// New opens a store on cfg.
func New(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("s3 store: %v", err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("s3 bucket: %v", err)
	}
	return s
}

// Objects lists the keys under the store's prefix.
func Objects(t testing.TB, s *s3.Store) []string {
	t.Helper()
	var keys []string
	p := awss3.NewListObjectsV2Paginator(s.Client(), &awss3.ListObjectsV2Input{Bucket: aws.String(s.Bucket()), Prefix: aws.String(s.Key(""))})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list objects: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Uploads lists the unfinished multipart uploads under the store's prefix.
func Uploads(t testing.TB, s *s3.Store) []types.MultipartUpload {
	t.Helper()
	out, err := s.Client().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{
		Bucket: aws.String(s.Bucket()), Prefix: aws.String(s.Key("")),
	})
	if err != nil {
		t.Fatalf("list uploads: %v", err)
	}
	return out.Uploads
}

// Clean removes every object and upload under cfg's prefix.
func Clean(t testing.TB, cfg s3.Config) {
	s, err := s3.New(context.Background(), cfg)
	if err != nil {
		t.Logf("clean %s: %v", cfg.Prefix, err)
		return
	}
	ctx := context.Background()
	for _, u := range Uploads(t, s) {
		_, _ = s.Client().AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: aws.String(s.Bucket()), Key: u.Key, UploadId: u.UploadId})
	}
	for _, k := range Objects(t, s) {
		_, _ = s.Client().DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.Bucket()), Key: aws.String(k)})
	}
}
