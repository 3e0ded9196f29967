// Package rocketmq carries execution intents over Apache RocketMQ: Sender
// is the API's domain.IntentSender (the seed's SendTaskToMQService) and
// Consumer feeds a worker's runner, at most Slots intents at a time.
//
// A message holds only a task id (and its export type), so RocketMQ's
// at-least-once delivery is enough: a duplicate or late intent loses the
// claim on the task row and is dropped by the runner.
//
// The client library (github.com/apache/rocketmq-client-go/v2) has sharp
// edges this package keeps away from callers: its default name-server
// resolver fetches an HTTP endpoint and writes ~/logs/rocketmq-go (exiting
// the process when it cannot), it accepts only IP addresses for name
// servers, its own logging goes to stderr through logrus, and a send may
// block for longer than its timeout while it looks up a route. See
// nameServers, the rlog adapter and Sender.Send.
package rocketmq

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults for the zero fields of Config.
const (
	DefaultTopic         = "dc-task-intents"
	DefaultGroup         = "dc-workers"
	DefaultProducerGroup = "dc-api"
	DefaultSendTimeout   = 3 * time.Second
	DefaultSlots         = 4
)

// maxSlots is the client's upper bound for a pull batch, which is sized by
// the slots.
const maxSlots = 1024

// maxDelayLevel is the highest delay level of a broker's default
// messageDelayLevel table ("1s 5s 10s 30s 1m … 2h").
const maxDelayLevel = 18

// Config says where the broker is and how intents flow through it. Zero
// fields take the defaults above.
type Config struct {
	// NameServer is the name server's host:port, several separated by ";"
	// (e.g. "127.0.0.1:9876"). Host names are resolved by this package, as
	// the client accepts only IP addresses.
	NameServer string
	// Topic carries the intents.
	Topic string
	// Group is the consumer group all workers share: each intent goes to
	// one of them (clustering mode).
	Group string
	// ProducerGroup names the senders to the broker.
	ProducerGroup string
	// SendTimeout bounds one Send, including the route lookup.
	SendTimeout time.Duration
	// Slots is how many intents one consumer handles at once: the worker's
	// slots.
	Slots int
	// SharedSlots, when set, is the slot semaphore the consumer takes its
	// slots from (a send takes one, a receive gives it back), shared with
	// whatever else runs tasks in the worker (domain.IdleClaimer). Its
	// capacity must be Slots.
	SharedSlots chan struct{}
	// InstanceName tells this process's clients apart at the broker. The
	// default is unique per Sender and Consumer ("dc-<pid>-<n>"); clients
	// given the same name share one connection set.
	InstanceName string
	// RetryDelayLevel fixes the broker's delay level for every redelivery
	// of an intent whose handler failed (1 = 1s, 2 = 5s, 3 = 10s … 18 = 2h
	// with the default table). Zero, for production, leaves it to the
	// broker, which backs off: level 3 + the times already redelivered,
	// i.e. 10s, 30s, 1m, 2m … 2h.
	RetryDelayLevel int
}

// namePattern is the client's rule for topic and group names.
var namePattern = regexp.MustCompile(`^[%|a-zA-Z0-9_-]+$`)

// instanceSeq makes default instance names unique within the process.
var instanceSeq atomic.Int64

// withDefaults returns c with its zero fields set. Each call yields a new
// default instance name.
func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.ProducerGroup == "" {
		c.ProducerGroup = DefaultProducerGroup
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	if c.InstanceName == "" {
		// One client per Sender and Consumer: clients sharing a name share
		// state in the library (and must agree on the name server).
		c.InstanceName = fmt.Sprintf("dc-%d-%d", os.Getpid(), instanceSeq.Add(1))
	}
	return c
}

// Validate reports what is wrong with c once its defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if _, err := splitNameServers(c.NameServer); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs,
		checkName("topic", c.Topic, 127),
		checkName("group", c.Group, 255),
		checkName("producer group", c.ProducerGroup, 255),
	)
	if c.Group == "DEFAULT_CONSUMER" {
		errs = append(errs, errors.New("group DEFAULT_CONSUMER is reserved by the client"))
	}
	if c.SendTimeout < 0 {
		errs = append(errs, fmt.Errorf("send timeout %s is negative", c.SendTimeout))
	}
	if c.Slots < 1 || c.Slots > maxSlots {
		errs = append(errs, fmt.Errorf("slots %d is outside [1, %d]", c.Slots, maxSlots))
	}
	if c.SharedSlots != nil && cap(c.SharedSlots) != c.Slots {
		errs = append(errs, fmt.Errorf("shared slots hold %d, want slots %d", cap(c.SharedSlots), c.Slots))
	}
	if strings.ContainsAny(c.InstanceName, "@ \t\n") {
		errs = append(errs, fmt.Errorf("instance name %q contains '@' or white space", c.InstanceName))
	}
	if c.RetryDelayLevel < 0 || c.RetryDelayLevel > maxDelayLevel {
		errs = append(errs, fmt.Errorf("retry delay level %d is outside [0, %d]", c.RetryDelayLevel, maxDelayLevel))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("rocketmq config: %w", err)
	}
	return nil
}

func checkName(what, name string, max int) error {
	switch {
	case len(name) > max:
		return fmt.Errorf("%s %q is longer than %d characters", what, name, max)
	case !namePattern.MatchString(name):
		return fmt.Errorf("%s %q may only hold letters, digits, '%%', '|', '_' and '-'", what, name)
	}
	return nil
}

// splitNameServers checks a ";"-separated host:port list.
func splitNameServers(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("name server is required (host:port)")
	}
	var out []string
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		host, port, err := net.SplitHostPort(part)
		if err != nil {
			return nil, fmt.Errorf("name server %q: %w", part, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("name server %q: bad port", part)
		}
		if host == "" {
			return nil, fmt.Errorf("name server %q: no host", part)
		}
		out = append(out, part)
	}
	return out, nil
}

// prepare is what every client of this package starts with: a valid
// config with defaults filled in, the client's logs routed to log, and a
// name-server resolver that never touches the client's default one.
func prepare(cfg Config, log *slog.Logger) (Config, *slog.Logger, *nameServers, error) {
	if err := cfg.Validate(); err != nil {
		return cfg, log, nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	routeClientLogs(log)
	ns, err := newNameServers(cfg, log)
	return cfg, log, ns, err
}
