package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Ready reports whether the consumer is taking intents: started, not
// shutting down, and a name server answers a TCP connect (the client finds
// brokers through it; a broker that is down shows as intents not arriving,
// which the backlog alerts catch).
func (c *Consumer) Ready(ctx context.Context) error {
	c.life.Lock()
	started := c.started
	c.life.Unlock()
	select {
	case <-c.closing:
		return errors.New("consumer is shutting down")
	default:
	}
	if !started {
		return errors.New("consumer not started")
	}
	if c.ns == nil {
		return nil
	}
	var errs []error
	var d net.Dialer
	for _, addr := range c.ns.Resolve() {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return fmt.Errorf("no name server address resolves (%s)", c.cfg.NameServer)
	}
	return fmt.Errorf("no name server answers: %w", errors.Join(errs...))
}
