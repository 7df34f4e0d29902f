// Package broker defines the message broker contract that destill's stages
// talk through. Two implementations exist: memory (one process, local mode)
// and kafka (franz-go, the agentic data plane). Both pass the conformance
// suite in package brokertest.
package broker

import (
	"context"
	"errors"
)

// Message is one record on a topic.
type Message struct {
	Topic   string
	Key     string
	Value   []byte
	Headers map[string]string
	// Payload optionally carries the value itself, for a broker that stays
	// inside one process (memory): publishers may then leave Value nil and
	// consumers use Payload instead of decoding. Brokers that cross
	// process boundaries ignore it and need Value.
	Payload any
	// Partition and Offset locate the record; informative only.
	Partition int32
	Offset    int64
}

// Handler processes one message. Returning nil acknowledges it: the broker
// commits it and will not deliver it to the group again. Returning an error
// leaves it uncommitted; the broker delivers it again (to this member after a
// backoff, or to another member after a rebalance). A handler that meets a
// message it can never process must dead-letter it itself and return nil.
type Handler func(ctx context.Context, m Message) error

// Broker publishes and subscribes.
type Broker interface {
	// Publish appends a message and returns once the broker has
	// acknowledged it. It blocks (never drops) while the broker applies
	// backpressure, and returns ctx.Err() if ctx ends first.
	Publish(ctx context.Context, m Message) error
	// Subscribe joins consumer group group on the topics and runs h for
	// each message, one at a time per call, until ctx ends or the broker is
	// closed. Several Subscribe calls with the same group share the
	// messages: each is delivered to one member. Messages with the same key
	// are delivered in publish order to a single member at a time. It
	// returns nil when ctx ends or the broker closes, or an error that stops
	// consumption.
	Subscribe(ctx context.Context, group string, topics []string, h Handler) error
	// Close releases the broker; blocked calls return.
	Close() error
}

// ErrClosed is returned by Publish on a closed broker.
var ErrClosed = errors.New("broker: closed")

// PayloadCarrier is implemented by brokers that deliver Message.Payload to
// consumers in the same process, so values need no encoding.
type PayloadCarrier interface {
	CarriesPayload() bool
}

// Sizer is implemented by payloads that know their approximate encoded
// size, which an in-process broker uses for backpressure.
type Sizer interface {
	ApproxSize() int
}

// BatchHandler processes several messages at once. Returning nil
// acknowledges all of them; an error acknowledges none, and the broker
// delivers the batch again (after a backoff, or to another member after a
// rebalance). Redelivery may repeat messages the handler already acted on,
// so it must be idempotent.
type BatchHandler func(ctx context.Context, ms []Message) error

// BatchSubscriber is implemented by brokers that can hand a consumer whole
// batches.
type BatchSubscriber interface {
	// SubscribeBatch is Subscribe with batches: it runs h over up to max
	// messages (at least one) that are available when a batch is taken,
	// without waiting for more to arrive. Messages with the same key keep
	// publish order within and across batches, and are never in two
	// batches in flight at once.
	SubscribeBatch(ctx context.Context, group string, topics []string, max int, h BatchHandler) error
}
