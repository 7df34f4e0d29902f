package agentic_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/pipeline/agentic"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/file"
)

// plane is a Kafka cluster with destill's topics and the agents' groups
// of one test. DESTILL_TEST_BROKERS points it at a real cluster instead of
// an in-process kfake one; the groups are then unique to the test.
type plane struct {
	t      *testing.T
	addrs  []string
	suffix string // makes group names unique on a shared cluster
}

func newPlane(t testing.TB) *plane {
	t.Helper()
	p := &plane{suffix: fmt.Sprintf("-%08x", rand.Uint32())}
	if env := os.Getenv("DESTILL_TEST_BROKERS"); env != "" {
		p.addrs = strings.Split(env, ",")
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1),
			kfake.GroupMinSessionTimeout(100*time.Millisecond),
			kfake.BrokerConfigs(map[string]string{"message.max.bytes": fmt.Sprint(kafka.TopicMaxMessageBytes)}))
		if err != nil {
			t.Fatalf("kfake.NewCluster() = %v", err)
		}
		t.Cleanup(c.Close)
		p.addrs = c.ListenAddrs()
	}
	b := p.broker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.CreateTopics(ctx,
		kafka.TopicSpec{Name: contracts.TopicRequests, Partitions: 3},
		kafka.TopicSpec{Name: contracts.TopicLogsRaw, Partitions: 12},
		kafka.TopicSpec{Name: contracts.TopicFindings, Partitions: 6},
		kafka.TopicSpec{Name: contracts.TopicProgress, Partitions: 6},
		kafka.TopicSpec{Name: contracts.TopicDLQ, Partitions: 3})
	if err != nil {
		t.Fatalf("CreateTopics() = %v", err)
	}
	return p
}

// broker returns a client with short group timeouts; dial, if set, opens
// its connections.
func (p *plane) broker(t testing.TB, dial func(context.Context, string, string) (net.Conn, error)) *kafka.Broker {
	t.Helper()
	b, err := kafka.New(kafka.Config{
		Brokers:           p.addrs,
		SessionTimeout:    1500 * time.Millisecond,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		FetchMaxWait:      100 * time.Millisecond,
		RetryBackoff:      5 * time.Millisecond,
		MaxRetryBackoff:   100 * time.Millisecond,
		CommitTimeout:     3 * time.Second,
		Dial:              dial,
	})
	if err != nil {
		t.Fatalf("kafka.New() = %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// member runs a group member until the test ends.
func member(t testing.TB, b broker.Broker, group string, topics []string, h broker.Handler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Subscribe(ctx, group, topics, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Subscribe(%s) = %v, want nil", group, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Subscribe(%s) did not return 30s after cancel", group)
		}
	})
}

var discard = slog.New(slog.DiscardHandler)

// fileOpener reads the request's files, as the ingest agent does.
func fileOpener(_ context.Context, req contracts.AnalysisRequest) (source.Source, error) {
	return file.New(req.Files, nil)
}

// startIngest runs an ingest agent.
func (p *plane) startIngest(t testing.TB, chunker ingest.ChunkerConfig) {
	t.Helper()
	b := p.broker(t, nil)
	stage := &ingest.Stage{Open: fileOpener, Pub: b, Chunker: chunker}
	member(t, b, agent.GroupIngest+p.suffix, []string{contracts.TopicRequests}, agent.IngestHandler(stage, b, discard))
}

// startAnalyze runs an analyze agent; wrap, if set, wraps its handler.
func (p *plane) startAnalyze(t testing.TB, b *kafka.Broker, wrap func(broker.Handler) broker.Handler) {
	t.Helper()
	if b == nil {
		b = p.broker(t, nil)
	}
	h := agent.AnalyzeHandler(analyze.New(analyze.Config{}), b, discard)
	if wrap != nil {
		h = wrap(h)
	}
	member(t, b, agent.GroupAnalyze+p.suffix, []string{contracts.TopicLogsRaw}, h)
}

// result is one request's outcome.
type result struct {
	cards  []contracts.TriageCard // in arrival order, each id once
	status pipeline.Status
	err    error
}

// sortCards orders cards by job and line.
func sortCards(cards []contracts.TriageCard) []contracts.TriageCard {
	out := append([]contracts.TriageCard(nil), cards...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Job.ID != out[j].Job.ID {
			return out[i].Job.ID < out[j].Job.ID
		}
		return out[i].LineNumber < out[j].LineNumber
	})
	return out
}

// run submits req through pl and streams it to the end.
func run(t testing.TB, pl pipeline.Pipeline, req contracts.AnalysisRequest, timeout time.Duration) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	id, err := pl.Submit(ctx, req)
	if err != nil {
		t.Fatalf("Submit() = %v", err)
	}
	var r result
	r.err = pl.Stream(ctx, id, func(ev pipeline.Event) error {
		if ev.Card != nil {
			r.cards = append(r.cards, *ev.Card)
		}
		return nil
	})
	r.status, err = pl.Status(ctx, id)
	if err != nil {
		t.Fatalf("Status() = %v", err)
	}
	return r
}

// newAgentic returns an agentic pipeline over a fresh client.
func (p *plane) newAgentic(t testing.TB) *agentic.Pipeline {
	t.Helper()
	b, err := kafka.New(kafka.Config{Brokers: p.addrs, FetchMaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("kafka.New() = %v", err)
	}
	pl := agentic.New(b, agentic.Config{})
	t.Cleanup(func() { pl.Close() })
	return pl
}

// killSwitch dials normally until killed; then it closes its connections
// and refuses new ones, as if the process had died.
type killSwitch struct {
	mu     sync.Mutex
	conns  []net.Conn
	killed bool
}

func (k *killSwitch) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.killed {
		return nil, fmt.Errorf("dial %s: member killed", addr)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		k.conns = append(k.conns, c)
	}
	return c, err
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed = true
	for _, c := range k.conns {
		c.Close()
	}
}
