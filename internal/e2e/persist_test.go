package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/store/pgtest"
)

// viewOnly names what `destill view` adds to each card printed by `destill
// run`: the message's history across builds. Everything else must be the
// same, field for field.
var viewOnly = []string{"history"}

// parseCards reads the cards printed with --format json (one array) or
// jsonl (one object a line) as whole JSON objects, numbers as written, so
// that any field one side prints and the other does not shows as a
// difference.
func parseCards(t *testing.T, format, out string) []map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	var cards []map[string]any
	switch format {
	case "json":
		if err := dec.Decode(&cards); err != nil {
			t.Fatalf("--format json output %q: %v", out, err)
		}
	case "jsonl":
		for dec.More() {
			var c map[string]any
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("--format jsonl output %q: %v", out, err)
			}
			cards = append(cards, c)
		}
	default:
		t.Fatalf("parseCards: format %q", format)
	}
	if dec.More() {
		t.Fatalf("--format %s output has more after its cards: %q", format, out)
	}
	return cards
}

// metric sums the samples of name in a Prometheus text exposition that
// carry every one of labels (each written name="value"); found is false
// when there is none.
func metric(body, name string, labels ...string) (sum float64, found bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		set := ""
		if rest[0] == '{' {
			end := strings.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			set, rest = rest[1:end], rest[end+1:]
		}
		have := strings.Split(set, ",")
		all := true
		for _, l := range labels {
			all = all && contains(have, l)
		}
		if !all {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// logRecords returns the JSON log lines of a process's stderr whose msg is msg.
func logRecords(t *testing.T, stderr, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestPersistenceProcesses runs the whole agentic data plane as separate
// processes — development broker, ingest, analyze, sink into a real
// Postgres — then follows the request with `destill status --watch` and
// reads it back with `destill view`, which must show exactly the cards
// local mode shows for the same build. The sink's /metrics count what it
// did: the messages it consumed, the rows it wrote, a poison message it
// dead-lettered (and logged) and the writes it retried while Postgres was
// down.
func TestPersistenceProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several processes")
	}
	pg := pgtest.Start(t) // private: the test stops it
	dsn := pg.CreateDatabase(t)
	api := buildkiteFixture(t, map[string]string{
		"job-python": "bugswarm-python-109787645.log",
		"job-jest":   "bugswarm-jest-2545414624.log.gz",
		"job-maven":  "cidiff-metamutator-1765.log.gz",
	})
	const url = "https://buildkite.com/acme/api/builds/1"
	const id = "e2e-persist-1"
	srcEnv := []string{"BUILDKITE_API_URL=" + api.URL, "BUILDKITE_API_TOKEN=test-token"}

	env, addr := startPlane(t, dsn, srcEnv)
	flags := []string{"--session-timeout", "2s"}
	start(t, "ingest", env, append([]string{"ingest"}, flags...)...)
	start(t, "analyze", env, append([]string{"analyze"}, flags...)...)
	sk := start(t, "sink", env, "sink", "--log-format", "json", "--metrics-addr", "127.0.0.1:0")

	if r := run(t, nil, env, "run", "--request-id", id, url); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Fatalf("destill run (agentic): exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	st := run(t, nil, env, "status", "--watch", "--interval", "100ms", id)
	if st.code != 0 || !strings.Contains(st.stdout, "completed") {
		t.Fatalf("status --watch: exit %d, stdout %q, stderr %s; want 0 and completed", st.code, st.stdout, st.stderr)
	}

	// view gives back every field of every card local mode prints.
	local := run(t, nil, srcEnv, "run", "--local", "--format", "json", "--request-id", id, url)
	if local.code != 0 {
		t.Fatalf("run --local: exit %d, stderr %s", local.code, local.stderr)
	}
	want := parseCards(t, "json", local.stdout)
	if len(want) == 0 {
		t.Fatal("local mode found no cards")
	}
	// The fixture's jobs exited 1: local mode prints that on every card.
	for _, key := range []string{"exit_status", "line_in_chunk"} {
		if _, ok := want[0][key]; !ok {
			t.Errorf("local mode's first card has no %s; the comparison below would not cover it", key)
		}
	}
	for _, format := range []string{"json", "jsonl"} {
		view := run(t, nil, env, "view", "--format", format, id)
		if view.code != 0 {
			t.Fatalf("view --format %s: exit %d, stderr %s", format, view.code, view.stderr)
		}
		stored := parseCards(t, format, view.stdout)
		for i, c := range stored {
			for _, key := range viewOnly {
				if _, ok := c[key]; !ok {
					t.Errorf("view --format %s: card %d has no %s", format, i, key)
				}
				delete(c, key)
			}
		}
		if diff := cmp.Diff(want, stored); diff != "" {
			t.Errorf("destill view --format %s differs from destill run --format json (-local +view):\n%s", format, diff)
		}
	}

	// Status as JSON carries the counts.
	js := run(t, nil, env, "status", "--format", "json", id)
	var s struct {
		State    string `json:"state"`
		Findings int    `json:"findings_count"`
	}
	total := 0
	for _, c := range want {
		n, err := c["recurrence"].(json.Number).Int64()
		if err != nil {
			t.Fatalf("local card recurrence %v: %v", c["recurrence"], err)
		}
		total += int(n)
	}
	// Recurrence counts occurrences (a message repeated inside its own
	// block counts once), so the stored cards are at least that many.
	if err := json.Unmarshal([]byte(js.stdout), &s); err != nil || s.State != "completed" || s.Findings < total {
		t.Fatalf("status --format json = %q (%v), want state completed with at least %d findings", js.stdout, err, total)
	}

	// The sink serves health (broker and Postgres) and metrics.
	maddr := sk.err.await(t, "the sink's metrics address", metricsRE, 10*time.Second)
	if body := httpGet(t, "http://"+maddr+"/healthz"); strings.TrimSpace(body) != "ok" {
		t.Errorf("sink /healthz = %q, want ok", body)
	}
	scrape := func() string { return httpGet(t, "http://"+maddr+"/metrics") }
	const sinkLabel = `agent="sink"`
	topicLabel := func(topic string) string { return `topic="` + topic + `"` }
	body := scrape()
	findings := float64(s.Findings)
	atLeast := []struct {
		name   string
		labels []string
		min    float64
	}{
		{"destill_agent_consumer_lag", []string{sinkLabel, topicLabel(contracts.TopicFindings)}, 0},
		{"destill_agent_messages_in_total", []string{sinkLabel, topicLabel(contracts.TopicRequests)}, 1},
		{"destill_agent_messages_in_total", []string{sinkLabel, topicLabel(contracts.TopicFindings)}, findings},
		{"destill_agent_messages_in_total", []string{sinkLabel, topicLabel(contracts.TopicProgress)}, 1},
		{"destill_agent_processing_seconds_count", []string{sinkLabel}, findings},
		{"destill_sink_rows_written_total", []string{sinkLabel, topicLabel(contracts.TopicFindings)}, findings},
		{"destill_sink_rows_written_total", []string{sinkLabel, topicLabel(contracts.TopicProgress)}, 1},
		{"destill_sink_batch_seconds_count", []string{sinkLabel, topicLabel(contracts.TopicFindings)}, 1},
		{"destill_sink_write_seconds_count", []string{sinkLabel, topicLabel(contracts.TopicFindings)}, 1},
	}
	for _, m := range atLeast {
		if v, ok := metric(body, m.name, m.labels...); !ok || v < m.min || (m.min > 0 && v == 0) {
			t.Errorf("sink /metrics: %s{%s} = %v (present %v), want at least %v", m.name, strings.Join(m.labels, ","), v, ok, m.min)
		}
	}
	exactly := []struct {
		name   string
		labels []string
		want   float64
	}{
		// Every stored card was inserted once by this sink.
		{"destill_sink_findings_inserted_total", []string{sinkLabel}, findings},
		{"destill_agent_messages_out_total", []string{sinkLabel, topicLabel(contracts.TopicDLQ)}, 0},
		{"destill_agent_errors_total", []string{sinkLabel, `kind="postgres"`}, 0},
	}
	for _, m := range exactly {
		if v, ok := metric(body, m.name, m.labels...); !ok || v != m.want {
			t.Errorf("sink /metrics: %s{%s} = %v (present %v), want %v", m.name, strings.Join(m.labels, ","), v, ok, m.want)
		}
	}
	if t.Failed() {
		t.Logf("sink /metrics:\n%s", body)
	}

	b, err := kafka.New(kafka.Config{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	await := func(what, name string, labels []string, want float64) {
		t.Helper()
		for {
			v, _ := metric(scrape(), name, labels...)
			if v >= want {
				return
			}
			select {
			case <-ctx.Done():
				t.Fatalf("waiting for %s: %s{%s} = %v, want %v", what, name, strings.Join(labels, ","), v, want)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	// A poison message is dead-lettered, counted and logged with its reason,
	// topic and offset.
	if err := b.Publish(ctx, broker.Message{Topic: contracts.TopicFindings, Key: id, Value: []byte("{not json")}); err != nil {
		t.Fatal(err)
	}
	await("the poison card dead-lettered", "destill_agent_messages_out_total", []string{sinkLabel, topicLabel(contracts.TopicDLQ)}, 1)
	recs := logRecords(t, sk.err.String(), "sink: dead-lettering a message")
	if len(recs) != 1 {
		t.Fatalf("sink logged %d dead letters, want 1; stderr:\n%s", len(recs), sk.err.String())
	}
	rec := recs[0]
	if _, isNum := rec["offset"].(float64); rec["level"] != "WARN" || rec["topic"] != contracts.TopicFindings || !isNum ||
		!strings.Contains(rec["error"].(string), "decode") {
		t.Errorf("dead letter logged as %v; want level WARN, topic %s, an offset and the decode error", rec, contracts.TopicFindings)
	}

	// While Postgres is down the sink retries, and counts it; once it is
	// back the event is written.
	before, _ := metric(scrape(), "destill_sink_rows_written_total", sinkLabel, topicLabel(contracts.TopicProgress))
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	ev, err := json.Marshal(contracts.Progress{Version: contracts.Version, RequestID: "e2e-persist-retry",
		Kind: contracts.ProgressRequestFailed, Error: "test", Time: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, broker.Message{Topic: contracts.TopicProgress, Key: "e2e-persist-retry", Value: ev}); err != nil {
		t.Fatal(err)
	}
	await("a failed write", "destill_agent_errors_total", []string{sinkLabel, `kind="postgres"`}, 1)
	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	await("the event written after the restart", "destill_sink_rows_written_total",
		[]string{sinkLabel, topicLabel(contracts.TopicProgress)}, before+1)
	if r := run(t, nil, env, "status", "--format", "json", "e2e-persist-retry"); !strings.Contains(r.stdout, `"failed"`) {
		t.Errorf("status of the event written after the restart: exit %d, stdout %q, stderr %s; want it failed", r.code, r.stdout, r.stderr)
	}

	// SIGTERM: the sink finishes, says so and exits 0.
	if code := sk.stop(t, 30*time.Second); code != 0 {
		t.Errorf("sink exit code after SIGTERM = %d, want 0; stderr:\n%s", code, sk.err.String())
	}
	if len(logRecords(t, sk.err.String(), "sink stopped")) != 1 {
		t.Errorf("sink did not log that it stopped; stderr:\n%s", sk.err.String())
	}
}

// startPlane starts a development broker, creates the topics and migrates
// the database at dsn. It returns the environment the agents and commands
// need (extra appended) and the broker's address.
func startPlane(t *testing.T, dsn string, extra []string) (env []string, addr string) {
	t.Helper()
	brk := start(t, "dev broker", nil, "dev", "broker", "--addr", "127.0.0.1:0")
	addr = brk.out.await(t, "the broker's address", listeningRE, 30*time.Second)
	env = append([]string{"REDPANDA_BROKERS=" + addr, "DATABASE_URL=" + dsn}, extra...)
	if r := run(t, nil, env, "topics", "create"); r.code != 0 {
		t.Fatalf("topics create: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := run(t, nil, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: exit %d, stderr %s", r.code, r.stderr)
	}
	return env, addr
}
