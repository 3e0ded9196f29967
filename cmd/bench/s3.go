package main

import (
	"context"
	"fmt"
	"time"

	"github.com/downloadcenter/dc/infra/s3"
)

// The bucket row: the same 1M-row xlsx export on the stack, the worker
// writing into the S3 bucket (a multipart upload as rows arrive) against
// writing onto the volume.
const (
	modeStackS3 = "stack-s3"
	// kS3Ratio is volume time / bucket time (≥ 1 means the bucket is as fast).
	kS3Ratio           = "s3.ratio"
	s3Must, s3Aim      = 0.8, 0.9
	measureS3          = "s3"
	kS3RSS             = "s3.rss"
	s3SettingsRequired = "DC_S3_ENDPOINT, DC_S3_BUCKET (and keys)"
)

// S3Config is the bucket of the s3 measure, from the DC_S3_* variables.
type S3Config struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string
}

func (c S3Config) set() bool { return c.Endpoint != "" && c.Bucket != "" }

// s3Env is what a worker writing into the bench's prefix of the bucket gets.
func (b *bench) s3Env() map[string]string {
	c := b.cfg.S3
	return map[string]string{
		"DC_STORAGE": "s3", "DC_S3_ENDPOINT": c.Endpoint, "DC_S3_BUCKET": c.Bucket, "DC_S3_REGION": c.Region,
		"DC_S3_ACCESS_KEY": c.AccessKey, "DC_S3_SECRET_KEY": c.SecretKey, "DC_S3_PREFIX": b.s3Prefix(),
	}
}

func (b *bench) s3Prefix() string { return "bench-" + b.tag + "/" }

// s3Pair measures one run of the bucket row: an xlsx export by a fresh
// worker onto the volume and one into the bucket (the order flips every
// other run).
func (b *bench) s3Pair(ctx context.Context, run int) error {
	store, err := s3.New(ctx, s3.Config{
		Endpoint: b.cfg.S3.Endpoint, Bucket: b.cfg.S3.Bucket, Region: b.cfg.S3.Region, Prefix: b.s3Prefix(),
		AccessKey: b.cfg.S3.AccessKey, SecretKey: b.cfg.S3.SecretKey, PathStyle: true,
	})
	if err != nil {
		return err
	}
	var volume, bucket exportResult
	steps := []func() error{
		func() error {
			r, cleanup, err := b.stackExport(ctx, measureXLSX, b.cfg.Rows)
			if err == nil {
				cleanup()
				volume = r
			}
			return err
		},
		func() error {
			b.workerExtra = b.s3Env()
			defer func() { b.workerExtra = nil }()
			r, t, err := b.stackExportTask(ctx, measureXLSX, b.cfg.Rows)
			if err != nil {
				return err
			}
			if _, _, err := store.Open(fileName(t, measureXLSX)); err != nil {
				return fmt.Errorf("the bucket export's object: %w", err)
			}
			if err := store.Remove(fileName(t, measureXLSX)); err != nil {
				return err
			}
			bucket = r
			return nil
		},
	}
	if run%2 == 0 {
		steps[0], steps[1] = steps[1], steps[0]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	ratio := volume.client.Seconds() / bucket.client.Seconds()
	b.s.add(fmt.Sprintf(kE2ETime, measureXLSX, modeStackS3), bucket.client.Seconds())
	b.s.add(fmt.Sprintf(kE2ETime, measureXLSX, modeStack+"-volume"), volume.client.Seconds())
	b.s.add(kS3Ratio, ratio)
	b.s.add(kS3RSS, float64(bucket.rss))
	b.logf("s3 run %d/%d: xlsx into the bucket %s (worker peak %s), onto the volume %s: %.2f×", run, b.cfg.Runs,
		bucket.client.Round(time.Millisecond), mib(float64(bucket.rss)), volume.client.Round(time.Millisecond), ratio)
	return nil
}

// s3Rows are the bucket row's lines of the table.
func s3Rows(cfg Config, s samples) []row {
	size := humanRows(cfg.Rows)
	speed := row{
		id: "7a",
		measure: fmt.Sprintf("xlsx, %s rows: POST→SUCCESS on MariaDB + RocketMQ, dc-worker writing into the S3 bucket "+
			"(SeaweedFS, multipart) vs onto the volume", size),
		target: fmt.Sprintf("≥ %.1f× / ≥ %.1f× as fast", s3Must, s3Aim),
	}
	if s.has(kS3Ratio) {
		q := s.median(kS3Ratio)
		speed.result = fmt.Sprintf("%.2f× as fast (%s vs %s)", q,
			secs(s.median(fmt.Sprintf(kE2ETime, measureXLSX, modeStackS3))), secs(s.median(fmt.Sprintf(kE2ETime, measureXLSX, modeStack+"-volume"))))
		speed.verdict = judge(q >= s3Must, q >= s3Aim)
	}
	mem := row{
		id:      "7b",
		measure: fmt.Sprintf("peak RSS (VmHWM) of dc-worker exporting xlsx, %s rows into the S3 bucket, fresh process", size),
		target:  fmt.Sprintf("< %d MiB", rssMaxBytes>>20),
	}
	if s.has(kS3RSS) {
		v := s.median(kS3RSS)
		mem.result = mib(v)
		mem.verdict = judge(v < rssMaxBytes, v < rssMaxBytes)
	}
	return []row{speed, mem}
}
