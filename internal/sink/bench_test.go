package sink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/broker/memory"
	"github.com/destill-ci/destill/internal/sink"
	"github.com/destill-ci/destill/internal/sink/sinktest"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// benchCards returns n finding messages modelled on real cards (15 lines of
// context before, 30 after), spread over requests of 1000 cards.
func benchCards(b *testing.B, n int) ([]broker.Message, int64) {
	b.Helper()
	var ctxBefore, ctxAfter []string
	for i := range contracts.ContextBefore {
		ctxBefore = append(ctxBefore, fmt.Sprintf("2026-03-01T12:00:%02dZ   at org.example.Service.call(Service.java:%d)", i, 100+i))
	}
	for i := range contracts.ContextAfter {
		ctxAfter = append(ctxAfter, fmt.Sprintf("2026-03-01T12:01:%02dZ   [INFO] Tests run: %d, Failures: 1, Errors: 0", i, i))
	}
	ms := make([]broker.Message, n)
	var bytes int64
	for i := range ms {
		req := fmt.Sprintf("bench-%d", i/1000)
		c := contracts.TriageCard{Version: 1, ID: contracts.FindingID(req, "job-1", i), RequestID: req,
			MessageHash: fmt.Sprintf("%016x", i%5000), Source: "buildkite", BuildID: req,
			BuildURL: "https://buildkite.com/acme/app/builds/" + req,
			Job:      contracts.Job{ID: "job-1", Name: "integration tests", Outcome: contracts.OutcomeFailed},
			Severity: contracts.SeverityError, LineNumber: i, EndLine: i + 3, ConfidenceScore: 0.8,
			RawMessage: "\x1b[31mERROR\x1b[0m AssertionError: expected 200 but got 500 in test_checkout",
			Message:    "ERROR AssertionError: expected 200 but got 500 in test_checkout", NormalizedMessage: "error assertionerror: expected <n> but got <n> in test_checkout",
			NormalizerVersion: 1, Rule: "error-prefix", PreContext: ctxBefore, PostContext: ctxAfter}
		v, err := json.Marshal(c)
		if err != nil {
			b.Fatal(err)
		}
		ms[i] = broker.Message{Topic: contracts.TopicFindings, Key: req, Value: v}
		bytes += int64(len(v))
	}
	return ms, bytes
}

func benchStore(b *testing.B) (*postgres.Store, string) {
	b.Helper()
	url := pgtest.Shared(b).CreateDatabase(b)
	st, err := postgres.Open(context.Background(), url, postgres.Config{MaxConns: 8})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if _, err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st, url
}

// BenchmarkWriteBatch measures the sink's write path: decode, clean and
// store a batch of findings (in concurrent parts, see Config.PartRows).
func BenchmarkWriteBatch(b *testing.B) {
	for _, size := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			st, _ := benchStore(b)
			mem := memory.New(memory.Config{})
			defer mem.Close()
			s := sink.New(mem, st, sink.Config{MaxBatch: size})
			ms, bytes := benchCards(b, 200_000)
			b.SetBytes(bytes / int64(len(ms)) * int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			written := 0
			for i := 0; b.Loop(); i++ {
				off := (i * size) % (len(ms) - size)
				if err := s.WriteBatch(context.Background(), ms[off:off+size]); err != nil {
					b.Fatal(err)
				}
				written += size
			}
			b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "findings/s")
		})
	}
}

// BenchmarkSinkMemoryBroker measures findings/s end to end: published to the
// in-memory broker over 100 requests (keys), consumed by the sink in
// batches of up to MaxBatch (the broker's SubscribeBatch), stored in
// Postgres.
func BenchmarkSinkMemoryBroker(b *testing.B) {
	for _, members := range []int{8, 32} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			const n = 20_000
			ms, bytes := benchCards(b, n)
			for i := range ms { // 100 keys of 200 cards
				ms[i].Key = fmt.Sprintf("bench-%d", i%100)
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				st, url := benchStore(b)
				mem := memory.New(memory.Config{Partitions: 32, MaxTopicBytes: 1 << 30})
				for _, m := range ms {
					if err := mem.Publish(context.Background(), m); err != nil {
						b.Fatal(err)
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- sink.New(mem, st, sink.Config{Members: members}).Run(ctx) }()
				waitRows(b, url, n)
				total += time.Since(start)
				b.StopTimer()
				cancel()
				<-done
				mem.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "findings/s")
		})
	}
}

// BenchmarkSinkKafkaBroker is BenchmarkSinkMemoryBroker over the kafka
// broker and an in-process kfake cluster (8 partitions per topic, 8
// members): mode=message hides SubscribeBatch, so the sink takes records
// one at a time with group commit; mode=batch lets it write whole polls.
// Group timeouts are the tests' short ones: with franz-go's 3 s heartbeat
// the members' joining stalls consumption for about a second, which would
// swamp the 20,000 writes measured here.
func BenchmarkSinkKafkaBroker(b *testing.B) {
	for _, mode := range []string{"message", "batch"} {
		b.Run("mode="+mode, func(b *testing.B) {
			const n = 20_000
			ms, bytes := benchCards(b, n)
			for i := range ms { // 100 keys of 200 cards
				ms[i].Key = fmt.Sprintf("bench-%d", i%100)
			}
			b.SetBytes(bytes)
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				st, url := benchStore(b)
				fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond),
					kfake.BrokerConfigs(map[string]string{"message.max.bytes": "10485760"}))
				if err != nil {
					b.Fatal(err)
				}
				kb, err := kafka.New(kafka.Config{Brokers: fc.ListenAddrs(), SessionTimeout: 1500 * time.Millisecond,
					RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond, FetchMaxWait: 100 * time.Millisecond})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				for _, t := range sink.Topics {
					if _, err := kb.CreateTopics(ctx, kafka.TopicSpec{Name: t, Partitions: 8}); err != nil {
						b.Fatal(err)
					}
				}
				for off := 0; off < n; off += 1000 {
					if err := kb.PublishBatch(ctx, ms[off:min(off+1000, n)]); err != nil {
						b.Fatal(err)
					}
				}
				var br broker.Broker = kb
				if mode == "message" {
					br = struct{ broker.Broker }{kb}
				}
				done := make(chan error, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- sink.New(br, st, sink.Config{Members: 8}).Run(ctx) }()
				waitRows(b, url, n)
				total += time.Since(start)
				b.StopTimer()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				kb.Close()
				fc.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "findings/s")
		})
	}
}

func waitRows(b *testing.B, url string, n int) {
	b.Helper()
	ctx := context.Background()
	st, err := postgres.Open(ctx, url, postgres.Config{MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	deadline := time.Now().Add(5 * time.Minute)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		r, err := st.Request(ctx, "bench-19") // the last request of cards
		if err == nil && r.Findings >= 1000 {
			if total := countFindings(b, url); total >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("timed out waiting for the sink")
		}
		<-tick.C
	}
}

func countFindings(b *testing.B, url string) int { return sinktestCount(b, url) }

func sinktestCount(b *testing.B, url string) int { return sinktest.Count(b, url, "findings") }
