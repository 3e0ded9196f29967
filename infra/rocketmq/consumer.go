package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/downloadcenter/dc/domain"
)

// maxReconsumeTimes is how often a failed intent is redelivered before the
// broker parks it in the group's dead-letter topic: with the broker's
// escalating delays nearly five hours of retries. A parked intent is not
// lost work: the scheduler sends a new one for a task left waiting.
const maxReconsumeTimes = 16

// Handler executes one intent: domain.Runner.Run in the worker. nil means
// done or dropped; an error asks for the intent to be redelivered later.
type Handler func(ctx context.Context, in domain.Intent) error

// pushClient is the part of the client's push consumer Consumer uses.
type pushClient interface {
	Start() error
	Shutdown() error
}

// Consumer feeds intents from the topic to a handler, at most Slots at a
// time, for a worker.
//
// Shutdown is graceful: it stops handing out intents, waits for running
// handlers, and only when its context ends cancels the context those
// handlers run with (then still waits for them to return, so the runner
// can record that it released its task). Intents received but not started
// are not acknowledged, so the broker hands them to another worker.
type Consumer struct {
	cfg     Config
	log     *slog.Logger
	handler Handler
	client  pushClient
	ns      *nameServers

	// slots bounds running handlers. The client's own bound
	// (ConsumeGoroutineNums) applies per topic, and the group's retry
	// topic counts as a second one, so alone it would allow twice Slots.
	slots chan struct{}
	// runCtx is the context handlers run with; stopRun cancels it.
	runCtx  context.Context
	stopRun context.CancelFunc

	mu       sync.Mutex // orders running.Add against closing
	closing  chan struct{}
	running  sync.WaitGroup
	released chan struct{} // closed once the client is shut down

	life         sync.Mutex // orders Start against Shutdown
	started      bool
	startErr     error
	shutdownOnce sync.Once
	shutdownErr  error
}

// NewConsumer prepares a push consumer for cfg's group and topic:
// clustering mode (each intent goes to one worker of the group), one
// intent per handler call, at most cfg.Slots handlers at once. A group
// resumes where it acknowledged last; a new group starts at the last
// offset, except that the broker starts it at the beginning of a queue
// whose messages are all still in memory, so intents sent before the
// first worker ever ran are not lost. It does not connect until Start.
func NewConsumer(cfg Config, handler Handler, log *slog.Logger) (*Consumer, error) {
	if handler == nil {
		return nil, errors.New("new rocketmq consumer: handler is nil")
	}
	cfg, log, ns, err := prepare(cfg, log)
	if err != nil {
		return nil, err
	}
	pc, err := consumer.NewPushConsumer(
		consumer.WithNsResolver(ns),
		consumer.WithGroupName(cfg.Group),
		consumer.WithInstance(cfg.InstanceName),
		consumer.WithConsumerModel(consumer.Clustering),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromLastOffset),
		consumer.WithConsumeGoroutineNums(cfg.Slots),
		consumer.WithConsumeMessageBatchMaxSize(1),
		// A pull brings what the free slots can start. Pulls are long
		// polls the broker answers as soon as a message arrives, so an
		// idle worker sees an intent within milliseconds without a pull
		// interval.
		consumer.WithPullBatchSize(int32(cfg.Slots)),
		consumer.WithPullInterval(0),
		consumer.WithMaxReconsumeTimes(maxReconsumeTimes),
	)
	if err != nil {
		return nil, fmt.Errorf("new rocketmq consumer: %w", err)
	}
	c := newConsumer(cfg, handler, log)
	c.client, c.ns = pc, ns
	err = pc.Subscribe(cfg.Topic, consumer.MessageSelector{Type: consumer.TAG, Expression: "*"}, c.consume)
	if err != nil {
		return nil, fmt.Errorf("subscribe to topic %s: %w", cfg.Topic, err)
	}
	return c, nil
}

// newConsumer builds a Consumer without its client.
func newConsumer(cfg Config, handler Handler, log *slog.Logger) *Consumer {
	runCtx, stopRun := context.WithCancel(context.Background())
	slots := cfg.SharedSlots
	if slots == nil {
		slots = make(chan struct{}, cfg.Slots)
	}
	return &Consumer{
		cfg:      cfg,
		log:      log.With("group", cfg.Group, "topic", cfg.Topic),
		handler:  handler,
		slots:    slots,
		runCtx:   runCtx,
		stopRun:  stopRun,
		closing:  make(chan struct{}),
		released: make(chan struct{}),
	}
}

// Start connects and starts taking intents. It fails when the topic does
// not exist (create it first: deploy/services/up.sh or EnsureTopic), and
// then for good: the client cannot start a consumer twice, so build a new
// Consumer to try again.
func (c *Consumer) Start() error {
	c.life.Lock()
	defer c.life.Unlock()
	select {
	case <-c.closing:
		return errors.New("start rocketmq consumer: already shut down")
	default:
	}
	if c.started || c.startErr != nil {
		return c.startErr
	}
	if err := c.client.Start(); err != nil {
		c.startErr = fmt.Errorf("start rocketmq consumer of group %s on topic %s: %w", c.cfg.Group, c.cfg.Topic, err)
		return c.startErr
	}
	c.started = true
	c.log.Info("rocketmq consumer started", "slots", c.cfg.Slots, "instance", c.cfg.InstanceName)
	return nil
}

// Shutdown stops taking intents, waits for running handlers and then shuts
// the client down, which commits the acknowledged offsets. When ctx ends
// first it cancels the handlers' context and waits for them to return;
// handlers must honour their context. It returns an error wrapping ctx's
// error when it had to cancel handlers.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.shutdownOnce.Do(func() {
		c.life.Lock()
		c.mu.Lock()
		close(c.closing)
		c.mu.Unlock()
		started := c.started
		c.life.Unlock()

		idle := make(chan struct{})
		go func() {
			c.running.Wait()
			close(idle)
		}()
		select {
		case <-idle:
		case <-ctx.Done():
			c.log.Warn("rocketmq consumer: shutdown deadline passed; cancelling running handlers")
			c.stopRun()
			<-idle
			c.shutdownErr = fmt.Errorf("shut down rocketmq consumer: running handlers cancelled: %w", ctx.Err())
		}
		c.stopRun()
		// Only a started client may be shut down: the client's Shutdown
		// panics on a consumer that never started, and a failed Start
		// already shut it down.
		if started {
			if err := c.client.Shutdown(); err != nil && c.shutdownErr == nil {
				c.shutdownErr = fmt.Errorf("shut down rocketmq consumer: %w", err)
			}
		}
		close(c.released)
		c.log.Info("rocketmq consumer stopped")
	})
	return c.shutdownErr
}

// consume is the client's callback. With a batch size of one it gets one
// message at a time; a batch is handled in order and redelivered whole if
// any intent fails (duplicates are harmless).
func (c *Consumer) consume(ctx context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
	result := consumer.ConsumeSuccess
	for _, msg := range msgs {
		in, err := decodeIntent(msg.Body, msg.GetTags())
		if err != nil {
			// Redelivering cannot fix a body; the scheduler re-sends the
			// intent of a task left waiting.
			c.log.Warn("rocketmq consumer: dropping malformed intent",
				"msg_id", msg.MsgId, "keys", msg.GetKeys(), "body", truncate(msg.Body, 200), "err", err)
			continue
		}
		if !c.handle(in, msg) {
			result = consumer.ConsumeRetryLater
		}
	}
	if result == consumer.ConsumeRetryLater && c.cfg.RetryDelayLevel > 0 {
		if cc, ok := primitive.GetConcurrentlyCtx(ctx); ok {
			cc.DelayLevelWhenNextConsume = c.cfg.RetryDelayLevel
		}
	}
	return result, nil
}

// handle runs the handler for one intent and reports whether it is done
// with. During shutdown it holds the intent back unstarted until the client
// is shut down: the client then discards the result and does not
// acknowledge the message, so the broker redelivers it to another worker
// without counting a failed attempt.
func (c *Consumer) handle(in domain.Intent, msg *primitive.MessageExt) (ok bool) {
	c.mu.Lock()
	select {
	case <-c.closing:
		c.mu.Unlock()
		<-c.released
		return false
	default:
	}
	c.running.Add(1)
	c.mu.Unlock()

	if !c.takeSlot() {
		c.running.Done()
		<-c.released
		return false
	}
	defer c.running.Done()
	defer func() { <-c.slots }()

	log := c.log.With("task_id", in.TaskID, "msg_id", msg.MsgId)
	defer func() {
		if p := recover(); p != nil {
			// A panic would leave the message unacknowledged forever and
			// stall its queue's offset; retry it instead.
			log.Error("rocketmq consumer: intent handler panicked", "panic", p)
			ok = false
		}
	}()
	if err := c.handler(c.runCtx, in); err != nil {
		log.Warn("rocketmq consumer: intent handler failed; redelivering later",
			"err", err, "reconsume_times", msg.ReconsumeTimes)
		return false
	}
	return true
}

// takeSlot waits for a free slot; it gives up when shutdown begins.
func (c *Consumer) takeSlot() bool {
	select {
	case c.slots <- struct{}{}:
	case <-c.closing:
		return false
	}
	select {
	case <-c.closing:
		// Both were ready and select chose the slot: start nothing new.
		<-c.slots
		return false
	default:
		return true
	}
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
