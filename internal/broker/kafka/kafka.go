// Package kafka implements broker.Broker over the Kafka protocol with
// franz-go, for the agentic data plane (Redpanda in production, kfake in
// tests).
//
// Publish produces synchronously: it returns once the partition leader has
// acknowledged the record. Subscribe joins a consumer group with its own
// client and commits a record's offset only after the handler returned nil
// for it; a failing handler is retried in place, with backoff, so a
// partition is never processed out of order and nothing is skipped. When a
// rebalance takes a partition away, the handler working on it is canceled,
// what already succeeded is committed, and the rest is left to the new
// owner. A new group starts at the earliest offset.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/destill-ci/destill/internal/broker"
)

// Broker is a broker.Broker over a Kafka-protocol cluster. Safe for
// concurrent use.
type Broker struct {
	cfg  Config
	opts []kgo.Opt
	cl   *kgo.Client // producer and admin client

	done      chan struct{}
	closeOnce sync.Once
}

var _ broker.Broker = (*Broker)(nil)

// New connects a producer client. It does not wait for the cluster to
// answer; use Ping to check.
func New(cfg Config) (*Broker, error) {
	cfg = cfg.withDefaults()
	opts, err := cfg.clientOpts()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new client: %w", err)
	}
	return &Broker{cfg: cfg, opts: opts, cl: cl, done: make(chan struct{})}, nil
}

// Ping checks that a broker answers.
func (b *Broker) Ping(ctx context.Context) error {
	if err := b.cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka: ping %v: %w", b.cfg.Brokers, err)
	}
	return nil
}

// Publish produces m and waits for the broker's acknowledgement.
func (b *Broker) Publish(ctx context.Context, m broker.Message) error {
	return b.PublishBatch(ctx, []broker.Message{m})
}

// PublishBatch produces the messages together and returns once every one
// is acknowledged: one round trip instead of one per message. Messages with
// the same key keep their order.
func (b *Broker) PublishBatch(ctx context.Context, msgs []broker.Message) error {
	select {
	case <-b.done:
		return broker.ErrClosed
	default:
	}
	if len(msgs) == 0 {
		return nil
	}
	rs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		r := &kgo.Record{Topic: m.Topic, Value: m.Value}
		if m.Key != "" {
			r.Key = []byte(m.Key)
		}
		for k, v := range m.Headers {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
		rs[i] = r
	}
	for _, res := range b.cl.ProduceSync(ctx, rs...) {
		if err := res.Err; err != nil {
			topic := res.Record.Topic
			if errors.Is(err, kgo.ErrClientClosed) {
				return broker.ErrClosed
			}
			if errors.Is(err, kerr.UnknownTopicOrPartition) {
				return fmt.Errorf("kafka: publish to %s: %w (create it: destill topics create)", topic, err)
			}
			return fmt.Errorf("kafka: publish to %s: %w", topic, err)
		}
	}
	return nil
}

// Close closes the producer and makes every Subscribe return.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.done)
		b.cl.Close()
	})
	return nil
}

// Admin returns an admin client sharing the broker's connections; it is
// valid until Close.
func (b *Broker) Admin() *kadm.Client { return kadm.NewClient(b.cl) }

// message converts a fetched record.
func message(r *kgo.Record) broker.Message {
	m := broker.Message{
		Topic:     r.Topic,
		Key:       string(r.Key),
		Value:     r.Value,
		Partition: r.Partition,
		Offset:    r.Offset,
	}
	if len(r.Headers) > 0 {
		m.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			m.Headers[h.Key] = string(h.Value)
		}
	}
	return m
}
