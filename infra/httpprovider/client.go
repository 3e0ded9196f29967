package httpprovider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/downloadcenter/dc/domain"
)

// UserAgent identifies the worker's requests in the service's logs.
const UserAgent = "DownloadCenter-httpprovider/1"

// newClient is the client used when New is given none. The per-request
// timeout comes from the request's context; these bound the steps a
// context deadline would otherwise be the only limit on.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}

// tryError is why one try failed and whether another may succeed.
type tryError struct {
	err   error
	retry bool
	// after is the service's Retry-After, zero when absent.
	after time.Duration
}

// post sends body to the service, trying again after a retryable failure
// up to the configured retries, and returns the 200 response's body. fr
// supplies the informational task headers; nil for a count request.
func (p *Provider) post(ctx context.Context, body []byte, fr *domain.FetchRequest) ([]byte, error) {
	for try := 0; ; try++ {
		data, te := p.try(ctx, body, fr)
		if te == nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s service: stopped: %w", p.typ, context.Cause(ctx))
		}
		if !te.retry {
			return nil, domain.Permanent(te.err)
		}
		if try >= p.set.retries {
			return nil, fmt.Errorf("%w (gave up after %d tries)", te.err, try+1)
		}
		if err := sleep(ctx, p.backoff(try, te.after)); err != nil {
			return nil, fmt.Errorf("%s service: stopped while waiting to retry after: %v: %w", p.typ, te.err, err)
		}
	}
}

// try makes one request, bounded by the configured timeout.
func (p *Provider) try(ctx context.Context, body []byte, fr *domain.FetchRequest) ([]byte, *tryError) {
	rctx, cancel := context.WithTimeout(ctx, p.set.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return nil, &tryError{err: fmt.Errorf("%s service: build request: %w", p.typ, err)}
	}
	// Signed per try: a retry late in the backoff must still be within
	// the service's allowed skew.
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	h.Set("User-Agent", UserAgent)
	sign(h, p.secret, body, p.set.legacy)
	if fr != nil {
		h.Set(HeaderTaskID, strconv.FormatInt(fr.TaskID, 10))
		h.Set(HeaderAttempt, strconv.Itoa(fr.Attempt))
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, p.transportError(rctx, err)
	}
	defer resp.Body.Close()

	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return p.readBody(rctx, resp)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return nil, &tryError{err: fmt.Errorf("%s service refused the request (%s): check the shared secret, and that the clocks of both hosts agree within minutes%s",
			p.typ, resp.Status, p.said(resp))}
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return nil, &tryError{
			err:   fmt.Errorf("%s service answered %s%s", p.typ, resp.Status, p.said(resp)),
			retry: true, after: retryAfter(resp.Header.Get("Retry-After")),
		}
	case code >= 300 && code < 400:
		return nil, &tryError{err: fmt.Errorf("%s service answered %s, redirecting to %q: set url to the final address, redirects are not followed",
			p.typ, resp.Status, redactURL(resp.Header.Get("Location")))}
	default:
		return nil, &tryError{err: fmt.Errorf("%s service answered %s%s", p.typ, resp.Status, p.said(resp))}
	}
}

// readBody reads a 200 response, refusing one over the size limit before
// holding it in memory.
func (p *Provider) readBody(ctx context.Context, resp *http.Response) ([]byte, *tryError) {
	limit := p.set.maxBytes
	tooBig := func() *tryError {
		return &tryError{err: fmt.Errorf("%s service: response larger than max_response_bytes (%d bytes): ask for smaller pages or raise the limit", p.typ, limit)}
	}
	if resp.ContentLength > limit {
		return nil, tooBig()
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, p.transportError(ctx, fmt.Errorf("read response: %w", err))
	}
	if int64(len(data)) > limit {
		return nil, tooBig()
	}
	return data, nil
}

// transportError classifies a failure to get or read a response: all are
// worth retrying (a connection refused, reset or timed out), the caller's
// own cancellation aside, which post checks.
func (p *Provider) transportError(rctx context.Context, err error) *tryError {
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return &tryError{err: fmt.Errorf("%s service: no complete answer from %s within the timeout of %s", p.typ, p.shown, p.set.timeout), retry: true}
	}
	// url.Error repeats the method and URL; the message names them once.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &tryError{err: fmt.Errorf("%s service: POST %s: %w", p.typ, p.shown, err), retry: true}
}

// snippetBytes is how much of an error response is read to quote it.
const snippetBytes = 512

// said quotes the start of an error response's body, which often says
// what is wrong ("year is required"), with the secret redacted.
func (p *Provider) said(resp *http.Response) string {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, snippetBytes))
	data = p.redact(data, len(data) == snippetBytes)
	s := snippet(data, 200)
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}

// minPartial is the shortest start of the secret worth redacting at a cut.
const minPartial = 4

// redact removes the secret from b and, when b was cut from a longer
// body, a start of the secret at its end, so quoting a response cannot
// leak it.
func (p *Provider) redact(b []byte, cut bool) []byte {
	b = bytes.ReplaceAll(b, []byte(p.secret), []byte("[redacted]"))
	if !cut {
		return b
	}
	for n := min(len(p.secret)-1, len(b)); n >= minPartial; n-- {
		if bytes.HasSuffix(b, []byte(p.secret[:n])) {
			return append(b[:len(b)-n:len(b)-n], "[redacted]"...)
		}
	}
	return b
}

// snippet is b as one line of at most max bytes of printable text.
func snippet(b []byte, max int) string {
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// retryAfter reads a Retry-After given in seconds; the HTTP-date form is
// ignored, the backoff applies instead.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, int(MaxBackoff/time.Second)+1)) * time.Second
}

// backoff is the wait before retry try+1: Backoff doubled per earlier
// retry, the upper half jittered so workers that failed together do not
// return together, at least the service's Retry-After, at most the cap.
func (p *Provider) backoff(try int, after time.Duration) time.Duration {
	ceiling := max(MaxBackoff, p.set.backoff)
	d := p.set.backoff
	for i := 0; i < try && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	d = d/2 + rand.N(d/2+1)
	return min(max(d, after), ceiling)
}

// sleep waits d unless ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// scrub guarantees no error leaves the package with the secret in its
// text, whatever a service echoed into a message. The original stays in
// the chain so errors.Is and domain.IsPermanent still see it.
func (p *Provider) scrub(err error) error {
	if err == nil || !strings.Contains(err.Error(), p.secret) {
		return err
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), p.secret, "[redacted]"), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }
