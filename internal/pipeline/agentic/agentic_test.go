package agentic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/pipeline/local"
)

func fixturePaths(t *testing.T) []string {
	t.Helper()
	var paths []string
	for _, n := range []string{"cidiff-metamutator-1765.log.gz", "cidiff-java8workshop-2462.log.gz", "bugswarm-jest-2545414624.log.gz", "bugswarm-python-109787645.log"} {
		p, err := filepath.Abs(filepath.Join("..", "..", "..", "testdata", "logs", n))
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func localRun(t *testing.T, req contracts.AnalysisRequest, chunker ingest.ChunkerConfig) result {
	t.Helper()
	pl := local.New(local.Config{Open: fileOpener, Chunker: chunker, Workers: 2})
	defer pl.Close()
	return run(t, pl, req, 60*time.Second)
}

// TestParityWithLocal: the agents over Kafka find exactly the cards the
// local pipeline finds, field for field.
func TestParityWithLocal(t *testing.T) {
	for _, size := range []int{0, 12000} {
		t.Run(fmt.Sprintf("chunk-bytes=%d", size), func(t *testing.T) {
			chunker := ingest.ChunkerConfig{MaxBytes: size}
			req := contracts.AnalysisRequest{RequestID: fmt.Sprintf("parity-%d", size), Files: fixturePaths(t)}
			want := localRun(t, req, chunker)
			if want.err != nil || len(want.cards) == 0 {
				t.Fatalf("local run: err %v, %d cards; want cards", want.err, len(want.cards))
			}

			p := newPlane(t)
			p.startIngest(t, chunker)
			p.startAnalyze(t, nil, nil)
			p.startAnalyze(t, nil, nil)
			got := run(t, p.newAgentic(t), req, 60*time.Second)
			if got.err != nil {
				t.Fatalf("agentic Stream() = %v, want nil", got.err)
			}
			if diff := cmp.Diff(sortCards(want.cards), sortCards(got.cards)); diff != "" {
				t.Errorf("agentic cards differ from local (-local +agentic):\n%s", diff)
			}
			if got.status.State != pipeline.StateCompleted {
				t.Errorf("agentic status = %s, want completed", got.status.State)
			}
			if diff := cmp.Diff(chunkCounts(want.status), chunkCounts(got.status)); diff != "" {
				t.Errorf("chunks per job (-local +agentic):\n%s", diff)
			}
		})
	}
}

func chunkCounts(st pipeline.Status) map[string]int {
	out := map[string]int{}
	for _, j := range st.Jobs {
		out[j.ID] = j.ChunksTotal
	}
	return out
}

// bigBuild writes jobs log files of about size bytes each, with failures
// sprinkled through them, and returns their paths.
func bigBuild(t *testing.T, jobs, size int) []string {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for j := 0; j < jobs; j++ {
		var sb strings.Builder
		for i := 1; sb.Len() < size; i++ {
			switch {
			case i%997 == 0:
				fmt.Fprintf(&sb, "ERROR: step %d of job %d failed: connection refused to db-%d:5432\n", i, j, i%7)
			case i%1499 == 0:
				fmt.Fprintf(&sb, "panic: runtime error: index out of range [%d] with length %d\n", i%13, i%5)
			default:
				fmt.Fprintf(&sb, "2026-01-02T03:04:05Z ok   github.com/acme/pkg%d/sub%d  0.%03ds  coverage: %d.%d%% of statements\n", j, i, i%1000, i%100, i%10)
			}
		}
		p := filepath.Join(dir, fmt.Sprintf("job-%02d.log", j))
		if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// chunkLog records which analyze agent acknowledged which chunk.
type chunkLog struct {
	mu      sync.Mutex
	byAgent map[int]int
	chunks  map[string]int // <job>/<chunk> → acknowledgements
}

func (c *chunkLog) wrap(agentIdx int) func(broker.Handler) broker.Handler {
	return func(h broker.Handler) broker.Handler {
		return func(ctx context.Context, m broker.Message) error {
			if err := h(ctx, m); err != nil {
				return err
			}
			var ch contracts.LogChunk
			if err := json.Unmarshal(m.Value, &ch); err == nil {
				c.mu.Lock()
				c.byAgent[agentIdx]++
				c.chunks[fmt.Sprintf("%s/%d", ch.Job.ID, ch.ChunkIndex)]++
				c.mu.Unlock()
			}
			return nil
		}
	}
}

// TestScaleOutSurvivesAKilledAgent: three analyze agents share one large
// build; one is cut off mid-chunk without committing or leaving. Its
// chunks are redelivered to the others, nothing is lost, and the cards
// (redelivered ones included) carry the same deterministic ids as a local
// run's.
func TestScaleOutSurvivesAKilledAgent(t *testing.T) {
	paths := bigBuild(t, 12, 400_000)
	chunker := ingest.ChunkerConfig{MaxBytes: 40_000}
	req := contracts.AnalysisRequest{RequestID: "scale-1", Files: paths}
	want := localRun(t, req, chunker)
	if want.err != nil || len(want.cards) == 0 {
		t.Fatalf("local run: err %v, %d cards; want cards", want.err, len(want.cards))
	}

	p := newPlane(t)
	log := &chunkLog{byAgent: map[int]int{}, chunks: map[string]int{}}
	ks := &killSwitch{}
	hung := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	handled := 0
	p.startAnalyze(t, p.broker(t, ks.dial), func(h broker.Handler) broker.Handler {
		counted := log.wrap(0)(h)
		return func(ctx context.Context, m broker.Message) error {
			mu.Lock()
			handled++
			n := handled
			mu.Unlock()
			// Two chunks go through; the third hangs. Every job has about
			// ten chunks, so agent 0 gets a third whatever partitions it holds.
			if n <= 2 {
				return counted(ctx, m)
			}
			// Mid-chunk: never finishes, never commits.
			once.Do(func() { close(hung) })
			<-ctx.Done()
			return ctx.Err()
		}
	})
	p.startAnalyze(t, nil, log.wrap(1))
	p.startAnalyze(t, nil, log.wrap(2))
	waitGroupMembers(t, p, agent.GroupAnalyze+p.suffix, 3)
	p.startIngest(t, chunker)

	pl := p.newAgentic(t)
	go func() {
		select {
		case <-hung:
			ks.kill()
		case <-time.After(60 * time.Second):
		}
	}()
	got := run(t, pl, req, 120*time.Second)
	if got.err != nil {
		t.Fatalf("agentic Stream() = %v, want nil", got.err)
	}
	select {
	case <-hung:
	default:
		t.Fatal("agent 0 was never killed: the test did not exercise a crash")
	}
	if diff := cmp.Diff(sortCards(want.cards), sortCards(got.cards)); diff != "" {
		t.Errorf("cards after a crash differ from local (-local +agentic):\n%s", diff)
	}

	total := 0
	for _, n := range chunkCounts(got.status) {
		total += n
	}
	log.mu.Lock()
	if len(log.chunks) != total {
		t.Errorf("distinct chunks acknowledged = %d, want all %d", len(log.chunks), total)
	}
	for i := 0; i < 3; i++ {
		if log.byAgent[i] == 0 {
			t.Errorf("agent %d analysed no chunk (per agent: %v), want each some", i, log.byAgent)
		}
	}
	t.Logf("%d chunks; acknowledged per agent %v", total, log.byAgent)
	log.mu.Unlock()

	// Every card message on the topic, repeats included, is one of the
	// local run's cards, identical in content.
	byID := map[string]contracts.TriageCard{}
	for _, c := range want.cards {
		byID[c.ID] = c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs := 0
	err := p.broker(t, nil).Follow(ctx, []string{contracts.TopicFindings}, req.RequestID, kafka.FollowOptions{StopAtEnd: true}, func(m broker.Message) error {
		msgs++
		var c contracts.TriageCard
		if err := json.Unmarshal(m.Value, &c); err != nil {
			return err
		}
		if diff := cmp.Diff(byID[c.ID], c); diff != "" {
			t.Errorf("card message %s differs from the local card (-local +message):\n%s", c.ID, diff)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Follow() = %v", err)
	}
	if msgs < len(want.cards) {
		t.Errorf("card messages = %d, want at least %d", msgs, len(want.cards))
	}
	t.Logf("%d card messages for %d cards", msgs, len(want.cards))
}

func waitGroupMembers(t *testing.T, p *plane, group string, n int) {
	t.Helper()
	b := p.broker(t, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := b.Admin().DescribeGroups(ctx, group)
		cancel()
		if err == nil && gs[group].State == "Stable" && len(gs[group].Members) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %s never had %d stable members (last err %v)", group, n, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's view; no event to wait on
	}
}

// TestPoisonGoesToDLQ: an undecodable message on each input topic is
// dead-lettered with its reason while the good messages around it are
// processed; a dead-lettered request fails its Stream.
func TestPoisonGoesToDLQ(t *testing.T) {
	p := newPlane(t)
	p.startIngest(t, ingest.ChunkerConfig{})
	p.startAnalyze(t, nil, nil)
	pub := p.broker(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	poison := []broker.Message{
		{Topic: contracts.TopicRequests, Key: "poison-json", Value: []byte(`{"version":1,"request_id":`)},
		{Topic: contracts.TopicLogsRaw, Key: "b/poison-json", Value: []byte(`not json at all`)},
		{Topic: contracts.TopicLogsRaw, Key: "b/poison-version", Value: []byte(`{"version":99,"request_id":"x","build_id":"b","job_id":"j"}`)},
	}
	for _, m := range poison[:2] {
		if err := pub.Publish(ctx, m); err != nil {
			t.Fatalf("Publish(poison) = %v", err)
		}
	}
	pl := p.newAgentic(t)
	good := run(t, pl, contracts.AnalysisRequest{RequestID: "good-1", Files: fixturePaths(t)[3:]}, 60*time.Second)
	if good.err != nil || len(good.cards) == 0 {
		t.Errorf("good request after poison: err %v, %d cards; want completed with cards", good.err, len(good.cards))
	}
	if err := pub.Publish(ctx, poison[2]); err != nil {
		t.Fatalf("Publish(poison) = %v", err)
	}

	// A request of a contract version this build does not know.
	bad, err := json.Marshal(contracts.AnalysisRequest{Version: 99, RequestID: "from-the-future"})
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, broker.Message{Topic: contracts.TopicRequests, Key: "from-the-future", Value: bad}); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	err = pl.Stream(ctx, "from-the-future", func(pipeline.Event) error { return nil })
	if !errors.Is(err, pipeline.ErrRequestFailed) {
		t.Errorf("Stream(dead-lettered request) = %v, want ErrRequestFailed", err)
	}

	good2 := run(t, pl, contracts.AnalysisRequest{RequestID: "good-2", Files: fixturePaths(t)[:1]}, 60*time.Second)
	if good2.err != nil {
		t.Errorf("good request after poison chunks: %v", good2.err)
	}

	dead := map[string]broker.Message{}
	var mu sync.Mutex
	got := make(chan struct{}, 10)
	member(t, pub, "dlq-reader"+p.suffix, []string{contracts.TopicDLQ}, func(_ context.Context, m broker.Message) error {
		mu.Lock()
		dead[m.Key] = m
		mu.Unlock()
		got <- struct{}{}
		return nil
	})
	for {
		mu.Lock()
		n := len(dead)
		mu.Unlock()
		if n >= 4 {
			break
		}
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatalf("dead letters: got %d, want 4", n)
		}
	}
	wantTopic := map[string]string{"poison-json": contracts.TopicRequests, "b/poison-json": contracts.TopicLogsRaw,
		"b/poison-version": contracts.TopicLogsRaw, "from-the-future": contracts.TopicRequests}
	for key, topic := range wantTopic {
		m, ok := dead[key]
		if !ok {
			t.Errorf("no dead letter for %s", key)
			continue
		}
		if m.Headers[agent.HeaderTopic] != topic || m.Headers[agent.HeaderError] == "" {
			t.Errorf("dead letter %s headers = %v, want source topic %s and a reason", key, m.Headers, topic)
		}
	}
	if r := dead["from-the-future"].Headers[agent.HeaderError]; !strings.Contains(r, "version") {
		t.Errorf("dead letter reason for version 99 = %q, want it to name the version", r)
	}
}

// TestStatusFromTopics: a pipeline that did not submit a request reads its
// status from what the topics hold.
func TestStatusFromTopics(t *testing.T) {
	p := newPlane(t)
	p.startIngest(t, ingest.ChunkerConfig{})
	p.startAnalyze(t, nil, nil)
	done := run(t, p.newAgentic(t), contracts.AnalysisRequest{RequestID: "status-1", Files: fixturePaths(t)[:2]}, 60*time.Second)
	if done.err != nil {
		t.Fatalf("Stream() = %v", done.err)
	}
	other := p.newAgentic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := other.Status(ctx, "status-1")
	if err != nil {
		t.Fatalf("Status() = %v", err)
	}
	if st.State != pipeline.StateCompleted || st.Findings != len(done.cards) || len(st.Jobs) != 2 {
		t.Errorf("Status() = %s with %d findings and %d jobs, want completed with %d and 2", st.State, st.Findings, len(st.Jobs), len(done.cards))
	}
	if _, err := other.Status(ctx, "never-submitted"); !errors.Is(err, pipeline.ErrUnknownRequest) {
		t.Errorf("Status(never submitted) = %v, want ErrUnknownRequest", err)
	}
	// Stream of a finished request, from another pipeline, ends too.
	n := 0
	if err := other.Stream(ctx, "status-1", func(ev pipeline.Event) error {
		if ev.Card != nil {
			n++
		}
		return nil
	}); err != nil || n != len(done.cards) {
		t.Errorf("Stream(finished request) = %v with %d cards, want nil with %d", err, n, len(done.cards))
	}
}
