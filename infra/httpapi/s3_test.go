package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/demo"
	"github.com/downloadcenter/dc/infra/httpapi"
	"github.com/downloadcenter/dc/infra/memqueue"
	"github.com/downloadcenter/dc/infra/mysql"
	"github.com/downloadcenter/dc/infra/s3"
	"github.com/downloadcenter/dc/infra/s3/s3test"
)

// TestDownloadFromBucket serves a file kept in the bucket both ways: a
// redirect to a presigned URL, and streamed through the API (DC_S3_PROXY).
// Either way the client gets the same name, type, bytes and ranges.
func TestDownloadFromBucket(t *testing.T) {
	cfg, ok := s3test.Config(t)
	if !ok {
		t.SkipNow()
	}
	files := s3test.New(t, cfg)
	log := slog.New(slog.DiscardHandler)
	store, err := mysql.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "dc.db"), log)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	tasks := &domain.Tasks{
		Store: store, Sender: memqueue.New(100, time.Second), Providers: domain.Registry{demo.Type: demo.New()},
		Now: func() time.Time { return time.Now().UTC() }, Log: log,
	}
	keys := &domain.Keys{Store: store, Now: func() time.Time { return time.Now().UTC() }, CacheTTL: time.Minute}
	key, _, err := keys.Create(context.Background(), "acme", "tests", domain.DefaultScopes)
	require.NoError(t, err)
	serve := func(links domain.FileLinker) *httptest.Server {
		srv := httptest.NewServer(httpapi.New(httpapi.Config{Tasks: tasks, Auth: keys, Files: files, Redirects: links, Log: log}))
		t.Cleanup(srv.Close)
		return srv
	}
	redirecting, proxying := serve(files), serve(nil)

	ctx := context.Background()
	post, err := http.NewRequest(http.MethodPost, redirecting.URL+"/api/v1/tasks",
		strings.NewReader(`{"name":"Résumé Q3","type":"demo","format":"csv","params":{"rows":1}}`))
	require.NoError(t, err)
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(post)
	require.NoError(t, err)
	var tk struct{ ID int64 }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&tk))
	res.Body.Close()
	now := time.Now().UTC()
	claimed, err := store.Claim(ctx, tk.ID, "w", now, now.Add(time.Minute))
	require.NoError(t, err)
	content := []byte("id,name\n1,é\n2,ü\n")
	name := domain.FileName(claimed)
	pf, err := files.Create(name)
	require.NoError(t, err)
	_, err = pf.Write(content)
	require.NoError(t, err)
	size, err := pf.Commit()
	require.NoError(t, err)
	require.NoError(t, store.Succeed(ctx, domain.Owner{TaskID: tk.ID, Worker: "w", Attempt: 1},
		domain.FileInfo{Name: name, Size: size, Rows: 2, Sheets: 1}, now))
	path := fmt.Sprintf("/api/v1/tasks/%d/file", tk.ID)
	wantCD := `attachment; filename="R_sum_ Q3.csv"; filename*=UTF-8''R%C3%A9sum%C3%A9%20Q3.csv`

	get := func(c *http.Client, url string, hdr ...string) (*http.Response, []byte) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res, b
	}
	// The key is for the API only, never for the bucket a redirect leads to.
	follow := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		req.Header.Del("Authorization")
		return nil
	}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	t.Run("redirect", func(t *testing.T) {
		res, _ := get(noFollow, redirecting.URL+path)
		require.Equal(t, http.StatusFound, res.StatusCode)
		loc := res.Header.Get("Location")
		require.True(t, strings.HasPrefix(loc, cfg.Endpoint+"/"+cfg.Bucket+"/"+files.Key(name)+"?"), loc)
		require.Contains(t, loc, "X-Amz-Signature=")
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))

		res, body := get(follow, redirecting.URL+path)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, content, body)
		require.Equal(t, wantCD, res.Header.Get("Content-Disposition"))
		require.Equal(t, "text/csv; charset=utf-8", res.Header.Get("Content-Type"))

		res, body = get(follow, redirecting.URL+path, "Range", "bytes=3-6")
		require.Equal(t, http.StatusPartialContent, res.StatusCode)
		require.Equal(t, content[3:7], body)
	})
	t.Run("proxy", func(t *testing.T) {
		res, body := get(noFollow, proxying.URL+path)
		require.Equal(t, http.StatusOK, res.StatusCode, string(body))
		require.Equal(t, content, body)
		require.Equal(t, wantCD, res.Header.Get("Content-Disposition"))
		require.Equal(t, fmt.Sprint(len(content)), res.Header.Get("Content-Length"))

		res, body = get(noFollow, proxying.URL+path, "Range", "bytes=3-6")
		require.Equal(t, http.StatusPartialContent, res.StatusCode)
		require.Equal(t, content[3:7], body)
		require.Equal(t, fmt.Sprintf("bytes 3-6/%d", len(content)), res.Header.Get("Content-Range"))
	})
	t.Run("gone", func(t *testing.T) {
		require.NoError(t, files.Remove(name))
		for _, srv := range []*httptest.Server{redirecting, proxying} {
			res, body := get(noFollow, srv.URL+path)
			require.Equal(t, http.StatusGone, res.StatusCode, string(body))
			require.Contains(t, string(body), "no longer stored")
		}
	})
}

var _ domain.FileLinker = (*s3.Store)(nil)
