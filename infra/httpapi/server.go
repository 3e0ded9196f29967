// Package httpapi is Download Center's REST API on gin: it turns requests
// into domain use cases and domain results and errors into JSON. It never
// waits for an export.
package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/downloadcenter/dc/domain"
)

// DefaultMaxBody bounds a request body.
const DefaultMaxBody = 1 << 20

// Server serves the API.
type Server struct {
	tasks *domain.Tasks
	auth  Authenticator
	links *Links
	files domain.FileStore
	// redirects, when set, answers downloads with a store's link.
	redirects domain.FileLinker
	log       *slog.Logger
	maxBody   int64
	observe   RequestObserver
	webhooks  *domain.Webhooks

	// The download center page, sessions and live events (issue 13).
	sessions       *Sessions
	changes        *domain.Changes
	ui             fs.FS
	frameAncestors string
	corsCfg        *CORS
	shutdown       <-chan struct{}
}

// Config is what the API needs.
type Config struct {
	Tasks *domain.Tasks
	// Auth checks the API key every /api/v1 request must carry.
	Auth Authenticator
	// Links signs the file links of task JSON and checks them on download.
	Links *Links
	Files domain.FileStore
	// Redirects, when set, serves downloads (authenticated and by signed
	// link) by redirecting to a link of the store (a presigned bucket URL)
	// instead of streaming the file.
	Redirects domain.FileLinker
	// Health checks the database for /readyz; nil means no check. /healthz
	// is liveness and checks nothing.
	Health func(context.Context) error
	// Ready lists further readiness checks.
	Ready []Check
	// Metrics serves /metrics when set.
	Metrics http.Handler
	// Observe hears every request served, for metrics; nil means none.
	Observe RequestObserver
	Log     *slog.Logger
	MaxBody int64
	// Webhooks manages the tenants' webhook endpoints; nil answers 404
	// on /api/v1/webhooks.
	Webhooks *domain.Webhooks

	// The download center page, sessions and live events.
	//
	// Sessions signs and checks end users' session tokens; nil disables
	// POST /api/v1/sessions and session tokens.
	Sessions *Sessions
	// Changes feeds GET /api/v1/events; nil answers it 404.
	Changes *domain.Changes
	// UI is the page's files (index.html, assets/…) served at /ui/; nil
	// serves no page.
	UI fs.FS
	// FrameAncestors is the page's CSP frame-ancestors; empty means
	// DefaultFrameAncestors.
	FrameAncestors string
	// CORS, when set, answers cross-origin callers of /api/v1 from its
	// origins.
	CORS *CORS
	// Shutdown is closed when the server starts shutting down: event
	// streams end then, so the shutdown does not wait for them.
	Shutdown <-chan struct{}
}

// RequestObserver hears each served request: route is the matched route
// template ("/api/v1/tasks/:id"), empty when none matched.
type RequestObserver interface {
	ObserveRequest(route, method string, status int, d time.Duration)
}

// New returns the API's handler.
func New(cfg Config) http.Handler {
	gin.SetMode(gin.ReleaseMode)
	if cfg.Auth == nil {
		panic("httpapi: Config.Auth is required: every /api/v1 request is authenticated")
	}
	s := &Server{tasks: cfg.Tasks, auth: cfg.Auth, links: cfg.Links, files: cfg.Files, redirects: cfg.Redirects,
		log: cfg.Log, maxBody: cfg.MaxBody, observe: cfg.Observe, webhooks: cfg.Webhooks,
		sessions: cfg.Sessions, changes: cfg.Changes, ui: cfg.UI, frameAncestors: cfg.FrameAncestors, corsCfg: cfg.CORS,
		shutdown: cfg.Shutdown}
	if s.frameAncestors == "" {
		s.frameAncestors = DefaultFrameAncestors
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A path with a trailing slash is no endpoint: a 404 problem, not a
	// redirect whose body is HTML.
	r.RedirectTrailingSlash = false
	r.Use(s.requestID, s.recover, s.accessLog, writeDeadline, s.cors)
	r.NoRoute(func(c *gin.Context) { writeProblem(c, http.StatusNotFound, "no such endpoint", nil) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, http.StatusMethodNotAllowed, c.Request.Method+" is not allowed here", nil)
	})
	checks := cfg.Ready
	if cfg.Health != nil {
		checks = append([]Check{{Name: "database", Probe: cfg.Health}}, checks...)
	}
	r.GET("/healthz", gin.WrapF(Healthz))
	r.GET("/readyz", gin.WrapF(Readyz(checks, s.log)))
	if cfg.Metrics != nil {
		r.GET("/metrics", gin.WrapH(cfg.Metrics))
	}
	r.GET("/docs", serveDocs)
	r.GET("/docs/assets/:file", serveDocsAsset)
	r.GET(linkPrefix+":token", s.linkDownload)
	// The contract is public, like the reference page built from it; every
	// other /api/v1 route needs a key.
	r.GET("/api/v1/openapi.json", serveOpenAPI)
	v1 := r.Group("/api/v1", s.authenticate)
	v1.GET("/types", s.types)
	v1.POST("/tasks", s.create)
	v1.GET("/tasks", s.list)
	v1.GET("/tasks/:id", s.get)
	v1.GET("/tasks/:id/file", s.download)
	// Download managers ask for the size first.
	v1.HEAD("/tasks/:id/file", s.download)
	v1.POST("/tasks/:id/cancel", s.cancel)
	v1.POST("/tasks/:id/retry", s.retry)
	// Completion webhooks (webhooks.go).
	v1.POST("/webhooks", s.createWebhook)
	v1.GET("/webhooks", s.listWebhooks)
	v1.GET("/webhooks/:id", s.getWebhook)
	v1.DELETE("/webhooks/:id", s.deleteWebhook)
	v1.POST("/webhooks/:id/rotate-secret", s.rotateWebhookSecret)
	v1.GET("/webhooks/:id/deliveries", s.webhookDeliveries)
	v1.POST("/webhooks/:id/deliveries/:delivery/redeliver", s.redeliver)
	// The download center page: sessions for end users, their live
	// events, and the page itself.
	v1.POST("/sessions", s.createSession)
	v1.GET("/events", s.events)
	if s.ui != nil {
		r.GET("/ui", uiRedirect)
		r.GET(uiPath, s.uiIndex)
		r.GET(uiPath+"assets/:file", s.uiAsset)
	}
	return r
}

// recover turns a panic into a logged 500 problem.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.fail(c, fmt.Errorf("panic: %v", v))
		}
	}()
	c.Next()
}

// accessLog logs every request at info with its route template, never
// its path: a link's path holds its signature, and the key is never
// logged at all.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	route := c.FullPath()
	if route == "" {
		route = "(no route)"
	}
	a := actor(c)
	s.logOf(c).Info("http request", "method", c.Request.Method, "route", route,
		"status", c.Writer.Status(), "duration", d, "tenant", a.Tenant, "key_id", a.KeyID)
	if s.observe != nil {
		s.observe.ObserveRequest(c.FullPath(), c.Request.Method, c.Writer.Status(), d)
	}
}

// createBody is the create request.
type createBody struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Format  domain.Format   `json:"format"`
	Params  json.RawMessage `json:"params"`
	Columns []domain.Column `json:"columns"`
}

// readJSON reads a request body that must be declared JSON and fit
// maxBody, and decodes it into v strictly (rule names the keys it may
// hold); otherwise it answers the problem and reports false.
func (s *Server) readJSON(c *gin.Context, v any, rule *keyRule) bool {
	// A missing Content-Type is refused like a wrong one (as README and
	// the OpenAPI document say).
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		writeProblem(c, http.StatusUnsupportedMediaType, "the body must be sent with Content-Type: application/json", nil)
		return false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d bytes", s.maxBody), nil)
			return false
		}
		writeProblem(c, http.StatusBadRequest, "could not read the body", nil)
		return false
	}
	err = decodeStrict(raw, v)
	if err == nil {
		err = checkKeys(raw, rule)
	}
	if err != nil {
		writeProblem(c, http.StatusBadRequest, err.Error(), nil)
		return false
	}
	return true
}

func (s *Server) create(c *gin.Context) {
	var body createBody
	if !s.readJSON(c, &body, createRule) {
		return
	}
	t, created, err := s.tasks.Create(c.Request.Context(), actor(c), domain.CreateRequest{
		Name: body.Name, Type: body.Type, Format: body.Format, Params: body.Params, Columns: body.Columns,
		IdempotencyKey: c.GetHeader("Idempotency-Key"),
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	if !created {
		c.Header("Idempotent-Replayed", "true")
	}
	c.Header("Location", taskPath(t.ID))
	c.JSON(http.StatusAccepted, s.view(t))
}

// decodeStrict decodes one JSON object, naming what is wrong with it.
func decodeStrict(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New("the body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fmt.Errorf("the body must be a JSON object, not %s", typ.Value)
		}
		return fmt.Errorf("field %q must be %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("malformed JSON: unexpected end of input")
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	case err != nil:
		return fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the JSON object")
	}
	return nil
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "float64", "float32", "int", "int64":
		return "a number"
	case "bool":
		return "a boolean"
	}
	return goKind
}

// taskID parses the :id segment; anything but a positive integer is a
// task that does not exist.
func taskID(c *gin.Context) (int64, bool) { return pathID(c, "id", "task") }

func (s *Server) get(c *gin.Context) {
	id, ok := taskID(c)
	if !ok {
		return
	}
	t, err := s.tasks.Get(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.view(t))
}

func (s *Server) list(c *gin.Context) {
	q := domain.ListQuery{Status: domain.Status(strings.ToUpper(c.Query("status"))), Type: c.Query("type"), Owner: c.Query("owner"), Limit: 50}
	var fe domain.FieldErrors
	expand := false
	switch v := c.Query("expand"); v {
	case "":
	case "params":
		expand = true
	default:
		fe.Add("expand", "must be params, not %q", v)
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fe.Add("limit", "must be an integer between 1 and 500")
		}
		q.Limit = n
	}
	if v := c.Query("cursor"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			fe.Add("cursor", "is not a cursor this API returned")
		}
		q.BeforeID = id
	}
	if err := fe.Err(); err != nil {
		s.fail(c, err)
		return
	}
	ts, err := s.tasks.List(c.Request.Context(), actor(c), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	// List items leave out params and columns (up to 16 KiB and 200
	// columns each) unless asked for, so a page stays small.
	items := make([]taskView, len(ts))
	for i, t := range ts {
		items[i] = s.view(t)
		if !expand {
			items[i].Params, items[i].Columns = nil, nil
		}
	}
	var next *string
	if len(ts) > 0 && len(ts) == q.Limit {
		cur := encodeCursor(ts[len(ts)-1].ID)
		next = &cur
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "next_cursor": next})
}

func encodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("id:" + strconv.FormatInt(id, 10)))
}

func decodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || !bytes.HasPrefix(b, []byte("id:")) {
		return 0, errors.New("bad cursor")
	}
	id, err := strconv.ParseInt(string(b[3:]), 10, 64)
	if err != nil || id <= 0 {
		return 0, errors.New("bad cursor")
	}
	return id, nil
}

func (s *Server) cancel(c *gin.Context) {
	id, ok := taskID(c)
	if !ok {
		return
	}
	t, err := s.tasks.Cancel(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A running task stops at its worker's next heartbeat: accepted, not
	// done yet. A waiting one is cancelled now.
	status := http.StatusOK
	if t.Status == domain.StatusExecuting {
		status = http.StatusAccepted
	}
	c.JSON(status, s.view(t))
}

func (s *Server) retry(c *gin.Context) {
	id, ok := taskID(c)
	if !ok {
		return
	}
	t, err := s.tasks.Retry(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", taskPath(t.ID))
	c.JSON(http.StatusAccepted, s.view(t))
}

var contentTypes = map[domain.Format]string{
	domain.FormatXLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	domain.FormatCSV:  "text/csv; charset=utf-8",
}

func (s *Server) download(c *gin.Context) {
	id, ok := taskID(c)
	if !ok {
		return
	}
	t, err := s.tasks.FileOf(c.Request.Context(), actor(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.serveFile(c, t)
}

// linkDownload serves the file a signed link names, with no API key.
func (s *Server) linkDownload(c *gin.Context) {
	if s.links == nil {
		writeProblem(c, http.StatusNotFound, "no such endpoint", nil)
		return
	}
	k, err := s.links.verify(c.Param("token"))
	if err != nil {
		writeProblem(c, http.StatusForbidden, err.Error(), nil)
		return
	}
	t, err := s.tasks.LinkedFile(c.Request.Context(), k.Task, k.Attempt)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.serveFile(c, t)
}

func (s *Server) serveFile(c *gin.Context, t *domain.Task) {
	id := t.ID
	name := downloadName(t.Name, string(t.Format))
	if s.redirects != nil {
		s.redirect(c, t, name)
		return
	}
	f, mod, err := s.files.Open(t.File.Name)
	if errors.Is(err, fs.ErrNotExist) {
		fileGone(c, id)
		return
	}
	if err != nil {
		s.fail(c, fmt.Errorf("open file of task %d: %w", id, err))
		return
	}
	defer f.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", contentTypes[t.Format])
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("ETag", fmt.Sprintf(`"%d-%d-%d"`, t.ID, t.Attempts, t.File.Size))
	h.Set("Cache-Control", "private, max-age=0")
	// ServeContent answers Range, If-Range and conditional requests and
	// sets Content-Length.
	http.ServeContent(newProgressWriter(c.Writer), c.Request, name, mod, f)
}

func fileGone(c *gin.Context, id int64) {
	writeProblem(c, http.StatusGone, fmt.Sprintf("the file of task %d is no longer stored; retry the task to make it again", id), nil)
}

// redirect answers a download with 302 to a link the store made, which
// serves the same name and type (and Range) as a streamed download would.
func (s *Server) redirect(c *gin.Context, t *domain.Task, name string) {
	url, err := s.redirects.Link(c.Request.Context(), t.File.Name, domain.LinkRequest{
		ContentDisposition: contentDisposition(name), ContentType: contentTypes[t.Format],
	})
	if errors.Is(err, fs.ErrNotExist) {
		fileGone(c, t.ID)
		return
	}
	if err != nil {
		s.fail(c, fmt.Errorf("link to the file of task %d: %w", t.ID, err))
		return
	}
	// The link expires: a cache must not keep the redirect.
	c.Header("Cache-Control", "no-store")
	c.Redirect(http.StatusFound, url)
}

// downloadName makes a file name from the task's name: characters that
// file systems or headers reject become '_'.
func downloadName(taskName, ext string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(taskName) {
		switch {
		case r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|;`, r) || unicode.IsControl(r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	base := strings.Trim(b.String(), ". ")
	if base == "" {
		base = "export"
	}
	return base + "." + ext
}

// contentDisposition follows RFC 6266: an ASCII fallback in filename and
// the exact name, percent-encoded UTF-8, in filename*.
func contentDisposition(name string) string {
	ascii := make([]rune, 0, len(name))
	plain := true
	for _, r := range name {
		if r > 0x7e || r == '%' {
			ascii = append(ascii, '_')
			plain = false
			continue
		}
		ascii = append(ascii, r)
	}
	v := fmt.Sprintf(`attachment; filename="%s"`, string(ascii))
	if !plain {
		v += "; filename*=UTF-8''" + extValue(name)
	}
	return v
}

// extValue percent-encodes every byte outside RFC 5987's attr-char.
func extValue(s string) string {
	const attrChar = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte(attrChar, c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func taskPath(id int64) string { return "/api/v1/tasks/" + strconv.FormatInt(id, 10) }

// jsonRender writes v as JSON.
func jsonRender(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
