package rocketmq

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/rocketmq-client-go/v2/admin"
	rmqerrors "github.com/apache/rocketmq-client-go/v2/errors"
)

// topicQueues is how many read and write queues EnsureTopic gives a topic.
// A queue is consumed by one worker at a time, so it caps the workers of a
// group that get intents.
const topicQueues = 8

// routePollEvery is how often EnsureTopic asks the name server whether a
// new topic's route is there yet.
const routePollEvery = 100 * time.Millisecond

// EnsureTopic creates cfg.Topic on the broker at brokerAddr (host:port of
// the broker itself, e.g. "127.0.0.1:10911") unless the name server already
// routes it, then waits until the name server does, as a consumer cannot
// start before. An existing topic is left as it is.
func EnsureTopic(ctx context.Context, cfg Config, brokerAddr string) error {
	// Keep whichever logger the process already routed client logs to.
	cfg, _, ns, err := prepare(cfg, clientLogger.Load())
	if err != nil {
		return err
	}
	adm, err := admin.NewAdmin(admin.WithResolver(ns))
	if err != nil {
		return fmt.Errorf("ensure topic %s: new admin client: %w", cfg.Topic, err)
	}
	defer adm.Close()

	exists, err := topicRouted(ctx, adm, cfg.Topic)
	if err != nil {
		return fmt.Errorf("ensure topic %s: %w", cfg.Topic, err)
	}
	if exists {
		return nil
	}
	// The client ignores the broker's answer to a create request: only the
	// route appearing below proves the topic was made.
	err = adm.CreateTopic(ctx,
		admin.WithTopicCreate(cfg.Topic),
		admin.WithBrokerAddrCreate(brokerAddr),
		admin.WithReadQueueNums(topicQueues),
		admin.WithWriteQueueNums(topicQueues),
	)
	if err != nil {
		return fmt.Errorf("ensure topic %s: create on broker %s: %w", cfg.Topic, brokerAddr, err)
	}
	tick := time.NewTicker(routePollEvery)
	defer tick.Stop()
	for {
		exists, err := topicRouted(ctx, adm, cfg.Topic)
		if err != nil {
			return fmt.Errorf("ensure topic %s: %w", cfg.Topic, err)
		}
		if exists {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ensure topic %s: no route after creating it on broker %s: %w", cfg.Topic, brokerAddr, ctx.Err())
		case <-tick.C:
		}
	}
}

// topicRouted asks the name server whether it routes topic.
func topicRouted(ctx context.Context, adm admin.Admin, topic string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	mqs, err := adm.FetchPublishMessageQueues(ctx, topic)
	switch {
	case errors.Is(err, rmqerrors.ErrTopicNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up route: %w", err)
	}
	return len(mqs) > 0, nil
}
