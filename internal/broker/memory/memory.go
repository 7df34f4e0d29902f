// Package memory is an in-process broker for local mode. It keeps Kafka's
// semantics that destill relies on: keyed partitions, consumer groups whose
// members share partitions, per-key order, acknowledgement by handler
// success, redelivery of unacknowledged messages, and bounded memory through
// backpressure: Publish blocks while a topic holds MaxTopicBytes that some
// retaining group has not yet consumed.
//
// Retention: a message is released once every group named for its topic in
// Config.Retain has committed it. A topic with no retaining groups keeps its
// messages (Kafka-like: a group that joins late starts at the earliest), so
// Publish blocks once it holds MaxTopicBytes.
package memory

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/destill-ci/destill/internal/broker"
)

// Config tunes the broker. The zero value is usable.
type Config struct {
	// Partitions per topic; default 8.
	Partitions int
	// MaxTopicBytes bounds the unconsumed bytes a topic holds before Publish
	// blocks; default 32 MiB. A single larger message is accepted into an
	// empty topic.
	MaxTopicBytes int64
	// RetryBackoff is the first wait before redelivering a message whose
	// handler failed; it doubles up to one second. Default 20 ms.
	RetryBackoff time.Duration
	// Retain names, per topic, the groups that must commit a message before
	// it is released from memory.
	Retain map[string][]string
}

// Broker is the in-memory broker. Safe for concurrent use.
type Broker struct {
	cfg     Config
	mu      sync.Mutex
	topics  map[string]*topic
	changed chan struct{} // closed and replaced on every state change
	closed  bool
}

type topic struct {
	parts  []*partition
	bytes  int64
	groups map[string]bool // groups that have subscribed
	retain []string
}

type partition struct {
	base      int64 // offset of msgs[0]
	msgs      []broker.Message
	committed map[string]int64 // group → next offset to deliver
	leased    map[string]bool  // group → a member is processing
}

// New returns an empty broker.
func New(cfg Config) *Broker {
	if cfg.Partitions <= 0 {
		cfg.Partitions = 8
	}
	if cfg.MaxTopicBytes <= 0 {
		cfg.MaxTopicBytes = 32 << 20
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 20 * time.Millisecond
	}
	return &Broker{cfg: cfg, topics: map[string]*topic{}, changed: make(chan struct{})}
}

var _ broker.Broker = (*Broker)(nil)

// topicLocked returns the named topic, creating it. b.mu must be held.
func (b *Broker) topicLocked(name string) *topic {
	t := b.topics[name]
	if t == nil {
		t = &topic{groups: map[string]bool{}, retain: b.cfg.Retain[name]}
		for i := 0; i < b.cfg.Partitions; i++ {
			t.parts = append(t.parts, &partition{committed: map[string]int64{}, leased: map[string]bool{}})
		}
		b.topics[name] = t
	}
	return t
}

func (b *Broker) broadcastLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// wait releases b.mu until the state changes or ctx ends, then retakes it.
func (b *Broker) wait(ctx context.Context) error {
	ch := b.changed
	b.mu.Unlock()
	defer b.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CarriesPayload reports that consumers receive Message.Payload as
// published: in one process, values need not be encoded.
func (b *Broker) CarriesPayload() bool { return true }

func size(m broker.Message) int64 {
	n := int64(len(m.Key) + len(m.Value))
	if m.Value == nil && m.Payload != nil {
		if s, ok := m.Payload.(broker.Sizer); ok {
			n += int64(s.ApproxSize())
		} else {
			n += 1024
		}
	}
	for k, v := range m.Headers {
		n += int64(len(k) + len(v))
	}
	return n
}

func (b *Broker) partitionOf(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(b.cfg.Partitions))
}

// Publish appends m to its topic, blocking while the topic is full.
func (b *Broker) Publish(ctx context.Context, m broker.Message) error {
	sz := size(m)
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return broker.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		t := b.topicLocked(m.Topic)
		if t.bytes == 0 || t.bytes+sz <= b.cfg.MaxTopicBytes {
			p := b.partitionOf(m.Key)
			part := t.parts[p]
			m.Partition = int32(p)
			m.Offset = part.base + int64(len(part.msgs))
			if m.Headers != nil {
				h := make(map[string]string, len(m.Headers))
				for k, v := range m.Headers {
					h[k] = v
				}
				m.Headers = h
			}
			part.msgs = append(part.msgs, m)
			t.bytes += sz
			b.broadcastLocked()
			return nil
		}
		if err := b.wait(ctx); err != nil {
			return err
		}
	}
}

type lease struct {
	t    *topic
	part *partition
	msg  broker.Message
}

// join registers group on topics; a new group starts at the earliest
// message held.
func (b *Broker) join(group string, topics []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, name := range topics {
		t := b.topicLocked(name)
		if !t.groups[group] {
			t.groups[group] = true
			for _, p := range t.parts {
				p.committed[group] = p.base
			}
		}
	}
}

// Subscribe consumes topics as a member of group until ctx ends.
func (b *Broker) Subscribe(ctx context.Context, group string, topics []string, h broker.Handler) error {
	b.join(group, topics)

	next := 0 // round-robin start, so members spread over partitions
	for {
		l, err := b.acquire(ctx, group, topics, &next)
		if err != nil || l == nil {
			return nil // ctx ended or broker closed
		}
		ok := b.process(ctx, h, l.msg)
		b.mu.Lock()
		l.part.leased[group] = false
		if ok {
			l.part.committed[group] = l.msg.Offset + 1
			b.trimLocked(l.t, l.part)
		}
		b.broadcastLocked()
		b.mu.Unlock()
		if !ok {
			return nil
		}
	}
}

// acquire leases the next deliverable message for group, waiting for one.
func (b *Broker) acquire(ctx context.Context, group string, topics []string, next *int) (*lease, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed {
			return nil, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var cands []lease
		for _, name := range topics {
			t := b.topics[name]
			for _, p := range t.parts {
				off := p.committed[group]
				if !p.leased[group] && off < p.base+int64(len(p.msgs)) {
					cands = append(cands, lease{t: t, part: p, msg: p.msgs[off-p.base]})
				}
			}
		}
		if len(cands) > 0 {
			l := cands[*next%len(cands)]
			*next++
			l.part.leased[group] = true
			return &l, nil
		}
		if err := b.wait(ctx); err != nil {
			return nil, err
		}
	}
}

var _ broker.BatchSubscriber = (*Broker)(nil)

// batchLease is one leased partition's share of a batch: its messages
// from the group's committed offset up to end.
type batchLease struct {
	t    *topic
	part *partition
	end  int64
}

// SubscribeBatch consumes topics as a member of group until ctx ends,
// running h over batches of up to max messages. A batch holds what is
// waiting now in one or more partitions, each leased to this member until
// h returns: nil commits the whole batch, an error retries it after a
// backoff.
func (b *Broker) SubscribeBatch(ctx context.Context, group string, topics []string, max int, h broker.BatchHandler) error {
	if max < 1 {
		max = 1
	}
	b.join(group, topics)

	next := 0 // round-robin start, so members spread over partitions
	for {
		ls, msgs := b.acquireBatch(ctx, group, topics, max, &next)
		if ls == nil {
			return nil // ctx ended or broker closed
		}
		ok := b.process(ctx, func(ctx context.Context, _ broker.Message) error { return h(ctx, msgs) }, broker.Message{})
		b.mu.Lock()
		for _, l := range ls {
			l.part.leased[group] = false
			if ok {
				l.part.committed[group] = l.end
				b.trimLocked(l.t, l.part)
			}
		}
		b.broadcastLocked()
		b.mu.Unlock()
		if !ok {
			return nil
		}
	}
}

// acquireBatch leases partitions with messages waiting for group, taking up
// to max messages, and waits until there is at least one. It returns nil
// when ctx ends or the broker closes.
func (b *Broker) acquireBatch(ctx context.Context, group string, topics []string, max int, next *int) ([]batchLease, []broker.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if b.closed || ctx.Err() != nil {
			return nil, nil
		}
		var cands []batchLease
		for _, name := range topics {
			t := b.topics[name]
			for _, p := range t.parts {
				if !p.leased[group] && p.committed[group] < p.base+int64(len(p.msgs)) {
					cands = append(cands, batchLease{t: t, part: p})
				}
			}
		}
		if len(cands) > 0 {
			start := *next % len(cands)
			*next++
			var ls []batchLease
			var msgs []broker.Message
			for i := range cands {
				if len(msgs) >= max {
					break
				}
				l := cands[(start+i)%len(cands)]
				p := l.part
				from := int(p.committed[group] - p.base)
				to := min(len(p.msgs), from+max-len(msgs))
				msgs = append(msgs, p.msgs[from:to]...)
				l.end = p.base + int64(to)
				p.leased[group] = true
				ls = append(ls, l)
			}
			return ls, msgs
		}
		if err := b.wait(ctx); err != nil {
			return nil, nil
		}
	}
}

// process runs h until it succeeds (true) or ctx ends or the broker closes
// (false: the message stays uncommitted for redelivery).
func (b *Broker) process(ctx context.Context, h broker.Handler, m broker.Message) bool {
	backoff := b.cfg.RetryBackoff
	for {
		if ctx.Err() != nil || b.isClosed() {
			return false
		}
		if err := h(ctx, m); err == nil {
			return true
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
		if backoff *= 2; backoff > time.Second {
			backoff = time.Second
		}
	}
}

func (b *Broker) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// trimLocked drops messages every group of the topic has committed.
func (b *Broker) trimLocked(t *topic, p *partition) {
	if len(t.retain) == 0 {
		return
	}
	low := p.base + int64(len(p.msgs))
	for _, g := range t.retain {
		if c := p.committed[g]; c < low {
			low = c
		}
	}
	n := int(low - p.base)
	if n <= 0 {
		return
	}
	for i := 0; i < n; i++ {
		t.bytes -= size(p.msgs[i])
		p.msgs[i] = broker.Message{}
	}
	p.msgs = p.msgs[n:]
	p.base = low
	if len(p.msgs) == 0 {
		p.msgs = nil
	}
}

// Close wakes every blocked call; Publish then fails and Subscribe returns.
func (b *Broker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.broadcastLocked()
	}
	return nil
}
