package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
)

func TestCreateTopicsIdempotent(t *testing.T) {
	c := clusterFor(t)
	b := newBroker(t, testConfig(c.addrs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	specs := []kafka.TopicSpec{{Name: "idem-a", Partitions: 3}, {Name: "idem-b", Partitions: 12}}

	missing, err := b.MissingTopics(ctx, "idem-b", "idem-a")
	if err != nil {
		t.Fatalf("MissingTopics() = %v", err)
	}
	if diff := cmp.Diff([]string{"idem-a", "idem-b"}, missing); diff != "" {
		t.Errorf("MissingTopics before create (-want +got):\n%s", diff)
	}
	for round, want := range []bool{true, false} {
		res, err := b.CreateTopics(ctx, specs...)
		if err != nil {
			t.Fatalf("CreateTopics() round %d = %v, want nil", round, err)
		}
		for _, r := range res {
			if r.Created != want {
				t.Errorf("round %d: CreateTopics(%s).Created = %v, want %v", round, r.Name, r.Created, want)
			}
		}
	}
	missing, err = b.MissingTopics(ctx, "idem-a", "idem-b", "idem-c")
	if err != nil {
		t.Fatalf("MissingTopics() = %v", err)
	}
	if diff := cmp.Diff([]string{"idem-c"}, missing); diff != "" {
		t.Errorf("MissingTopics after create (-want +got):\n%s", diff)
	}
}

func TestFollowReadsOneKey(t *testing.T) {
	c := clusterFor(t)
	findings := createTopic(t, c, "follow-findings", 6)
	progress := createTopic(t, c, "follow-progress", 3)
	b := newBroker(t, testConfig(c.addrs))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 40; i++ {
		for _, topic := range []string{findings, progress} {
			key := fmt.Sprintf("req-%d", i%4)
			if err := b.Publish(ctx, broker.Message{Topic: topic, Key: key, Value: []byte(fmt.Sprintf("%s/%d", topic, i))}); err != nil {
				t.Fatalf("Publish() = %v", err)
			}
		}
	}
	var got []string
	err := b.Follow(ctx, []string{findings, progress}, "req-1", kafka.FollowOptions{StopAtEnd: true}, func(m broker.Message) error {
		if m.Key != "req-1" {
			t.Errorf("Follow delivered key %q, want req-1", m.Key)
		}
		got = append(got, string(m.Value))
		return nil
	})
	if err != nil {
		t.Fatalf("Follow() = %v, want nil", err)
	}
	want := map[string]bool{}
	for i := 1; i < 40; i += 4 {
		want[fmt.Sprintf("%s/%d", findings, i)] = true
		want[fmt.Sprintf("%s/%d", progress, i)] = true
	}
	if len(got) != len(want) {
		t.Errorf("Follow delivered %d records, want %d: %v", len(got), len(want), got)
	}
	for _, v := range got {
		if !want[v] {
			t.Errorf("Follow delivered %q, not published with key req-1", v)
		}
	}

	// Without StopAtEnd, Follow waits for new records.
	fctx, fcancel := context.WithCancel(ctx)
	seen := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		done <- b.Follow(fctx, []string{progress}, "req-new", kafka.FollowOptions{Since: time.Now().Add(-time.Minute)}, func(m broker.Message) error {
			seen <- string(m.Value)
			return nil
		})
	}()
	if err := b.Publish(ctx, broker.Message{Topic: progress, Key: "req-new", Value: []byte("late")}); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	select {
	case v := <-seen:
		if v != "late" {
			t.Errorf("Follow delivered %q, want late", v)
		}
	case <-ctx.Done():
		t.Fatal("Follow never delivered the new record")
	}
	fcancel()
	if err := <-done; err != nil {
		t.Errorf("Follow after cancel = %v, want nil", err)
	}
}

func TestLag(t *testing.T) {
	c := clusterFor(t)
	topic := createTopic(t, c, "lag", 3)
	b := newBroker(t, testConfig(c.addrs))
	publishN(t, b, topic, 10, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acked := make(chan struct{}, 10)
	stop := subscribe(t, b, "lag-g", topic, func(_ context.Context, m broker.Message) error {
		acked <- struct{}{}
		return nil
	})
	for i := 0; i < 10; i++ {
		<-acked
	}
	stop() // commits and leaves
	publishN(t, b, topic, 4, 2)
	lag, err := b.Lag(ctx, "lag-g")
	if err != nil {
		t.Fatalf("Lag() = %v", err)
	}
	if got := lag[topic]; got != 4 {
		t.Errorf("Lag()[%s] = %d, want 4", topic, got)
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    kafka.Config
		wantErr bool
	}{
		{name: "unset", env: nil, want: kafka.Config{}},
		{name: "brokers", env: map[string]string{"REDPANDA_BROKERS": " a:9092, b:9092 ,"},
			want: kafka.Config{Brokers: []string{"a:9092", "b:9092"}}},
		{name: "tls and scram", env: map[string]string{
			"REDPANDA_BROKERS": "a:9092", "REDPANDA_TLS": "true", "REDPANDA_TLS_CA_FILE": "/ca.pem",
			"REDPANDA_SASL_MECHANISM": "scram-sha-512", "REDPANDA_SASL_USERNAME": "u", "REDPANDA_SASL_PASSWORD": "p"},
			want: kafka.Config{Brokers: []string{"a:9092"}, TLS: true, CAFile: "/ca.pem",
				SASLMechanism: "SCRAM-SHA-512", SASLUser: "u", SASLPassword: "p"}},
		{name: "bad tls flag", env: map[string]string{"REDPANDA_TLS": "yes please"}, wantErr: true},
		{name: "unknown mechanism", env: map[string]string{"REDPANDA_SASL_MECHANISM": "GSSAPI", "REDPANDA_SASL_USERNAME": "u"}, wantErr: true},
		{name: "mechanism without user", env: map[string]string{"REDPANDA_SASL_MECHANISM": "PLAIN"}, wantErr: true},
		{name: "cert without key", env: map[string]string{"REDPANDA_TLS_CERT_FILE": "/c.pem"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kafka.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("ConfigFromEnv() error = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConfigFromEnv() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own cluster")
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "destill", "s3cret"))
			if err != nil {
				t.Fatalf("kfake.NewCluster() = %v", err)
			}
			defer fc.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for _, tc := range []struct {
				pass   string
				wantOK bool
			}{{"s3cret", true}, {"wrong", false}} {
				cfg := testConfig(fc.ListenAddrs())
				cfg.SASLMechanism, cfg.SASLUser, cfg.SASLPassword = mech, "destill", tc.pass
				b, err := kafka.New(cfg)
				if err != nil {
					t.Fatalf("kafka.New() = %v", err)
				}
				err = b.Ping(ctx)
				b.Close()
				if (err == nil) != tc.wantOK {
					t.Errorf("Ping with password %q = %v, want success %v", tc.pass, err, tc.wantOK)
				}
			}
		})
	}
}
