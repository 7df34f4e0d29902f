package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/brokertest"
	"github.com/destill-ci/destill/internal/broker/memory"
)

func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) broker.Broker {
			// One shared cluster per test: clients are views of one broker.
			return sharedFor(t)
		},
		Topic: func(t *testing.T, name string) string { return name },
		Wait:  10 * time.Second,
	})
}

// shared hands every client in one (sub)test the same broker; Close on a
// view does not close the cluster until the test ends.
var clusters = map[*testing.T]*memory.Broker{}

type view struct{ *memory.Broker }

func (view) Close() error { return nil }

func sharedFor(t *testing.T) broker.Broker {
	b, ok := clusters[t]
	if !ok {
		b = memory.New(memory.Config{RetryBackoff: time.Millisecond})
		clusters[t] = b
		t.Cleanup(func() { b.Close(); delete(clusters, t) })
	}
	return view{b}
}

func TestPublishBlocksWhenFull(t *testing.T) {
	b := memory.New(memory.Config{MaxTopicBytes: 100, Partitions: 1, Retain: map[string][]string{"t": {"g"}}})
	defer b.Close()
	ctx := context.Background()
	big := make([]byte, 60)
	if err := b.Publish(ctx, broker.Message{Topic: "t", Value: big}); err != nil {
		t.Fatalf("first Publish = %v, want nil", err)
	}
	gctx, gcancel := context.WithCancel(ctx)
	defer gcancel()
	release := make(chan struct{})
	got := make(chan int, 10)
	go b.Subscribe(gctx, "g", []string{"t"}, func(_ context.Context, m broker.Message) error {
		<-release
		got <- len(m.Value)
		return nil
	})
	pctx, pcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer pcancel()
	if err := b.Publish(pctx, broker.Message{Topic: "t", Value: big}); err == nil {
		t.Fatal("Publish into a full topic = nil, want it to block until ctx ends")
	}
	close(release)
	if err := b.Publish(ctx, broker.Message{Topic: "t", Value: big}); err != nil {
		t.Fatalf("Publish after consumption = %v, want nil", err)
	}
	for i := 0; i < 2; i++ {
		if n := <-got; n != 60 {
			t.Errorf("delivered %d bytes, want 60", n)
		}
	}
}

func TestClosedPublishFails(t *testing.T) {
	b := memory.New(memory.Config{})
	b.Close()
	if err := b.Publish(context.Background(), broker.Message{Topic: "t"}); err != broker.ErrClosed {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
}
