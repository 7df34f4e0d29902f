package kafka_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/brokertest"
	"github.com/destill-ci/destill/internal/broker/kafka"
)

// EnvTestBrokers points the tests at a real cluster (e.g. Redpanda from
// docker compose) instead of an in-process kfake cluster. Its
// group.min.session.timeout.ms must allow the short test sessions.
const EnvTestBrokers = "DESTILL_TEST_BROKERS"

// cluster is one test's Kafka cluster.
type cluster struct {
	addrs []string
}

var (
	clustersMu sync.Mutex
	clusters   = map[*testing.T]*cluster{}
)

// clusterFor returns t's cluster, starting a kfake cluster on first use.
func clusterFor(t *testing.T) *cluster {
	t.Helper()
	clustersMu.Lock()
	defer clustersMu.Unlock()
	if c, ok := clusters[t]; ok {
		return c
	}
	c := &cluster{}
	if env := os.Getenv(EnvTestBrokers); env != "" {
		c.addrs = strings.Split(env, ",")
	} else {
		fc, err := kfake.NewCluster(
			kfake.NumBrokers(1),
			kfake.GroupMinSessionTimeout(100*time.Millisecond),
			kfake.BrokerConfigs(map[string]string{"message.max.bytes": "10485760"}),
		)
		if err != nil {
			t.Fatalf("kfake.NewCluster() = %v", err)
		}
		t.Cleanup(fc.Close)
		c.addrs = fc.ListenAddrs()
	}
	clusters[t] = c
	t.Cleanup(func() {
		clustersMu.Lock()
		delete(clusters, t)
		clustersMu.Unlock()
	})
	return c
}

// testConfig is a client configuration with short group timeouts.
func testConfig(addrs []string) kafka.Config {
	return kafka.Config{
		Brokers:           addrs,
		SessionTimeout:    1500 * time.Millisecond,
		RebalanceTimeout:  3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		RetryBackoff:      5 * time.Millisecond,
		MaxRetryBackoff:   50 * time.Millisecond,
		CommitTimeout:     3 * time.Second,
		Logger:            testLogger(),
	}
}

func newBroker(t *testing.T, cfg kafka.Config) *kafka.Broker {
	t.Helper()
	b, err := kafka.New(cfg)
	if err != nil {
		t.Fatalf("kafka.New() = %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func createTopic(t *testing.T, c *cluster, name string, partitions int32) string {
	t.Helper()
	b := newBroker(t, testConfig(c.addrs))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := b.CreateTopics(ctx, kafka.TopicSpec{Name: name, Partitions: partitions}); err != nil {
		t.Fatalf("CreateTopics(%s) = %v", name, err)
	}
	return name
}

func TestConformance(t *testing.T) {
	brokertest.Run(t, brokertest.Harness{
		New: func(t *testing.T) broker.Broker {
			return newBroker(t, testConfig(clusterFor(t).addrs))
		},
		Topic: func(t *testing.T, name string) string {
			return createTopic(t, clusterFor(t), name, 6)
		},
		Wait: 30 * time.Second,
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("DESTILL_TEST_KAFKA_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
