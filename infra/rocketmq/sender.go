package rocketmq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"

	"github.com/downloadcenter/dc/domain"
)

// sendRetries is how many times the client tries another queue after a
// failed send. With one deadline over the whole send it only helps with
// fast failures (a refused connection, a busy broker).
const sendRetries = 1

// maxInflightSends bounds the sends still running in the client. A send
// that outlives its deadline keeps running (see Send); without a bound a
// hung name server and a steady stream of creates would pile them up.
const maxInflightSends = 256

// syncProducer is the part of the client's producer Sender uses.
type syncProducer interface {
	Start() error
	Shutdown() error
	SendSync(ctx context.Context, msgs ...*primitive.Message) (*primitive.SendResult, error)
}

// Sender sends intents to the topic: the API's domain.IntentSender.
type Sender struct {
	topic    string
	timeout  time.Duration
	log      *slog.Logger
	producer syncProducer
	inflight chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ domain.IntentSender = (*Sender)(nil)

// NewSender starts a producer. It does not contact the broker: the API can
// start while RocketMQ is down, its intents then fail to send and the
// scheduler sends them again later.
func NewSender(cfg Config, log *slog.Logger) (*Sender, error) {
	cfg, log, ns, err := prepare(cfg, log)
	if err != nil {
		return nil, err
	}
	p, err := producer.NewDefaultProducer(
		producer.WithNsResolver(ns),
		producer.WithGroupName(cfg.ProducerGroup),
		producer.WithInstanceName(cfg.InstanceName),
		producer.WithSendMsgTimeout(cfg.SendTimeout),
		producer.WithRetry(sendRetries),
	)
	if err != nil {
		return nil, fmt.Errorf("new rocketmq producer: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start rocketmq producer: %w", err)
	}
	return newSender(cfg, p, log), nil
}

func newSender(cfg Config, p syncProducer, log *slog.Logger) *Sender {
	return &Sender{
		topic:    cfg.Topic,
		timeout:  cfg.SendTimeout,
		log:      log,
		producer: p,
		inflight: make(chan struct{}, maxInflightSends),
	}
}

// Send sends one intent and waits for the broker to store it. It returns
// within SendTimeout (or ctx's deadline, if sooner) whatever the broker or
// name server do, and an error unless the broker answered SEND_OK.
//
// The client honours ctx while talking to the broker, but looks up a
// topic's route with fixed timeouts of its own (6 s per name server and
// lookup, several lookups per send). So the send runs on its own goroutine
// and Send stops waiting at the deadline; an abandoned send finishes in
// the background, and is logged if it stored the intent after all.
func (s *Sender) Send(ctx context.Context, in domain.Intent) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("send intent for task %d: %w", in.TaskID, err)
	}
	select {
	case s.inflight <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("send intent for task %d: too many sends in flight: %w", in.TaskID, ctx.Err())
	}
	type outcome struct {
		res *primitive.SendResult
		err error
	}
	done := make(chan outcome) // unbuffered: a hand-off tells the sender Send still waited
	go func() {
		defer func() { <-s.inflight }()
		res, err := s.producer.SendSync(ctx, newMessage(s.topic, in))
		select {
		case done <- outcome{res, err}:
		case <-ctx.Done():
			if err == nil {
				// Stored after Send gave up: a duplicate if the caller (or
				// the scheduler) sends again, which the runner tolerates.
				s.log.Warn("rocketmq: intent stored after its send timed out", "task_id", in.TaskID)
			}
		}
	}()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		return fmt.Errorf("send intent for task %d: %w", in.TaskID, ctx.Err())
	}
	switch {
	case o.err != nil:
		return fmt.Errorf("send intent for task %d: %w", in.TaskID, o.err)
	case o.res == nil:
		return fmt.Errorf("send intent for task %d: no result from the client", in.TaskID)
	case o.res.Status != primitive.SendOK:
		return fmt.Errorf("send intent for task %d: broker answered %s", in.TaskID, sendStatus(o.res.Status))
	}
	return nil
}

// sendStatus names a send status as the broker does.
func sendStatus(s primitive.SendStatus) string {
	switch s {
	case primitive.SendOK:
		return "SEND_OK"
	case primitive.SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case primitive.SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case primitive.SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	default:
		return fmt.Sprintf("status %d", int(s))
	}
}

// Close shuts the producer down. Sends still running fail.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		if err := s.producer.Shutdown(); err != nil {
			s.closeErr = fmt.Errorf("shut down rocketmq producer: %w", err)
		}
	})
	return s.closeErr
}
