package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/broker/memory"
	"github.com/destill-ci/destill/internal/sink"
	"github.com/destill-ci/destill/internal/sink/sinktest"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var (
	eventsOnce sync.Once
	events     []broker.Message
)

// realEvents are the messages of three requests over two builds, produced by
// the real ingest and analyze stages from real CI logs.
func realEvents(t *testing.T) []broker.Message {
	t.Helper()
	eventsOnce.Do(func() {
		events = sinktest.Events(t,
			sinktest.Request{ID: "req-1", BuildURL: "https://buildkite.com/acme/app/builds/1",
				Files: []string{"../../testdata/logs/bugswarm-python-109787645.log", "../../testdata/logs/cidiff-java8workshop-2462.log.gz"}},
			sinktest.Request{ID: "req-2", BuildURL: "https://buildkite.com/acme/app/builds/2",
				Files: []string{"../../testdata/logs/bugswarm-python-109787645.log", "../../testdata/logs/bugswarm-jest-2545414624.log.gz"}},
			sinktest.Request{ID: "req-3", Files: []string{"../../testdata/logs/cidiff-metamutator-1765.log.gz"}},
		)
	})
	if len(events) == 0 {
		t.Fatal("no events")
	}
	return events
}

func countTopic(ms []broker.Message, topic string) int {
	n := 0
	for _, m := range ms {
		if m.Topic == topic {
			n++
		}
	}
	return n
}

// countingStore counts the rows of successful writes and the failed calls.
type countingStore struct {
	*postgres.Store
	rows, fails atomic.Int64
}

func (c *countingStore) note(n int, err error) error {
	if err != nil {
		c.fails.Add(1)
	} else {
		c.rows.Add(int64(n))
	}
	return err
}

func (c *countingStore) InsertFindings(ctx context.Context, cards []contracts.TriageCard) (int64, error) {
	n, err := c.Store.InsertFindings(ctx, cards)
	return n, c.note(len(cards), err)
}

func (c *countingStore) ApplyRequests(ctx context.Context, reqs []contracts.AnalysisRequest) error {
	return c.note(len(reqs), c.Store.ApplyRequests(ctx, reqs))
}

func (c *countingStore) ApplyProgress(ctx context.Context, evs []contracts.Progress) error {
	return c.note(len(evs), c.Store.ApplyProgress(ctx, evs))
}

func openStore(t *testing.T, url string) *countingStore {
	t.Helper()
	st, err := postgres.Open(context.Background(), url, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &countingStore{Store: st}
}

// runSink starts a sink and returns a function that stops it. obs, when
// given, observes it.
func runSink(t *testing.T, b broker.Broker, st sink.Store, obs ...*observer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := sink.Config{Members: 4, RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	if len(obs) > 0 {
		cfg.Metrics, cfg.Logger = obs[0], slog.New(obs[0])
	}
	s := sink.New(b, st, cfg)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("sink.Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func publish(t *testing.T, b broker.Broker, ms []broker.Message) {
	t.Helper()
	for _, m := range ms {
		if err := b.Publish(context.Background(), broker.Message{Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers}); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// sinkAll runs a sink over ms on a fresh database and returns its tables.
func sinkAll(t *testing.T, url string, ms []broker.Message) map[string][]string {
	t.Helper()
	b := memory.New(memory.Config{})
	defer b.Close()
	st := openStore(t, url)
	stop := runSink(t, b, st)
	publish(t, b, ms)
	waitFor(t, "every message written", func() bool { return st.rows.Load() >= int64(len(ms)) })
	stop()
	return sinktest.Tables(t, url)
}

func TestSinkWritesRealEvents(t *testing.T) {
	ms := realEvents(t)
	url := pgtest.Shared(t).CreateDatabase(t)
	tables := sinkAll(t, url, ms)
	t.Logf("%d messages: %d requests, %d findings, %d progress", len(ms), countTopic(ms, contracts.TopicRequests),
		countTopic(ms, contracts.TopicFindings), countTopic(ms, contracts.TopicProgress))

	if got, want := len(tables["findings"]), countTopic(ms, contracts.TopicFindings); got != want || want == 0 {
		t.Errorf("findings rows = %d, want %d (> 0)", got, want)
	}
	st := openStore(t, url)
	for _, id := range []string{"req-1", "req-2", "req-3"} {
		r, err := st.Request(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != "completed" || r.JobsDone != r.JobsTotal || r.ChunksAnalyzed != r.ChunksTotal || r.ChunksTotal == 0 {
			t.Errorf("Request(%s) = %s, jobs %d/%d, chunks %d/%d; want completed with all counted",
				id, r.State, r.JobsDone, r.JobsTotal, r.ChunksAnalyzed, r.ChunksTotal)
		}
	}
	// The python log is in both builds: its findings recur in req-2.
	fs, err := st.Findings(context.Background(), "req-2")
	if err != nil {
		t.Fatal(err)
	}
	recurring := 0
	for _, f := range fs {
		if f.History.Builds >= 2 {
			recurring++
		}
	}
	if recurring == 0 {
		t.Errorf("Findings(req-2): no card seen in two builds; want the python log's findings to recur")
	}
}

func TestSinkRedeliveryLeavesTablesUnchanged(t *testing.T) {
	ms := realEvents(t)
	srv := pgtest.Shared(t)
	want := sinkAll(t, srv.CreateDatabase(t), ms)

	t.Run("every message twice in a row", func(t *testing.T) {
		var twice []broker.Message
		for _, m := range ms {
			twice = append(twice, m, m)
		}
		got := sinkAll(t, srv.CreateDatabase(t), twice)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tables after double delivery differ (-once +twice):\n%s", diff)
		}
	})
	t.Run("the whole stream again after it was written", func(t *testing.T) {
		url := srv.CreateDatabase(t)
		b := memory.New(memory.Config{})
		defer b.Close()
		st := openStore(t, url)
		stop := runSink(t, b, st)
		publish(t, b, ms)
		waitFor(t, "first delivery written", func() bool { return st.rows.Load() >= int64(len(ms)) })
		publish(t, b, ms)
		waitFor(t, "second delivery written", func() bool { return st.rows.Load() >= 2*int64(len(ms)) })
		stop()
		if diff := cmp.Diff(want, sinktest.Tables(t, url)); diff != "" {
			t.Errorf("tables after redelivery differ (-once +twice):\n%s", diff)
		}
	})
}

func TestSinkSurvivesPostgresRestart(t *testing.T) {
	ms := realEvents(t)
	want := sinkAll(t, pgtest.Shared(t).CreateDatabase(t), ms)

	srv := pgtest.Start(t) // private: this test stops it
	url := srv.CreateDatabase(t)
	b := memory.New(memory.Config{})
	defer b.Close()
	st := openStore(t, url)
	obs := newObserver()
	stop := runSink(t, b, st, obs)

	half := len(ms) / 2
	publish(t, b, ms[:half])
	waitFor(t, "some rows written", func() bool { return st.rows.Load() > 0 })
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	publish(t, b, ms[half:])
	waitFor(t, "the sink to meet the stopped server", func() bool { return st.fails.Load() > 0 })
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	// Rows written count a part of a batch again when another part's
	// failure retries the batch: wait for every message's batch to end.
	waitFor(t, "every message written", func() bool { return obs.handled() >= len(ms) })
	stop()
	if diff := cmp.Diff(want, sinktest.Tables(t, url)); diff != "" {
		t.Errorf("tables after a Postgres restart differ (-uninterrupted +restarted):\n%s", diff)
	}
	if retries := obs.records("sink: write failed; retrying"); len(retries) == 0 {
		t.Errorf("no retry logged")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.failed["postgres"] == 0 || obs.failed["publish"] != 0 {
		t.Errorf("failures reported = %v; want some postgres ones, no publish ones", obs.failed)
	}
	// A commit whose acknowledgement the stopping server never sent is not
	// reported; none is reported twice.
	if got, want := obs.inserted, int64(countTopic(ms, contracts.TopicFindings)); got == 0 || got > want {
		t.Errorf("findings inserted = %d, want 1 to %d: each card at most once, retries or not", got, want)
	}
}

func TestSinkDeadLettersWhatPostgresRefuses(t *testing.T) {
	url := pgtest.Shared(t).CreateDatabase(t)
	b := memory.New(memory.Config{})
	defer b.Close()
	st := openStore(t, url)

	good, badID := goodAndBadCards()
	future := good
	future.Version, future.ID = 99, contracts.FindingID("r", "j", 3)
	enc := func(v any) []byte { return mustJSON(t, v) }
	in := []broker.Message{
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(good), Partition: 1, Offset: 10},
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(badID), Partition: 1, Offset: 11},
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(future), Partition: 2, Offset: 12},
		{Topic: contracts.TopicFindings, Key: "r", Value: []byte("{not json"), Partition: 2, Offset: 13},
		{Topic: contracts.TopicProgress, Key: "r", Value: []byte(`{"version":1,"kind":"job_done"}`), Partition: 3, Offset: 14},
	}
	// Each dead letter is logged at warn with its topic, place and reason.
	wantLogged := []deadLetterLog{
		{contracts.TopicFindings, 1, 11, "invalid input syntax for type uuid"},
		{contracts.TopicFindings, 2, 12, "unknown contract version 99"},
		{contracts.TopicFindings, 2, 13, "decode"},
		{contracts.TopicProgress, 3, 14, "progress lacks request_id"},
	}

	var mu sync.Mutex
	var dlq []broker.Message
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go b.Subscribe(ctx, "test-dlq", []string{contracts.TopicDLQ}, func(_ context.Context, m broker.Message) error {
		mu.Lock()
		defer mu.Unlock()
		dlq = append(dlq, m)
		return nil
	})
	stop := runSink(t, b, st)
	// All in one batch: the good card must still be written.
	obs := newObserver()
	if err := sink.New(b, st, sink.Config{Metrics: obs, Logger: slog.New(obs)}).WriteBatch(context.Background(), in); err != nil {
		t.Fatalf("WriteBatch = %v", err)
	}
	waitFor(t, "four dead letters", func() bool { mu.Lock(); defer mu.Unlock(); return len(dlq) >= 4 })
	stop()

	if got := sinktest.Count(t, url, "findings"); got != 1 {
		t.Errorf("findings rows = %d, want 1 (the good card)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range dlq {
		if m.Headers[agent.HeaderError] == "" || m.Headers[agent.HeaderGroup] != sink.Group {
			t.Errorf("dead letter %q has headers %v; want a reason and group %s", m.Value, m.Headers, sink.Group)
		}
	}

	logged := obs.records("sink: dead-lettering a message")
	if len(logged) != len(wantLogged) {
		t.Fatalf("logged %d dead letters, want %d: %v", len(logged), len(wantLogged), logged)
	}
	for _, want := range wantLogged {
		found := false
		for _, r := range logged {
			err, _ := r.attrs["error"].(string)
			if r.level == slog.LevelWarn && r.attrs["topic"] == want.topic && r.attrs["partition"] == int64(want.partition) &&
				r.attrs["offset"] == want.offset && strings.Contains(err, want.reason) {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning for the dead letter %+v among %v", want, logged)
		}
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	wantDead := map[string]int{contracts.TopicFindings: 3, contracts.TopicProgress: 1}
	if diff := cmp.Diff(wantDead, obs.dead); diff != "" {
		t.Errorf("dead letters reported by topic (-want +got):\n%s", diff)
	}
	wantBatched := map[string]int{contracts.TopicFindings: 4, contracts.TopicProgress: 1}
	if diff := cmp.Diff(wantBatched, obs.batched); diff != "" {
		t.Errorf("messages reported stored or dead-lettered, by topic (-want +got):\n%s", diff)
	}
	if obs.inserted != 1 || obs.rows[contracts.TopicFindings] != 1 {
		t.Errorf("reported %d findings inserted of %d rows written; want the good card, 1 of 1", obs.inserted, obs.rows[contracts.TopicFindings])
	}
}

type deadLetterLog struct {
	topic     string
	partition int32
	offset    int64
	reason    string
}

// TestSinkReportsItsWork runs the sink over the real events, delivered
// twice, on each kind of subscription, and checks what it reports to its
// Metrics: every message consumed, every row written, each card inserted
// once.
func TestSinkReportsItsWork(t *testing.T) {
	ms := realEvents(t)
	tests := []struct {
		name   string
		broker func(t *testing.T) broker.Broker
		exact  bool // no redelivery beyond the test's own
	}{
		{"memory, batches", func(t *testing.T) broker.Broker {
			b := memory.New(memory.Config{})
			t.Cleanup(func() { b.Close() })
			return b
		}, true},
		{"memory, one message at a time", func(t *testing.T) broker.Broker {
			b := memory.New(memory.Config{})
			t.Cleanup(func() { b.Close() })
			return struct{ broker.Broker }{b} // hides SubscribeBatch: per-message handler and group commit
		}, true},
		{"kafka (kfake), batches", kfakeBroker, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := pgtest.Shared(t).CreateDatabase(t)
			b := tt.broker(t)
			st := openStore(t, url)
			obs := newObserver()
			stop := runSink(t, b, st, obs)
			publish(t, b, ms)
			waitFor(t, "first delivery stored", func() bool { return obs.stored(ms, 1) })
			publish(t, b, ms)
			waitFor(t, "second delivery stored", func() bool { return obs.stored(ms, 2) })
			stop()

			obs.mu.Lock()
			defer obs.mu.Unlock()
			for _, topic := range sink.Topics {
				want := 2 * countTopic(ms, topic)
				if got := obs.batched[topic]; got < want || (tt.exact && got != want) {
					t.Errorf("%s: %d messages reported stored, want %d", topic, got, want)
				}
				if got := obs.rows[topic]; got < want || (tt.exact && got != want) {
					t.Errorf("%s: %d rows reported written, want %d", topic, got, want)
				}
				if obs.batches[topic] == 0 || obs.batches[topic] > obs.batched[topic] || obs.writes[topic] == 0 {
					t.Errorf("%s: %d batches, %d writes reported for %d messages; want 1 to %d batches and some writes",
						topic, obs.batches[topic], obs.writes[topic], obs.batched[topic], obs.batched[topic])
				}
			}
			if got, want := obs.inserted, int64(countTopic(ms, contracts.TopicFindings)); got != want {
				t.Errorf("findings inserted = %d, want %d: each card once", got, want)
			}
			if len(obs.dead) != 0 || len(obs.failed) != 0 {
				t.Errorf("dead letters %v, failures %v reported; want none; log: %v", obs.dead, obs.failed, obs.logs)
			}
		})
	}
}

// kfakeBroker is the kafka broker on an in-process kfake cluster with the
// sink's topics.
func kfakeBroker(t *testing.T) broker.Broker {
	t.Helper()
	fc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	kb, err := kafka.New(kafka.Config{Brokers: fc.ListenAddrs(), SessionTimeout: 1500 * time.Millisecond,
		RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond, FetchMaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	for _, topic := range append([]string{contracts.TopicDLQ}, sink.Topics...) {
		if _, err := kb.CreateTopics(context.Background(), kafka.TopicSpec{Name: topic, Partitions: 4}); err != nil {
			t.Fatal(err)
		}
	}
	return kb
}

// observer is the sink's Metrics and the handler of its log: it keeps what
// the sink reports.
type observer struct {
	mu       sync.Mutex
	batched  map[string]int // messages stored or dead-lettered, by topic
	batches  map[string]int
	rows     map[string]int
	writes   map[string]int
	inserted int64
	dead     map[string]int
	failed   map[string]int // by cause
	logs     []logRecord
}

type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

func newObserver() *observer {
	return &observer{batched: map[string]int{}, batches: map[string]int{}, rows: map[string]int{}, writes: map[string]int{},
		dead: map[string]int{}, failed: map[string]int{}}
}

func (o *observer) Batch(topic string, n int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batched[topic] += n
	o.batches[topic]++
}

func (o *observer) Wrote(topic string, rows int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rows[topic] += rows
	o.writes[topic]++
}

func (o *observer) Inserted(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inserted += n
}

func (o *observer) DeadLettered(topic string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dead[topic]++
}

func (o *observer) Failed(_, cause string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed[cause]++
}

func (o *observer) Enabled(context.Context, slog.Level) bool { return true }

func (o *observer) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		v := a.Value.Resolve()
		switch v.Kind() {
		case slog.KindAny:
			if err, ok := v.Any().(error); ok {
				rec.attrs[a.Key] = err.Error()
			} else {
				rec.attrs[a.Key] = v.Any()
			}
		default:
			rec.attrs[a.Key] = v.Any()
		}
		return true
	})
	o.mu.Lock()
	defer o.mu.Unlock()
	o.logs = append(o.logs, rec)
	return nil
}

func (o *observer) WithAttrs([]slog.Attr) slog.Handler { return o }
func (o *observer) WithGroup(string) slog.Handler      { return o }

// stored reports whether the sink reported times as many messages of each
// topic stored as ms holds.
func (o *observer) stored(ms []broker.Message, times int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, topic := range sink.Topics {
		if o.batched[topic] < times*countTopic(ms, topic) {
			return false
		}
	}
	return true
}

// handled is how many messages the sink's batches stored or dead-lettered.
func (o *observer) handled() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, k := range o.batched {
		n += k
	}
	return n
}

// records returns the log records with message msg.
func (o *observer) records(msg string) []logRecord {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []logRecord
	for _, r := range o.logs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// outageStore fails its first writes of findings as an unreachable
// Postgres does, then writes through.
type outageStore struct {
	*countingStore
	failures atomic.Int64
}

func (o *outageStore) InsertFindings(ctx context.Context, cards []contracts.TriageCard) (int64, error) {
	if o.failures.Add(-1) >= 0 {
		return 0, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return o.countingStore.InsertFindings(ctx, cards)
}

// TestSinkDeadLettersOnceAcrossRetries: a batch retried while Postgres is
// down dead-letters each bad message once, not once an attempt.
func TestSinkDeadLettersOnceAcrossRetries(t *testing.T) {
	url := pgtest.Shared(t).CreateDatabase(t)
	b := memory.New(memory.Config{})
	defer b.Close()
	st := &outageStore{countingStore: openStore(t, url)}
	st.failures.Store(2)

	good, badID := goodAndBadCards()
	enc := func(v any) []byte { return mustJSON(t, v) }
	in := []broker.Message{
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(good), Partition: 1, Offset: 10},
		{Topic: contracts.TopicFindings, Key: "r", Value: []byte("{not json"), Partition: 1, Offset: 11},
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(badID), Partition: 1, Offset: 12},
	}
	obs := newObserver()
	s := sink.New(b, st, sink.Config{Metrics: obs, Logger: slog.New(obs), RetryMin: time.Millisecond, RetryMax: time.Millisecond})
	if err := s.WriteBatch(context.Background(), in); err != nil {
		t.Fatalf("WriteBatch = %v", err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.failed["postgres"] != 2 {
		t.Errorf("failures retried = %d, want 2", obs.failed["postgres"])
	}
	if got := obs.dead[contracts.TopicFindings]; got != 2 {
		t.Errorf("dead letters = %d, want 2 (the undecodable message and the refused id, once each)", got)
	}
	if st.rows.Load() < 1 {
		t.Errorf("the good card was not stored")
	}
}

// goodAndBadCards returns a card Postgres stores and one whose id it
// refuses.
func goodAndBadCards() (good, badID contracts.TriageCard) {
	good = contracts.TriageCard{Version: 1, ID: contracts.FindingID("r", "j", 1), RequestID: "r", MessageHash: "h",
		Severity: contracts.SeverityError, LineNumber: 1, EndLine: 1, Message: "boom"}
	badID = good
	badID.ID, badID.LineNumber = "not-a-uuid", 2
	return good, badID
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
