package rocketmq

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
)

// lookupTimeout bounds the DNS lookup of one name-server host.
const lookupTimeout = 2 * time.Second

// nameServers is the client's name-server resolver. It replaces the
// client's default, which fetches an HTTP endpoint and caches the answer
// under ~/logs/rocketmq-go, exiting the process when it cannot create that
// directory. The client only accepts IP addresses, so host names are
// looked up here, again on every call (the client calls every two
// minutes), keeping the last good answer when DNS fails.
type nameServers struct {
	addrs []string // host:port, as configured
	log   *slog.Logger

	mu   sync.Mutex
	last []string
}

var _ primitive.NsResolver = (*nameServers)(nil)

func newNameServers(cfg Config, log *slog.Logger) (*nameServers, error) {
	addrs, err := splitNameServers(cfg.NameServer)
	if err != nil {
		return nil, err
	}
	return &nameServers{addrs: addrs, log: log}, nil
}

// Resolve returns the name servers as ip:port.
func (n *nameServers) Resolve() []string {
	var out []string
	for _, addr := range n.addrs {
		host, port, _ := net.SplitHostPort(addr) // checked by newNameServers
		if net.ParseIP(host) != nil {
			out = append(out, addr)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
		cancel()
		if err != nil {
			n.log.Warn("rocketmq: look up name server", "name_server", addr, "err", err)
			continue
		}
		out = append(out, joinIPs(ips, port)...)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(out) == 0 {
		return n.last
	}
	n.last = out
	return out
}

// joinIPs prefers IPv4 addresses: the client's address check and dialer
// handle them best.
func joinIPs(ips []net.IP, port string) []string {
	var v4, v6 []string
	for _, ip := range ips {
		if ip.To4() != nil {
			v4 = append(v4, net.JoinHostPort(ip.String(), port))
		} else {
			v6 = append(v6, net.JoinHostPort(ip.String(), port))
		}
	}
	if len(v4) > 0 {
		return v4
	}
	return v6
}

// Description names the resolver in the client's logs.
func (n *nameServers) Description() string {
	return "dc name servers " + strings.Join(n.addrs, ";")
}
