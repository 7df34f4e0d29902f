package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
)

// deliveries records what each member acknowledged.
type deliveries struct {
	mu     sync.Mutex
	byKey  map[string][]int // message index per key, in acknowledgement order
	member map[int]int      // acknowledgements per member
	seen   map[int]int      // acknowledgements per message index
	signal chan struct{}
}

func newDeliveries() *deliveries {
	return &deliveries{byKey: map[string][]int{}, member: map[int]int{}, seen: map[int]int{}, signal: make(chan struct{}, 1)}
}

func (d *deliveries) add(member int, m broker.Message) {
	var i int
	fmt.Sscan(m.Headers["i"], &i)
	d.mu.Lock()
	d.byKey[m.Key] = append(d.byKey[m.Key], i)
	d.member[member]++
	d.seen[i]++
	d.mu.Unlock()
	select {
	case d.signal <- struct{}{}:
	default:
	}
}

func (d *deliveries) distinct() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// waitFor waits until cond holds, up to the deadline.
func waitFor(t *testing.T, d time.Duration, what string, signal <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-signal:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
	}
}

func publishN(t *testing.T, b broker.Broker, topic string, n, keys int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		m := broker.Message{Topic: topic, Key: fmt.Sprintf("build/job-%d", i%keys), Value: []byte(fmt.Sprint(i)),
			Headers: map[string]string{"i": fmt.Sprint(i)}}
		if err := b.Publish(ctx, m); err != nil {
			t.Fatalf("Publish(%d) = %v, want nil", i, err)
		}
	}
}

// subscribe runs a member until the test ends or stop is called.
func subscribe(t *testing.T, b *kafka.Broker, group, topic string, h broker.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, group, []string{topic}, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Subscribe = %v, want nil", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Subscribe did not return 30s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitMembers waits until the group has n members with assignments.
func waitMembers(t *testing.T, b *kafka.Broker, group string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := b.Admin().DescribeGroups(ctx, group)
		cancel()
		if err == nil {
			g := gs[group]
			assigned := 0
			for _, m := range g.Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					assigned++
				}
			}
			if g.State == "Stable" && assigned == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never had %d assigned members (last err %v)", group, n, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's view; no event to wait on
	}
}

func TestMembersSharePartitions(t *testing.T) {
	c := clusterFor(t)
	topic := createTopic(t, c, "share", 6)
	const group, n = "share-g", 600
	d := newDeliveries()
	admin := newBroker(t, testConfig(c.addrs))
	for i := 0; i < 3; i++ {
		i := i
		subscribe(t, newBroker(t, testConfig(c.addrs)), group, topic, func(_ context.Context, m broker.Message) error {
			d.add(i, m)
			return nil
		})
	}
	waitMembers(t, admin, group, 3)
	publishN(t, admin, topic, n, 30)
	waitFor(t, 30*time.Second, fmt.Sprintf("%d messages", n), d.signal, func() bool { return d.distinct() == n })

	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 0; i < 3; i++ {
		if d.member[i] == 0 {
			t.Errorf("member %d acknowledged 0 messages, want some (per member: %v)", i, d.member)
		}
	}
	for i, k := range d.seen {
		if k != 1 {
			t.Errorf("message %d acknowledged %d times, want 1", i, k)
		}
	}
	for key, idx := range d.byKey {
		for j := 1; j < len(idx); j++ {
			if idx[j] < idx[j-1] {
				t.Errorf("key %s acknowledged out of order: %v", key, idx)
				break
			}
		}
	}
}

// killSwitch dials through net.Dialer until killed; then it closes every
// connection it made and refuses new ones, as if the process had died.
type killSwitch struct {
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

var errKilled = errors.New("connection refused: member killed")

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.killed {
		return nil, errKilled
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, conn)
	}
	return conn, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed = true
	for _, c := range k.conns {
		c.Close()
	}
}

func TestKilledMemberLosesNothing(t *testing.T) {
	c := clusterFor(t)
	topic := createTopic(t, c, "kill", 6)
	const group, n = "kill-g", 300
	d := newDeliveries()
	admin := newBroker(t, testConfig(c.addrs))

	// Member 0 acknowledges a few messages, then hangs mid-message and is
	// cut off from the cluster without committing or leaving.
	ks := &killSwitch{}
	cfg0 := testConfig(c.addrs)
	cfg0.Dial = ks.dial
	hung := make(chan struct{})
	var mu sync.Mutex
	handled := 0
	subscribe(t, newBroker(t, cfg0), group, topic, func(ctx context.Context, m broker.Message) error {
		mu.Lock()
		handled++
		h := handled
		mu.Unlock()
		if h <= 5 {
			d.add(0, m)
			return nil
		}
		if h == 6 {
			close(hung)
		}
		<-ctx.Done()
		return ctx.Err()
	})
	for i := 1; i < 3; i++ {
		i := i
		subscribe(t, newBroker(t, testConfig(c.addrs)), group, topic, func(_ context.Context, m broker.Message) error {
			d.add(i, m)
			return nil
		})
	}
	waitMembers(t, admin, group, 3)
	publishN(t, admin, topic, n, 30)
	select {
	case <-hung:
	case <-time.After(30 * time.Second):
		t.Fatal("member 0 never reached its sixth message")
	}
	ks.kill()

	waitFor(t, 60*time.Second, fmt.Sprintf("all %d messages acknowledged", n), d.signal, func() bool { return d.distinct() == n })
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.member[1] == 0 || d.member[2] == 0 {
		t.Errorf("surviving members acknowledged %v, want both some", d.member)
	}
	for key, idx := range d.byKey {
		// Redelivery may repeat a run of messages, but a key's first
		// acknowledgements must still come in publish order.
		first := map[int]bool{}
		prev := -1
		for _, i := range idx {
			if first[i] {
				continue
			}
			first[i] = true
			if i < prev {
				t.Errorf("key %s first acknowledged out of order: %v", key, idx)
				break
			}
			prev = i
		}
	}
}

func TestLargeMessage(t *testing.T) {
	c := clusterFor(t)
	topic := createTopic(t, c, "large", 3)
	b := newBroker(t, testConfig(c.addrs))
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte('a' + i%26)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Publish(ctx, broker.Message{Topic: topic, Key: "k", Value: big}); err != nil {
		t.Fatalf("Publish(3 MiB) = %v, want nil", err)
	}
	got := make(chan int, 1)
	subscribe(t, b, "large-g", topic, func(_ context.Context, m broker.Message) error {
		got <- len(m.Value)
		return nil
	})
	select {
	case n := <-got:
		if n != len(big) {
			t.Errorf("received %d bytes, want %d", n, len(big))
		}
	case <-ctx.Done():
		t.Fatal("3 MiB message never delivered")
	}
}
