package httpprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/downloadcenter/dc/domain"
)

// DefaultLimit is the page size asked for when a FetchRequest has none.
const DefaultLimit = 1000

// Provider serves one export type from a business service over HTTP. It is
// immutable after New and safe for concurrent use.
type Provider struct {
	typ     string
	url     string
	shown   string // url without a password, for messages
	secret  string
	set     settings
	client  *http.Client
	fields  []domain.Field
	index   map[string]int
	params  map[string]Param
	free    bool // AllowUnknownParams
	counter bool
}

// New checks cfg and builds its provider. getenv resolves SecretEnv
// (os.Getenv when nil). client sends the requests; nil means a client of
// its own with connect and TLS handshake timeouts. Redirects are never
// followed, whatever client's policy: a redirected POST loses its body
// and signature.
func New(cfg Config, getenv func(string) string, client *http.Client) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	secret := cfg.Secret
	if cfg.SecretEnv != "" {
		if getenv == nil {
			getenv = os.Getenv
		}
		secret = getenv(cfg.SecretEnv)
		switch {
		case secret == "":
			return nil, fmt.Errorf("http provider %q: secret_env: environment variable %s is unset or empty", cfg.Type, cfg.SecretEnv)
		case len(secret) < MinSecretLen:
			return nil, fmt.Errorf("http provider %q: secret_env: the secret in %s must be at least %d bytes long", cfg.Type, cfg.SecretEnv, MinSecretLen)
		}
	}
	if client == nil {
		client = newClient()
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	p := &Provider{
		typ: cfg.Type, url: cfg.URL, shown: redactURL(cfg.URL), secret: secret,
		set: cfg.settings(), client: &c,
		fields: make([]domain.Field, len(cfg.Columns)), index: make(map[string]int, len(cfg.Columns)),
		params: make(map[string]Param, len(cfg.Params)), free: cfg.AllowUnknownParams, counter: cfg.Count,
	}
	for i, col := range cfg.Columns {
		header := col.Header
		if header == "" {
			header = col.Field
		}
		p.fields[i] = domain.Field{Name: col.Field, Header: header, Kind: col.Kind}
		p.index[col.Field] = i
	}
	for name, spec := range cfg.Params {
		p.params[name] = spec
	}
	return p, nil
}

// Type returns the export type the provider serves.
func (p *Provider) Type() string { return p.typ }

// Fields lists the configured columns, in row order. The caller may
// modify the slice.
func (p *Provider) Fields() []domain.Field {
	return append([]domain.Field(nil), p.fields...)
}

// Validate checks params against the declared ones: each must have its
// kind, required ones must be present and not null, and undeclared ones
// are rejected unless the config allows them. The error is a
// *domain.FieldErrors naming every wrong param.
func (p *Provider) Validate(params map[string]any) error {
	// Checked by the one param grammar; the service is sent the params
	// as the client wrote them.
	_, err := domain.CheckParams(p.params, params, domain.ParamOptions{AllowUnknown: p.free})
	return err
}

// fetchRequest is the body of a page request.
type fetchRequest struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
	// Cursor is null on the first page.
	Cursor *string `json:"cursor"`
	Limit  int     `json:"limit"`
}

// countRequest is the body of a count request.
type countRequest struct {
	Type   string         `json:"type"`
	Params map[string]any `json:"params"`
	Count  bool           `json:"count"`
}

// Fetch asks the service for the page after req.Cursor. Params are
// checked again first, as the config may have changed since the task was
// created. Failures that retrying cannot fix (a 4xx, a malformed or
// oversized page, a value of the wrong kind) are permanent; 5xx answers,
// timeouts and connection errors are retried within the call, then
// returned as retryable errors.
func (p *Provider) Fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	b, err := p.fetch(ctx, req)
	return b, p.scrub(err)
}

func (p *Provider) fetch(ctx context.Context, req domain.FetchRequest) (domain.Batch, error) {
	if err := p.Validate(req.Params); err != nil {
		return domain.Batch{}, domain.Permanent(fmt.Errorf("%s service: params no longer valid: %w", p.typ, err))
	}
	body := fetchRequest{Type: p.typ, Params: req.Params, Limit: req.Limit}
	if body.Params == nil {
		body.Params = map[string]any{}
	}
	if req.Cursor != "" {
		body.Cursor = &req.Cursor
	}
	if body.Limit <= 0 {
		body.Limit = DefaultLimit
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return domain.Batch{}, domain.Permanent(fmt.Errorf("%s service: encode request: %w", p.typ, err))
	}
	data, err := p.post(ctx, raw, &req)
	if err != nil {
		return domain.Batch{}, err
	}
	b, err := p.decodePage(data)
	if err != nil {
		return domain.Batch{}, domain.Permanent(fmt.Errorf("%s service: %w", p.typ, err))
	}
	return b, nil
}

// Count asks the service how many rows the params select, when the config
// says it answers count requests. Otherwise it returns -1 at once without
// a request: the domain's "total unknown" (domain.Task.RowsTotal).
func (p *Provider) Count(ctx context.Context, params map[string]any) (int64, error) {
	n, err := p.count(ctx, params)
	return n, p.scrub(err)
}

func (p *Provider) count(ctx context.Context, params map[string]any) (int64, error) {
	if !p.counter {
		return -1, nil
	}
	if params == nil {
		params = map[string]any{}
	}
	raw, err := json.Marshal(countRequest{Type: p.typ, Params: params, Count: true})
	if err != nil {
		return 0, domain.Permanent(fmt.Errorf("%s service: encode count request: %w", p.typ, err))
	}
	data, err := p.post(ctx, raw, nil)
	if err != nil {
		return 0, err
	}
	n, err := decodeCount(data)
	if err != nil {
		return 0, domain.Permanent(fmt.Errorf("%s service: count: %w", p.typ, err))
	}
	return n, nil
}

// page is a page response. Rows is a pointer and NextCursor raw so that a
// missing key is told apart from an empty or null one: a service that
// forgot next_cursor must not end an export early.
type page struct {
	Rows       *[]any          `json:"rows"`
	NextCursor json.RawMessage `json:"next_cursor"`
}

// decodePage checks a page and converts its rows to the fields' Go types.
// Errors name the offending row by its index in the response's rows array.
func (p *Provider) decodePage(data []byte) (domain.Batch, error) {
	var pg page
	if err := decodeJSON(data, &pg); err != nil {
		return domain.Batch{}, err
	}
	if pg.Rows == nil {
		return domain.Batch{}, errors.New(`malformed response: "rows" must be an array (empty when there are none)`)
	}
	var b domain.Batch
	switch cur := bytes.TrimSpace(pg.NextCursor); {
	case len(cur) == 0:
		return domain.Batch{}, errors.New(`malformed response: "next_cursor" is missing (null when there are no more rows)`)
	case string(cur) == "null":
		b.Done = true
	default:
		if err := json.Unmarshal(cur, &b.NextCursor); err != nil {
			return domain.Batch{}, errors.New(`malformed response: "next_cursor" must be a string or null`)
		}
		if b.NextCursor == "" {
			return domain.Batch{}, errors.New(`malformed response: "next_cursor" must not be empty (null when there are no more rows)`)
		}
	}
	rows := *pg.Rows
	n := len(p.fields)
	b.Rows = make([][]any, len(rows))
	vals := make([]any, len(rows)*n)
	for i, r := range rows {
		obj, ok := r.(map[string]any)
		if !ok {
			return domain.Batch{}, fmt.Errorf("rows[%d] is %s, want an object", i, describe(r))
		}
		row := vals[i*n : (i+1)*n : (i+1)*n]
		present := 0
		for _, f := range p.fields {
			if _, ok := obj[f.Name]; ok {
				present++
			}
		}
		if present < len(obj) {
			return domain.Batch{}, fmt.Errorf("rows[%d] has unknown field %q; the configured columns are %s", i, p.firstUnknown(obj), p.columnList())
		}
		for j, f := range p.fields {
			v, err := decodeValue(f.Kind, obj[f.Name])
			if err != nil {
				return domain.Batch{}, fmt.Errorf("rows[%d].%s: %w", i, f.Name, err)
			}
			row[j] = v
		}
		b.Rows[i] = row
	}
	return b, nil
}

// firstUnknown returns the alphabetically first key of obj that is not a
// field, so the message is the same for the same row.
func (p *Provider) firstUnknown(obj map[string]any) string {
	var keys []string
	for k := range obj {
		if _, ok := p.index[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return shorten(keys[0])
}

func (p *Provider) columnList() string {
	names := make([]string, len(p.fields))
	for i, f := range p.fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}

// decodeCount reads {"count": N} with N a non-negative integer. Raw so a
// numeric string, which json.Number would take, is refused as in rows.
func decodeCount(data []byte) (int64, error) {
	var c struct {
		Count json.RawMessage `json:"count"`
	}
	if err := decodeJSON(data, &c); err != nil {
		return 0, err
	}
	raw := string(bytes.TrimSpace(c.Count))
	if raw == "" || raw == "null" {
		return 0, errors.New(`malformed response: "count" is missing`)
	}
	n, err := parseIntegral(raw)
	if err != nil || n < 0 {
		return 0, fmt.Errorf(`malformed response: "count" must be a non-negative integer, got %s`, shorten(raw))
	}
	return n, nil
}

// decodeJSON decodes one JSON object, numbers kept as json.Number, and
// refuses anything after it.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fmt.Errorf("malformed JSON response at byte %d: %v; the body starts with %q", se.Offset, se, snippet(data, 60))
		case errors.As(err, &te) && te.Field == "":
			return fmt.Errorf("malformed response: want a JSON object, got a JSON %s", te.Value)
		case errors.As(err, &te):
			return fmt.Errorf("malformed response: %q is a JSON %s", te.Field, te.Value)
		case errors.Is(err, io.EOF):
			return errors.New("malformed response: the body is empty, want a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errors.New("malformed JSON response: the body ends in the middle of the JSON")
		}
		return fmt.Errorf("malformed JSON response: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("malformed response: data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
}

// Params implements domain.ParamDeclarer.
func (p *Provider) Params() []domain.Param {
	out := make([]domain.Param, 0, len(p.params))
	for name, prm := range p.params {
		out = append(out, domain.Param{Name: name, Kind: prm.Kind, Required: prm.Required, Description: prm.Description})
	}
	return out
}
