package sink_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
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

// runSink starts a sink and returns a function that stops it.
func runSink(t *testing.T, b broker.Broker, st sink.Store) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s := sink.New(b, st, sink.Config{Members: 4, RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond})
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
	stop := runSink(t, b, st)

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
	waitFor(t, "every message written", func() bool { return st.rows.Load() >= int64(len(ms)) })
	stop()
	if diff := cmp.Diff(want, sinktest.Tables(t, url)); diff != "" {
		t.Errorf("tables after a Postgres restart differ (-uninterrupted +restarted):\n%s", diff)
	}
}

func TestSinkDeadLettersWhatPostgresRefuses(t *testing.T) {
	url := pgtest.Shared(t).CreateDatabase(t)
	b := memory.New(memory.Config{})
	defer b.Close()
	st := openStore(t, url)

	good := contracts.TriageCard{Version: 1, ID: contracts.FindingID("r", "j", 1), RequestID: "r", MessageHash: "h",
		Severity: contracts.SeverityError, LineNumber: 1, EndLine: 1, Message: "boom"}
	badID := good
	badID.ID, badID.LineNumber = "not-a-uuid", 2
	future := good
	future.Version, future.ID = 99, contracts.FindingID("r", "j", 3)
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := []broker.Message{
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(good)},
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(badID)},
		{Topic: contracts.TopicFindings, Key: "r", Value: enc(future)},
		{Topic: contracts.TopicFindings, Key: "r", Value: []byte("{not json")},
		{Topic: contracts.TopicProgress, Key: "r", Value: []byte(`{"version":1,"kind":"job_done"}`)},
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
	if err := sink.New(b, st, sink.Config{}).WriteBatch(context.Background(), in); err != nil {
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
}
