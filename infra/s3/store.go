// Package s3 is the file store on an S3-compatible bucket (AWS S3,
// SeaweedFS, MinIO, Ceph RGW, …), so that workers and the API need no
// shared volume.
//
// A file is written as a multipart upload while the rows arrive: parts of
// PartSize bytes are sent as they fill, a bounded number at a time, so a
// writer's memory stays flat whatever the file's size. The object appears
// under its final key only when the upload is completed, whole; a file
// smaller than one part is sent with a single PUT on Commit. An aborted
// file leaves nothing, and uploads whose writer died are aborted by the
// scheduler (DiscardPending, RemoveStaleTemp) or the bucket's lifecycle rule.
//
// It uses aws-sdk-go-v2: it is AWS's own client, so the standard credential
// chain (environment, shared config and SSO profiles, web identity for
// Kubernetes service accounts, ECS and EC2 instance roles) is the real one,
// presigning is built in, and S3-compatible servers work with an endpoint
// and path-style addressing.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/downloadcenter/dc/domain"
)

// Limits of S3 multipart uploads.
const (
	minPartSize = 5 << 20
	maxParts    = 10000
	// maxLinkTTL is the longest a presigned URL can live (SigV4).
	maxLinkTTL = 7 * 24 * time.Hour
)

// Config says which bucket to use and how to reach it.
type Config struct {
	// Endpoint is the server's URL (http://127.0.0.1:8333); empty means
	// AWS S3 in Region.
	Endpoint string
	Bucket   string
	// Prefix is put before every key, e.g. "exports/". A slash is added
	// when missing.
	Prefix string
	// Region defaults to the credential chain's (AWS_REGION, the profile),
	// else us-east-1, which S3-compatible servers accept.
	Region string
	// AccessKey and SecretKey are static credentials; both empty means the
	// standard AWS credential chain.
	AccessKey, SecretKey string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key; most S3-compatible servers need it.
	PathStyle bool
	// LinkTTL is how long a presigned download link lives when the request
	// names no expiry; default 5 minutes.
	LinkTTL time.Duration
	// PartSize is the size of one upload part; default 8 MiB, at least 5 MiB.
	PartSize int
	// PartsInFlight bounds the parts being sent at once by all uploads of
	// the store; default 2. Memory is (PartsInFlight + running uploads) ×
	// PartSize at most.
	PartsInFlight int
	// OpTimeout bounds one request (a part upload included); default 2 minutes.
	OpTimeout time.Duration
	// HTTPClient overrides the SDK's HTTP client (tests).
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Store keeps files as objects in one bucket under a prefix.
type Store struct {
	client  *awss3.Client
	presign *awss3.PresignClient
	bucket  string
	prefix  string
	linkTTL time.Duration
	partSz  int
	timeout time.Duration
	log     *slog.Logger
	// inflight holds a token for every part being sent.
	inflight chan struct{}
	// free keeps part buffers for reuse across parts and uploads: with a
	// fresh 8 MiB allocation per part, garbage piles up between collections
	// and the heap's peak grows by several parts.
	free chan []byte
}

var (
	_ domain.FileStore        = (*Store)(nil)
	_ domain.FileLinker       = (*Store)(nil)
	_ domain.PendingDiscarder = (*Store)(nil)
)

// New makes a store; it does not contact the server (see Check).
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3: bucket must not be empty")
	}
	if (cfg.AccessKey == "") != (cfg.SecretKey == "") {
		return nil, errors.New("s3: give both the access key and the secret key, or neither (the AWS credential chain)")
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.PartSize < minPartSize {
		return nil, fmt.Errorf("s3: part size %d is below the S3 minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.PartsInFlight <= 0 {
		cfg.PartsInFlight = 2
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 5 * time.Minute
	}
	cfg.LinkTTL = min(cfg.LinkTTL, maxLinkTTL)
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	opts := []func(*awsconfig.LoadOptions) error{
		// Checksums only where S3 requires them: the SDK's default trailing
		// CRC32 (aws-chunked bodies) is not spoken by every S3-compatible
		// server, and parts are plain bytes in memory.
		awsconfig.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		awsconfig.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	prefix := strings.TrimPrefix(cfg.Prefix, "/")
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{
		client: client, presign: awss3.NewPresignClient(client),
		bucket: cfg.Bucket, prefix: prefix, linkTTL: cfg.LinkTTL, partSz: cfg.PartSize,
		timeout: cfg.OpTimeout, log: cfg.Log, inflight: make(chan struct{}, cfg.PartsInFlight),
		free: make(chan []byte, cfg.PartsInFlight+1),
	}, nil
}

// Check reports whether the bucket exists and the credentials may use it.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return fmt.Errorf("s3: bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Refused reports whether the server answered err with a 4xx status (a
// wrong bucket, key or signature): trying again will not help, unlike
// when the server is not reached or answers 5xx.
func Refused(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// Client is the underlying S3 client (tests look at the bucket with it).
func (s *Store) Client() *awss3.Client { return s.client }

// Bucket is the store's bucket.
func (s *Store) Bucket() string { return s.bucket }

// Key is the object key a file name is stored under.
func (s *Store) Key(name string) string { return s.prefix + name }

// checkName refuses names that are not one path segment, as localfs does.
func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}

func (s *Store) getBuf() []byte {
	select {
	case b := <-s.free:
		return b[:0]
	default:
		return make([]byte, 0, s.partSz)
	}
}

func (s *Store) putBuf(b []byte) {
	select {
	case s.free <- b:
	default: // enough kept; the collector takes this one
	}
}

// opCtx bounds one request.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Create starts a file that appears under name only on Commit.
func (s *Store) Create(name string) (domain.PendingFile, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	return &upload{s: s, key: s.Key(name), ctx: ctx, cancel: cancel}, nil
}

// upload is a file being written. Write and Commit/Abort are called by one
// goroutine; part uploads run in their own and report through mu.
type upload struct {
	s      *Store
	key    string
	ctx    context.Context
	cancel context.CancelCauseFunc
	buf    []byte // the part being filled; nil when none
	size   int64
	id     string // the multipart upload's id; "" until the first part is full
	next   int32  // the next part's number
	wg     sync.WaitGroup
	done   bool

	mu    sync.Mutex
	parts []types.CompletedPart
	err   error // the first failed part
}

func (u *upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *upload) fail(err error) {
	u.mu.Lock()
	if u.err == nil {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel(err) // stop the other parts: the upload is lost
}

func (u *upload) Write(b []byte) (int, error) {
	if u.done {
		return 0, errors.New("write to a committed or aborted file")
	}
	if err := u.failure(); err != nil {
		return 0, err
	}
	n := 0
	for len(b) > 0 {
		if u.buf == nil {
			u.buf = u.s.getBuf()
		}
		k := copy(u.buf[len(u.buf):cap(u.buf)], b)
		u.buf = u.buf[:len(u.buf)+k]
		b = b[k:]
		n += k
		u.size += int64(k)
		if len(u.buf) == cap(u.buf) {
			if err := u.sendPart(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// sendPart hands the filled buffer to a goroutine that uploads it, once a
// slot is free: a writer faster than the network waits here.
func (u *upload) sendPart() error {
	buf := u.buf
	u.buf = nil
	if u.id == "" {
		ctx, cancel := u.s.opCtx(u.ctx)
		out, err := u.s.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &u.s.bucket, Key: &u.key})
		cancel()
		if err != nil {
			u.s.putBuf(buf)
			err = fmt.Errorf("start upload of %s: %w", u.key, err)
			u.fail(err)
			return err
		}
		u.id = aws.ToString(out.UploadId)
	}
	if u.next >= maxParts {
		u.s.putBuf(buf)
		err := fmt.Errorf("file %s exceeds %d parts of %d bytes", u.key, maxParts, u.s.partSz)
		u.fail(err)
		return err
	}
	u.next++
	num := u.next
	select {
	case u.s.inflight <- struct{}{}:
	case <-u.ctx.Done():
		u.s.putBuf(buf)
		return u.stopped()
	}
	u.wg.Go(func() {
		defer func() { <-u.s.inflight }()
		defer u.s.putBuf(buf)
		ctx, cancel := u.s.opCtx(u.ctx)
		defer cancel()
		out, err := u.s.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: &u.s.bucket, Key: &u.key, UploadId: &u.id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(buf), ContentLength: aws.Int64(int64(len(buf))),
		})
		if err != nil {
			if u.ctx.Err() == nil {
				u.fail(fmt.Errorf("upload part %d of %s: %w", num, u.key, err))
			}
			return
		}
		u.mu.Lock()
		u.parts = append(u.parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		u.mu.Unlock()
	})
	return nil
}

// stopped is the error of an upload whose context ended.
func (u *upload) stopped() error {
	if err := u.failure(); err != nil {
		return err
	}
	return fmt.Errorf("upload of %s stopped: %w", u.key, context.Cause(u.ctx))
}

// Commit sends what is left and completes the upload: only then does the
// object appear, whole. On failure the upload is aborted.
func (u *upload) Commit() (int64, error) {
	if u.done {
		return 0, errors.New("file already committed or aborted")
	}
	if err := u.commit(); err != nil {
		_ = u.Abort()
		return 0, fmt.Errorf("commit %s: %w", u.key, err)
	}
	u.done = true
	u.cancel(nil)
	return u.size, nil
}

func (u *upload) commit() error {
	if err := u.failure(); err != nil {
		return err
	}
	if u.id == "" {
		// Smaller than one part: one PUT is atomic too.
		body := u.buf
		if body == nil {
			body = []byte{}
		}
		ctx, cancel := u.s.opCtx(u.ctx)
		defer cancel()
		_, err := u.s.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: &u.s.bucket, Key: &u.key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
		})
		if u.buf != nil {
			u.s.putBuf(u.buf)
			u.buf = nil
		}
		return err
	}
	if u.buf != nil {
		if err := u.sendPart(); err != nil {
			return err
		}
	}
	u.wg.Wait()
	if err := u.failure(); err != nil {
		return err
	}
	if u.ctx.Err() != nil {
		return u.stopped()
	}
	u.mu.Lock()
	parts := slices.Clone(u.parts)
	u.mu.Unlock()
	if len(parts) != int(u.next) {
		return fmt.Errorf("%d of %d parts sent", len(parts), u.next)
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	ctx, cancel := u.s.opCtx(u.ctx)
	defer cancel()
	_, err := u.s.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: &u.s.bucket, Key: &u.key, UploadId: &u.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("complete upload: %w", err)
	}
	u.id = "" // nothing left to abort
	return nil
}

// Abort stops the parts being sent and aborts the upload, so the bucket
// keeps nothing of it. It is a no-op after Commit.
func (u *upload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	u.cancel(errors.New("aborted"))
	u.wg.Wait()
	if u.buf != nil {
		u.s.putBuf(u.buf)
		u.buf = nil
	}
	if u.id == "" {
		return nil
	}
	// The run's own context may be gone (a cancel, a shutdown): the abort
	// gets its own.
	ctx, cancel := u.s.opCtx(context.Background())
	defer cancel()
	err := u.s.abort(ctx, u.key, u.id)
	if err != nil {
		return fmt.Errorf("abort upload of %s: %w", u.key, err)
	}
	return nil
}

func (s *Store) abort(ctx context.Context, key, id string) error {
	_, err := s.client.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &id})
	var nsu *types.NoSuchUpload
	if errors.As(err, &nsu) || apiCode(err) == "NoSuchUpload" {
		return nil
	}
	return err
}

// apiCode is the S3 error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNotFound reports whether err says the object does not exist.
func isNotFound(err error) bool {
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return true
	}
	switch apiCode(err) {
	case "NotFound", "NoSuchKey":
		return true
	}
	return false
}

// head returns the object's metadata; a missing object is fs.ErrNotExist.
func (s *Store) head(ctx context.Context, name string) (*awss3.HeadObjectOutput, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.Key(name))})
	if isNotFound(err) {
		return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	return out, nil
}

// Open opens a committed file for reading. Reads are ranged GETs from the
// current offset, so a Range request costs one GET of just that range.
func (s *Store) Open(name string) (io.ReadSeekCloser, time.Time, error) {
	h, err := s.head(context.Background(), name)
	if err != nil {
		return nil, time.Time{}, err
	}
	return &object{s: s, key: s.Key(name), etag: h.ETag, size: aws.ToInt64(h.ContentLength)}, aws.ToTime(h.LastModified), nil
}

// object reads one object; Seek only moves the offset, the next Read
// starts a GET there.
type object struct {
	s    *Store
	key  string
	etag *string
	size int64
	off  int64
	body io.ReadCloser
}

func (o *object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if o.body == nil {
		out, err := o.s.client.GetObject(context.Background(), &awss3.GetObjectInput{
			Bucket: &o.s.bucket, Key: &o.key, Range: aws.String(fmt.Sprintf("bytes=%d-", o.off)),
			// The same object the size came from, not one written since.
			IfMatch: o.etag,
		})
		if err != nil {
			return 0, fmt.Errorf("read %s at %d: %w", o.key, o.off, err)
		}
		o.body = out.Body
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	if errors.Is(err, io.EOF) && o.off < o.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (o *object) Seek(offset int64, whence int) (int64, error) {
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent:
		to = o.off + offset
	case io.SeekEnd:
		to = o.size + offset
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if to < 0 {
		return 0, errors.New("seek: negative position")
	}
	if to != o.off && o.body != nil {
		_ = o.body.Close()
		o.body = nil
	}
	o.off = to
	return to, nil
}

func (o *object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}

// Link presigns a GET of the committed file that answers with the
// request's Content-Disposition and Content-Type and expires at
// req.Until (the store's LinkTTL when zero). A missing file is
// fs.ErrNotExist, so the caller can answer 410 rather than redirect to
// the bucket's error.
func (s *Store) Link(ctx context.Context, name string, req domain.LinkRequest) (string, error) {
	if _, err := s.head(ctx, name); err != nil {
		return "", err
	}
	ttl := s.linkTTL
	if !req.Until.IsZero() {
		ttl = min(time.Until(req.Until), maxLinkTTL)
		if ttl < time.Second {
			return "", errors.New("link: expiry is in the past")
		}
	}
	in := &awss3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.Key(name))}
	if req.ContentDisposition != "" {
		in.ResponseContentDisposition = aws.String(req.ContentDisposition)
	}
	if req.ContentType != "" {
		in.ResponseContentType = aws.String(req.ContentType)
	}
	out, err := s.presign.PresignGetObject(ctx, in, awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign %s: %w", name, err)
	}
	return out.URL, nil
}

// Remove deletes a committed file; a missing one is not an error.
func (s *Store) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	ctx, cancel := s.opCtx(context.Background())
	defer cancel()
	if _, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.Key(name))}); err != nil && !isNotFound(err) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// pendingUpload is an unfinished multipart upload under the prefix.
type pendingUpload struct {
	key, id   string
	initiated time.Time
}

// pending lists the unfinished uploads whose key starts with prefix.
func (s *Store) pending(ctx context.Context, prefix string) ([]pendingUpload, error) {
	var out []pendingUpload
	in := &awss3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	for {
		lctx, cancel := s.opCtx(ctx)
		page, err := s.client.ListMultipartUploads(lctx, in)
		cancel()
		if err != nil {
			return out, fmt.Errorf("list unfinished uploads: %w", err)
		}
		for _, u := range page.Uploads {
			out = append(out, pendingUpload{key: aws.ToString(u.Key), id: aws.ToString(u.UploadId), initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(page.IsTruncated) || (page.NextKeyMarker == nil && page.NextUploadIdMarker == nil) {
			return out, nil
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
}

// DiscardPending aborts the unfinished uploads of the file name: the
// scheduler calls it for an attempt whose worker is gone.
func (s *Store) DiscardPending(ctx context.Context, name string) (int, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	key := s.Key(name)
	ups, err := s.pending(ctx, key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range ups {
		if u.key != key {
			continue
		}
		actx, cancel := s.opCtx(ctx)
		err := s.abort(actx, u.key, u.id)
		cancel()
		if err != nil {
			return n, fmt.Errorf("abort upload of %s: %w", key, err)
		}
		n++
	}
	return n, nil
}

// RemoveStaleTemp aborts the unfinished uploads under the prefix that were
// started more than olderThan ago (left by a process that died, when the
// scheduler did not get to them first). Keys deeper than one segment below
// the prefix are not ours and are left alone.
func (s *Store) RemoveStaleTemp(olderThan time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.timeout)
	defer cancel()
	ups, err := s.pending(ctx, s.prefix)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-olderThan)
	n := 0
	var errs []error
	for _, u := range ups {
		if checkName(strings.TrimPrefix(u.key, s.prefix)) != nil || u.initiated.After(cutoff) {
			continue
		}
		actx, acancel := s.opCtx(ctx)
		err := s.abort(actx, u.key, u.id)
		acancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("abort upload of %s: %w", u.key, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
