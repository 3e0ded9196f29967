package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/filestoretest"
	"github.com/downloadcenter/dc/infra/s3"
	"github.com/downloadcenter/dc/infra/s3/s3test"
)

const partSize = 5 << 20 // the S3 minimum: the tests' files span parts quickly

func testStore(t *testing.T) *s3.Store {
	t.Helper()
	cfg, ok := s3test.Config(t)
	if !ok {
		t.SkipNow()
	}
	cfg.PartSize = partSize
	return s3test.New(t, cfg)
}

func TestFileStoreSuite(t *testing.T) {
	filestoretest.Run(t, 2*partSize+12345, func(t *testing.T) domain.FileStore { return testStore(t) })
}

// The object appears only when the multipart upload completes: while
// parts are being sent there is an upload and no object.
func TestMultipartUploadIsInvisibleUntilCommit(t *testing.T) {
	s := testStore(t)
	p, err := s.Create("task-1-1.xlsx")
	require.NoError(t, err)
	want := make([]byte, 3*partSize+1)
	_, _ = rand.Read(want)
	_, err = p.Write(want[:2*partSize+10])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s3test.Uploads(t, s)) == 1 }, 10*time.Second, 50*time.Millisecond)
	require.Empty(t, s3test.Objects(t, s), "no object, half or whole, before commit")
	_, err = p.Write(want[2*partSize+10:])
	require.NoError(t, err)
	size, err := p.Commit()
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), size)
	require.Equal(t, []string{s.Key("task-1-1.xlsx")}, s3test.Objects(t, s))
	require.Empty(t, s3test.Uploads(t, s), "the completed upload is gone")
	f, _, err := s.Open("task-1-1.xlsx")
	require.NoError(t, err)
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.True(t, bytes.Equal(want, got))
}

// A small file is one PUT: no multipart upload is ever started.
func TestSmallFileIsOnePut(t *testing.T) {
	s := testStore(t)
	p, err := s.Create("task-2-1.csv")
	require.NoError(t, err)
	_, err = p.Write([]byte("a,b\n1,2\n"))
	require.NoError(t, err)
	require.Empty(t, s3test.Uploads(t, s))
	require.Empty(t, s3test.Objects(t, s))
	_, err = p.Commit()
	require.NoError(t, err)
	require.Equal(t, []string{s.Key("task-2-1.csv")}, s3test.Objects(t, s))
}

// DiscardPending aborts the upload of a writer that is gone; the writer,
// should it still be alive, then cannot commit.
func TestDiscardPending(t *testing.T) {
	s := testStore(t)
	p, err := s.Create("task-3-2.csv")
	require.NoError(t, err)
	_, err = p.Write(make([]byte, partSize+1))
	require.NoError(t, err)
	other, err := s.Create("task-3-3.csv")
	require.NoError(t, err)
	_, err = other.Write(make([]byte, partSize+1))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(s3test.Uploads(t, s)) == 2 }, 10*time.Second, 50*time.Millisecond)

	n, err := s.DiscardPending(context.Background(), "task-3-2.csv")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ups := s3test.Uploads(t, s)
	require.Len(t, ups, 1, "only that file's upload")
	require.Equal(t, s.Key("task-3-3.csv"), *ups[0].Key)
	_, err = p.Commit()
	require.Error(t, err)
	require.NotContains(t, s3test.Objects(t, s), s.Key("task-3-2.csv"))
	n, err = s.DiscardPending(context.Background(), "task-3-2.csv")
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, other.Abort())
}

// A download link is a presigned GET that serves the file under the
// download's name and type, answers ranges, and expires.
func TestLink(t *testing.T) {
	s := testStore(t)
	p, err := s.Create("task-4-1.csv")
	require.NoError(t, err)
	_, err = p.Write([]byte("0123456789"))
	require.NoError(t, err)
	_, err = p.Commit()
	require.NoError(t, err)

	url, err := s.Link(context.Background(), "task-4-1.csv", domain.LinkRequest{
		ContentDisposition: `attachment; filename="Orders.csv"`, ContentType: "text/csv; charset=utf-8",
	})
	require.NoError(t, err)
	res, err := http.Get(url)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	require.Equal(t, "0123456789", string(body))
	require.Equal(t, `attachment; filename="Orders.csv"`, res.Header.Get("Content-Disposition"))
	require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Range", "bytes=3-5")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusPartialContent, res.StatusCode)
	require.Equal(t, "345", string(body))

	short, err := s.Link(context.Background(), "task-4-1.csv", domain.LinkRequest{Until: time.Now().Add(1500 * time.Millisecond)})
	require.NoError(t, err)
	time.Sleep(2600 * time.Millisecond)
	res, err = http.Get(short)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode, "an expired link is refused")

	_, err = s.Link(context.Background(), "task-5-1.csv", domain.LinkRequest{})
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// With the server unreachable a write of a full part or a commit fails,
// and no object appears.
func TestUnreachableServerFailsTheFile(t *testing.T) {
	cfg, ok := s3test.Config(t)
	if !ok {
		t.SkipNow()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	cfg.Endpoint, cfg.PartSize = "http://"+addr, partSize
	s, err := s3.New(context.Background(), cfg)
	require.NoError(t, err)
	require.Error(t, s.Check(context.Background()))

	p, err := s.Create("task-6-1.csv")
	require.NoError(t, err)
	_, err = p.Write(make([]byte, 2*partSize))
	if err == nil {
		_, err = p.Commit()
	}
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "connect") || strings.Contains(err.Error(), "refused"), err.Error())
	require.NoError(t, p.Abort())

	small, err := s.Create("task-7-1.csv")
	require.NoError(t, err)
	_, err = small.Write([]byte("x"))
	require.NoError(t, err, "buffered")
	_, err = small.Commit()
	require.Error(t, err)
}

func TestConfigErrors(t *testing.T) {
	_, err := s3.New(context.Background(), s3.Config{})
	require.ErrorContains(t, err, "bucket")
	_, err = s3.New(context.Background(), s3.Config{Bucket: "b", AccessKey: "k"})
	require.ErrorContains(t, err, "both")
	_, err = s3.New(context.Background(), s3.Config{Bucket: "b", AccessKey: "k", SecretKey: "s", PartSize: 1 << 20})
	require.ErrorContains(t, err, "5 MiB")
}
