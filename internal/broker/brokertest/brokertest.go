// Package brokertest is the conformance suite every broker.Broker
// implementation runs: the behaviour destill's stages rely on.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/internal/broker"
)

// Harness gives the suite brokers and topics.
type Harness struct {
	// New returns a fresh client of the broker under test. Clients
	// returned for one test share the same cluster.
	New func(t *testing.T) broker.Broker
	// Topic prepares a topic (creating it if the broker needs that) and
	// returns its name; name is unique per call.
	Topic func(t *testing.T, name string) string
	// Wait bounds every wait for a condition; default 30 s.
	Wait time.Duration
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	if h.Wait == 0 {
		h.Wait = 30 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"PublishSubscribe", testPublishSubscribe},
		{"PerKeyOrderAcrossMembers", testPerKeyOrder},
		{"GroupsAreIndependent", testGroupsIndependent},
		{"ErrorRedelivers", testErrorRedelivers},
		{"MemberLeavesMidMessage", testMemberLeaves},
		{"CommittedNotRedelivered", testCommittedNotRedelivered},
		{"SubscribeReturnsOnCancel", testSubscribeReturns},
		{"Batch/AllDelivered", testBatchAllDelivered},
		{"Batch/PerKeyOrderAcrossMembers", testBatchPerKeyOrder},
		{"Batch/ErrorRedeliversBatch", testBatchErrorRedelivers},
		{"Batch/CommittedNotRedelivered", testBatchCommittedNotRedelivered},
		{"Batch/ReturnsOnCancel", testBatchReturns},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, h) })
	}
}

func uniq(name string) string { return fmt.Sprintf("conf-%s-%08x", name, rand.Uint32()) }

// collector records deliveries safely.
type collector struct {
	mu   sync.Mutex
	msgs []broker.Message
	who  []int
	ch   chan struct{}
}

func newCollector() *collector { return &collector{ch: make(chan struct{}, 1)} }

func (c *collector) add(member int, m broker.Message) {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.who = append(c.who, member)
	c.mu.Unlock()
	select {
	case c.ch <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() ([]broker.Message, []int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]broker.Message(nil), c.msgs...), append([]int(nil), c.who...)
}

// waitFor polls cond whenever something is delivered, up to the deadline.
func (c *collector) waitFor(t *testing.T, d time.Duration, what string, cond func([]broker.Message) bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		msgs, _ := c.snapshot()
		if cond(msgs) {
			return
		}
		select {
		case <-c.ch:
		case <-tick.C:
		case <-deadline.C:
			msgs, _ := c.snapshot()
			t.Fatalf("timed out after %v waiting for %s; got %d messages", d, what, len(msgs))
		}
	}
}

func publish(t *testing.T, b broker.Broker, topic string, n int, key func(i int) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		m := broker.Message{Topic: topic, Key: key(i), Value: []byte(fmt.Sprintf("v%05d", i)),
			Headers: map[string]string{"i": fmt.Sprint(i)}}
		if err := b.Publish(ctx, m); err != nil {
			t.Fatalf("Publish(%d) = %v, want nil", i, err)
		}
	}
}

// member runs Subscribe in a goroutine and returns its stop function.
func member(t *testing.T, b broker.Broker, group string, topics []string, h broker.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, group, topics, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Subscribe = %v, want nil after cancel", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Subscribe did not return 30s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func client(t *testing.T, h Harness) broker.Broker {
	t.Helper()
	b := h.New(t)
	t.Cleanup(func() { b.Close() })
	return b
}

func testPublishSubscribe(t *testing.T, h Harness) {
	b := client(t, h)
	topic := h.Topic(t, uniq("pubsub"))
	publish(t, b, topic, 20, func(i int) string { return fmt.Sprintf("k%d", i%3) })
	c := newCollector()
	member(t, b, uniq("g"), []string{topic}, func(_ context.Context, m broker.Message) error {
		c.add(0, m)
		return nil
	})
	c.waitFor(t, h.Wait, "20 messages", func(ms []broker.Message) bool { return len(ms) >= 20 })
	msgs, _ := c.snapshot()
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.Topic != topic {
			t.Errorf("message topic = %q, want %q", m.Topic, topic)
		}
		i := m.Headers["i"]
		if want := fmt.Sprintf("v%05s", i); string(m.Value) != fmt.Sprintf("v%05d", atoi(i)) {
			t.Errorf("message %s value = %q, want %q", i, m.Value, want)
		}
		if want := fmt.Sprintf("k%d", atoi(i)%3); m.Key != want {
			t.Errorf("message %s key = %q, want %q", i, m.Key, want)
		}
		if seen[i] {
			t.Errorf("message %s delivered twice", i)
		}
		seen[i] = true
	}
	if len(seen) != 20 {
		t.Errorf("distinct messages = %d, want 20", len(seen))
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func testPerKeyOrder(t *testing.T, h Harness) {
	b := client(t, h)
	topic := h.Topic(t, uniq("order"))
	const n = 300
	group := uniq("g")
	c := newCollector()
	for i := 0; i < 3; i++ {
		i := i
		mb := client(t, h)
		member(t, mb, group, []string{topic}, func(_ context.Context, m broker.Message) error {
			c.add(i, m)
			return nil
		})
	}
	publish(t, b, topic, n, func(i int) string { return fmt.Sprintf("job-%d", i%10) })
	c.waitFor(t, h.Wait, fmt.Sprintf("%d messages", n), func(ms []broker.Message) bool { return len(ms) >= n })
	msgs, _ := c.snapshot()
	last := map[string]int{}
	seen := map[int]bool{}
	for _, m := range msgs {
		i := atoi(m.Headers["i"])
		if seen[i] {
			t.Errorf("message %d delivered twice without failure", i)
		}
		seen[i] = true
		if prev, ok := last[m.Key]; ok && i < prev {
			t.Errorf("key %s: message %d delivered after %d", m.Key, i, prev)
		}
		last[m.Key] = i
	}
	if len(seen) != n {
		t.Errorf("distinct messages = %d, want %d", len(seen), n)
	}
}

func testGroupsIndependent(t *testing.T, h Harness) {
	b := client(t, h)
	topic := h.Topic(t, uniq("groups"))
	publish(t, b, topic, 10, func(i int) string { return "k" })
	c1, c2 := newCollector(), newCollector()
	member(t, b, uniq("g1"), []string{topic}, func(_ context.Context, m broker.Message) error { c1.add(0, m); return nil })
	b2 := client(t, h)
	member(t, b2, uniq("g2"), []string{topic}, func(_ context.Context, m broker.Message) error { c2.add(0, m); return nil })
	c1.waitFor(t, h.Wait, "group 1 to see 10", func(ms []broker.Message) bool { return len(ms) >= 10 })
	c2.waitFor(t, h.Wait, "group 2 to see 10", func(ms []broker.Message) bool { return len(ms) >= 10 })
}

func testErrorRedelivers(t *testing.T, h Harness) {
	b := client(t, h)
	topic := h.Topic(t, uniq("retry"))
	publish(t, b, topic, 5, func(i int) string { return "same" })
	c := newCollector()
	var mu sync.Mutex
	fails := 0
	member(t, b, uniq("g"), []string{topic}, func(_ context.Context, m broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if atoi(m.Headers["i"]) == 2 && fails < 2 {
			fails++
			return errors.New("transient")
		}
		c.add(0, m)
		return nil
	})
	c.waitFor(t, h.Wait, "5 acknowledged messages", func(ms []broker.Message) bool { return len(ms) >= 5 })
	msgs, _ := c.snapshot()
	var got []int
	for _, m := range msgs {
		got = append(got, atoi(m.Headers["i"]))
	}
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			t.Errorf("acknowledged order = %v, want ascending (a failed message must not be skipped)", got)
			break
		}
	}
	if fails != 2 {
		t.Errorf("handler failures = %d, want 2", fails)
	}
}

func testMemberLeaves(t *testing.T, h Harness) {
	topic := h.Topic(t, uniq("leave"))
	group := uniq("g")
	b1 := client(t, h)
	started := make(chan struct{})
	var once sync.Once
	stop1 := member(t, b1, group, []string{topic}, func(ctx context.Context, m broker.Message) error {
		once.Do(func() { close(started) })
		<-ctx.Done() // stuck mid-message until the member leaves
		return ctx.Err()
	})
	pub := client(t, h)
	publish(t, pub, topic, 3, func(i int) string { return "k" })
	select {
	case <-started:
	case <-time.After(h.Wait):
		t.Fatal("first member never received a message")
	}
	stop1()
	b2 := client(t, h)
	c := newCollector()
	member(t, b2, group, []string{topic}, func(_ context.Context, m broker.Message) error { c.add(1, m); return nil })
	c.waitFor(t, h.Wait, "the unacknowledged messages to be redelivered", func(ms []broker.Message) bool {
		have := map[int]bool{}
		for _, m := range ms {
			have[atoi(m.Headers["i"])] = true
		}
		return have[0] && have[1] && have[2]
	})
}

func testCommittedNotRedelivered(t *testing.T, h Harness) {
	topic := h.Topic(t, uniq("commit"))
	group := uniq("g")
	pub := client(t, h)
	publish(t, pub, topic, 4, func(i int) string { return "k" })
	b1 := client(t, h)
	c1 := newCollector()
	stop1 := member(t, b1, group, []string{topic}, func(_ context.Context, m broker.Message) error { c1.add(0, m); return nil })
	c1.waitFor(t, h.Wait, "4 messages", func(ms []broker.Message) bool { return len(ms) >= 4 })
	stop1()
	publish(t, pub, topic, 2, func(i int) string { return "k" })
	b2 := client(t, h)
	c2 := newCollector()
	member(t, b2, group, []string{topic}, func(_ context.Context, m broker.Message) error { c2.add(1, m); return nil })
	c2.waitFor(t, h.Wait, "2 new messages", func(ms []broker.Message) bool { return len(ms) >= 2 })
	msgs, _ := c2.snapshot()
	if len(msgs) != 2 {
		t.Errorf("after rejoin, delivered %d messages, want the 2 new ones only", len(msgs))
	}
}

func testSubscribeReturns(t *testing.T, h Harness) {
	b := client(t, h)
	topic := h.Topic(t, uniq("cancel"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, uniq("g"), []string{topic}, func(context.Context, broker.Message) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe after cancel = %v, want nil", err)
		}
	case <-time.After(h.Wait):
		t.Fatal("Subscribe did not return after cancel")
	}
}

// batchClient is client for the batch tests, which skip brokers that do
// not implement broker.BatchSubscriber.
func batchClient(t *testing.T, h Harness) broker.BatchSubscriber {
	t.Helper()
	b := client(t, h)
	bs, ok := b.(broker.BatchSubscriber)
	if !ok {
		t.Skipf("%T does not implement broker.BatchSubscriber", b)
	}
	return bs
}

// batchMember runs SubscribeBatch in a goroutine and returns its stop
// function.
func batchMember(t *testing.T, b broker.BatchSubscriber, group string, topics []string, max int, h broker.BatchHandler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.SubscribeBatch(ctx, group, topics, max, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("SubscribeBatch = %v, want nil after cancel", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("SubscribeBatch did not return 30s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// checkBatch reports a batch that is empty or larger than max.
func checkBatch(t *testing.T, ms []broker.Message, max int) {
	t.Helper()
	if len(ms) == 0 || len(ms) > max {
		t.Errorf("batch of %d messages, want 1..%d", len(ms), max)
	}
}

func testBatchAllDelivered(t *testing.T, h Harness) {
	b := batchClient(t, h)
	topic := h.Topic(t, uniq("batch"))
	const n, max = 200, 16
	publish(t, b.(broker.Broker), topic, n, func(i int) string { return fmt.Sprintf("k%d", i%7) })
	c := newCollector()
	batchMember(t, b, uniq("g"), []string{topic}, max, func(_ context.Context, ms []broker.Message) error {
		checkBatch(t, ms, max)
		for _, m := range ms {
			c.add(0, m)
		}
		return nil
	})
	c.waitFor(t, h.Wait, fmt.Sprintf("%d messages", n), func(ms []broker.Message) bool { return len(ms) >= n })
	msgs, _ := c.snapshot()
	seen := map[int]bool{}
	for _, m := range msgs {
		i := atoi(m.Headers["i"])
		if m.Topic != topic || string(m.Value) != fmt.Sprintf("v%05d", i) || m.Key != fmt.Sprintf("k%d", i%7) {
			t.Errorf("message %d = topic %q key %q value %q, want %q, k%d, v%05d", i, m.Topic, m.Key, m.Value, topic, i%7, i)
		}
		if seen[i] {
			t.Errorf("message %d delivered twice without failure", i)
		}
		seen[i] = true
	}
	if len(seen) != n {
		t.Errorf("distinct messages = %d, want %d", len(seen), n)
	}
}

func testBatchPerKeyOrder(t *testing.T, h Harness) {
	b := batchClient(t, h)
	topic := h.Topic(t, uniq("batchorder"))
	const n, max = 300, 25
	group := uniq("g")
	c := newCollector()
	var mu sync.Mutex
	inFlight := map[string]int{} // key → member handling it
	for i := 0; i < 3; i++ {
		i := i
		mb := batchClient(t, h)
		batchMember(t, mb, group, []string{topic}, max, func(_ context.Context, ms []broker.Message) error {
			checkBatch(t, ms, max)
			mu.Lock()
			for _, m := range ms {
				if who, ok := inFlight[m.Key]; ok && who != i {
					t.Errorf("key %s in batches of members %d and %d at once", m.Key, who, i)
				}
				inFlight[m.Key] = i
			}
			mu.Unlock()
			time.Sleep(time.Millisecond) // let the batches overlap
			for _, m := range ms {
				c.add(i, m)
			}
			mu.Lock()
			for _, m := range ms {
				delete(inFlight, m.Key)
			}
			mu.Unlock()
			return nil
		})
	}
	publish(t, b.(broker.Broker), topic, n, func(i int) string { return fmt.Sprintf("job-%d", i%10) })
	c.waitFor(t, h.Wait, fmt.Sprintf("%d messages", n), func(ms []broker.Message) bool { return len(ms) >= n })
	msgs, _ := c.snapshot()
	last := map[string]int{}
	seen := map[int]bool{}
	for _, m := range msgs {
		i := atoi(m.Headers["i"])
		if seen[i] {
			t.Errorf("message %d delivered twice without failure", i)
		}
		seen[i] = true
		if prev, ok := last[m.Key]; ok && i < prev {
			t.Errorf("key %s: message %d delivered after %d", m.Key, i, prev)
		}
		last[m.Key] = i
	}
	if len(seen) != n {
		t.Errorf("distinct messages = %d, want %d", len(seen), n)
	}
}

func testBatchErrorRedelivers(t *testing.T, h Harness) {
	b := batchClient(t, h)
	topic := h.Topic(t, uniq("batchretry"))
	const n, max = 5, 10
	publish(t, b.(broker.Broker), topic, n, func(i int) string { return "same" })
	c := newCollector()
	var mu sync.Mutex
	fails := 0
	var failed [][]int // the batches that failed
	batchMember(t, b, uniq("g"), []string{topic}, max, func(_ context.Context, ms []broker.Message) error {
		checkBatch(t, ms, max)
		mu.Lock()
		defer mu.Unlock()
		var is []int
		has2 := false
		for _, m := range ms {
			i := atoi(m.Headers["i"])
			is = append(is, i)
			has2 = has2 || i == 2
		}
		if has2 && fails < 2 {
			fails++
			failed = append(failed, is)
			return errors.New("transient")
		}
		if fails == 2 && len(failed) == 2 {
			// The batch after the failures must start where the failed
			// one did: nothing of it was acknowledged.
			if is[0] != failed[0][0] {
				t.Errorf("batch after failures starts at %d, want %d (the failed batch %v)", is[0], failed[0][0], failed[0])
			}
			failed = append(failed, is)
		}
		for _, m := range ms {
			c.add(0, m)
		}
		return nil
	})
	c.waitFor(t, h.Wait, fmt.Sprintf("%d acknowledged messages", n), func(ms []broker.Message) bool { return len(ms) >= n })
	msgs, _ := c.snapshot()
	var got []int
	for _, m := range msgs {
		got = append(got, atoi(m.Headers["i"]))
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Errorf("acknowledged order = %v, want strictly ascending (a failed batch is redelivered, not skipped)", got)
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fails != 2 {
		t.Errorf("handler failures = %d, want 2", fails)
	}
	if len(failed) >= 2 && fmt.Sprint(failed[0]) != fmt.Sprint(failed[1]) {
		t.Errorf("retried batch = %v, want the failed batch %v again", failed[1], failed[0])
	}
}

func testBatchCommittedNotRedelivered(t *testing.T, h Harness) {
	topic := h.Topic(t, uniq("batchcommit"))
	group := uniq("g")
	pub := client(t, h)
	publish(t, pub, topic, 40, func(i int) string { return fmt.Sprintf("k%d", i%4) })
	const max = 8
	b1 := batchClient(t, h)
	c1 := newCollector()
	stop1 := batchMember(t, b1, group, []string{topic}, max, func(_ context.Context, ms []broker.Message) error {
		checkBatch(t, ms, max)
		for _, m := range ms {
			c1.add(0, m)
		}
		return nil
	})
	c1.waitFor(t, h.Wait, "40 messages", func(ms []broker.Message) bool { return len(ms) >= 40 })
	stop1()
	publish(t, pub, topic, 3, func(i int) string { return fmt.Sprintf("k%d", i%4) })
	b2 := batchClient(t, h)
	c2 := newCollector()
	batchMember(t, b2, group, []string{topic}, max, func(_ context.Context, ms []broker.Message) error {
		for _, m := range ms {
			c2.add(1, m)
		}
		return nil
	})
	c2.waitFor(t, h.Wait, "3 new messages", func(ms []broker.Message) bool { return len(ms) >= 3 })
	msgs, _ := c2.snapshot()
	if len(msgs) != 3 {
		t.Errorf("after rejoin, delivered %d messages, want the 3 new ones only", len(msgs))
	}
}

func testBatchReturns(t *testing.T, h Harness) {
	b := batchClient(t, h)
	topic := h.Topic(t, uniq("batchcancel"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- b.SubscribeBatch(ctx, uniq("g"), []string{topic}, 10, func(context.Context, []broker.Message) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("SubscribeBatch after cancel = %v, want nil", err)
		}
	case <-time.After(h.Wait):
		t.Fatal("SubscribeBatch did not return after cancel")
	}
}
