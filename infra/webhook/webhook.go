// Package webhook sends completion webhooks: the HTTP side of
// domain.Dispatcher. Requests are signed by the Standard Webhooks scheme
// (infra/stdwebhooks), bounded in time and response size, never follow a
// redirect, and never reach a loopback, private or link-local address
// unless that is allowed: checked when an endpoint is registered
// (Targets) and again on every connection the sender dials, on the address
// actually dialled, so a name that resolves elsewhere later (DNS
// rebinding) is refused too.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/downloadcenter/dc/domain"
	"github.com/downloadcenter/dc/infra/stdwebhooks"
)

// Defaults of Config.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 64 << 10
	// resolveTimeout bounds the DNS lookup of a registration.
	resolveTimeout = 3 * time.Second
)

// UserAgent is sent with every webhook request.
const UserAgent = "DownloadCenter-Webhooks/1"

// ErrPrivateTarget: the address is loopback, private, link-local or
// otherwise not a public unicast one, and private targets are not allowed.
var ErrPrivateTarget = errors.New("refused: the address is loopback, private or link-local (set DC_WEBHOOK_ALLOW_PRIVATE=true to allow)")

// Config tunes the sender.
type Config struct {
	// AllowPrivate lets requests reach loopback, private and link-local
	// addresses (tests, a receiver on the same network).
	AllowPrivate bool
	// Timeout bounds a whole request, response body included.
	Timeout time.Duration
	// MaxResponseBytes is how much of a response body is read (and
	// dropped) before the connection is closed.
	MaxResponseBytes int64
}

// Sender is the domain.WebhookSender over HTTP.
type Sender struct {
	client  *http.Client
	maxBody int64
}

// New returns a sender. Each has its own connection pool.
func New(cfg Config) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: dialGuard(cfg.AllowPrivate)}
	tr := &http.Transport{
		// No proxy: a proxy would dial the target itself, past the guard.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &Sender{
		client: &http.Client{
			Transport: tr,
			Timeout:   cfg.Timeout,
			// A redirect is an answer, not a place to go: a 3xx is a failed
			// attempt, so a public endpoint cannot bounce requests inward.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		maxBody: cfg.MaxResponseBytes,
	}
}

// Send POSTs one signed delivery and returns the response status.
func (s *Sender) Send(ctx context.Context, r domain.WebhookRequest) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return 0, fmt.Errorf("build the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	stdwebhooks.SetHeaders(req.Header, r.Secret, r.MessageID, time.Now(), r.Body)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, errors.Unwrap(err) // the *url.Error repeats the URL, kept on the endpoint anyway
	}
	defer res.Body.Close()
	// Read a bounded part of the body so the connection can be reused when
	// it is short; a longer one is cut off by closing.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, s.maxBody))
	return res.StatusCode, nil
}

// dialGuard refuses connections to addresses that are not public, unless
// allowed. It runs on the address about to be dialled, after resolution.
func dialGuard(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return fmt.Errorf("dial %s: not an IP address", address)
		}
		if !Public(ip) {
			return fmt.Errorf("dial %s: %w", ip, ErrPrivateTarget)
		}
		return nil
	}
}

// special lists ranges that are not public unicast beyond those netip
// names: "this network", shared address space (carrier NAT), IETF
// protocol assignments, benchmarking, reserved, NAT64 and 6to4 (which
// can embed any IPv4 address), documentation.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("100::/64"),
}

// Public reports whether ip is a public unicast address a webhook may go to.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range special {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Targets is the domain.WebhookTargets check of a registration: where the
// URL's host resolves now.
type Targets struct {
	AllowPrivate bool
	// Resolver looks names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckTarget refuses a URL whose host is, or resolves to, an address that
// is not public (unless allowed), or does not resolve at all.
func (t *Targets) CheckTarget(ctx context.Context, u *url.URL) error {
	if t.AllowPrivate {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return &domain.FieldErrors{Errors: []domain.FieldError{{Field: "url", Reason: fmt.Sprintf(format, args...)}}}
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !Public(ip) {
			return refuse("%s is a loopback, private or link-local address; webhooks go to public addresses only (DC_WEBHOOK_ALLOW_PRIVATE=true allows them)", ip)
		}
		return nil
	}
	r := t.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return refuse("the host %q does not resolve", host)
	}
	for _, ip := range ips {
		if !Public(ip) {
			return refuse("the host %q resolves to %s, a loopback, private or link-local address; webhooks go to public addresses only (DC_WEBHOOK_ALLOW_PRIVATE=true allows them)", host, ip.Unmap())
		}
	}
	return nil
}
