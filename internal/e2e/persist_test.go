package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/google/go-cmp/cmp"
)

// storedCard is what both `destill run --format jsonl` and `destill view
// --format jsonl` print, minus view's history.
type storedCard struct {
	ID          string   `json:"id"`
	RequestID   string   `json:"request_id"`
	JobID       string   `json:"job_id"`
	JobName     string   `json:"job_name"`
	LineNumber  int      `json:"line_number"`
	EndLine     int      `json:"end_line"`
	Severity    string   `json:"severity"`
	Confidence  float64  `json:"confidence_score"`
	Message     string   `json:"message"`
	RawMessage  string   `json:"raw_message"`
	Normalized  string   `json:"normalized_message"`
	MessageHash string   `json:"message_hash"`
	PreContext  []string `json:"pre_context"`
	PostContext []string `json:"post_context"`
	ContextNote string   `json:"context_note"`
	Recurrence  int      `json:"recurrence"`
	Jobs        []string `json:"jobs"`
}

func parseStored(t *testing.T, s string) []storedCard {
	t.Helper()
	var out []storedCard
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var c storedCard
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("jsonl line %q: %v", l, err)
		}
		out = append(out, c)
	}
	return out
}

// TestPersistenceProcesses runs the whole agentic data plane as separate
// processes — development broker, ingest, analyze, sink into a real
// Postgres — then follows the request with `destill status --watch` and
// reads it back with `destill view`, which must show exactly the cards
// local mode shows for the same build.
func TestPersistenceProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several processes")
	}
	pg := pgtest.Start(t)
	dsn := pg.CreateDatabase(t)
	api := buildkiteFixture(t, map[string]string{
		"job-python": "bugswarm-python-109787645.log",
		"job-jest":   "bugswarm-jest-2545414624.log.gz",
		"job-maven":  "cidiff-metamutator-1765.log.gz",
	})
	const url = "https://buildkite.com/acme/api/builds/1"
	const id = "e2e-persist-1"
	srcEnv := []string{"BUILDKITE_API_URL=" + api.URL, "BUILDKITE_API_TOKEN=test-token"}

	brk := start(t, "dev broker", nil, "dev", "broker", "--addr", "127.0.0.1:0")
	addr := brk.out.await(t, "the broker's address", listeningRE, 30*time.Second)
	env := append([]string{"REDPANDA_BROKERS=" + addr, "DATABASE_URL=" + dsn}, srcEnv...)
	if r := run(t, nil, env, "topics", "create"); r.code != 0 {
		t.Fatalf("topics create: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := run(t, nil, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate: exit %d, stderr %s", r.code, r.stderr)
	}
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

	view := run(t, nil, env, "view", "--format", "jsonl", id)
	if view.code != 0 {
		t.Fatalf("view: exit %d, stderr %s", view.code, view.stderr)
	}
	local := run(t, nil, srcEnv, "run", "--local", "--format", "jsonl", "--request-id", id, url)
	if local.code != 0 {
		t.Fatalf("run --local: exit %d, stderr %s", local.code, local.stderr)
	}
	stored, want := parseStored(t, view.stdout), parseStored(t, local.stdout)
	if len(want) == 0 {
		t.Fatal("local mode found no cards")
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("destill view differs from local mode (-local +view):\n%s", diff)
	}

	// The sink serves health (broker and Postgres) and metrics, and stops
	// cleanly on SIGTERM.
	maddr := sk.err.await(t, "the sink's metrics address", metricsRE, 10*time.Second)
	if body := httpGet(t, "http://"+maddr+"/healthz"); strings.TrimSpace(body) != "ok" {
		t.Errorf("sink /healthz = %q, want ok", body)
	}
	if body := httpGet(t, "http://"+maddr+"/metrics"); !strings.Contains(body, `destill_agent_consumer_lag{agent="sink"`) {
		t.Errorf("sink /metrics lacks its consumer lag:\n%s", body)
	}
	defer func() {
		if code := sk.stop(t, 30*time.Second); code != 0 {
			t.Errorf("sink exit code after SIGTERM = %d, want 0; stderr:\n%s", code, sk.err.String())
		}
	}()

	// Status as JSON carries the counts.
	js := run(t, nil, env, "status", "--format", "json", id)
	var s struct {
		State    string `json:"state"`
		Findings int    `json:"findings_count"`
	}
	total := 0
	for _, c := range want {
		total += c.Recurrence
	}
	// Recurrence counts occurrences (a message repeated inside its own
	// block counts once), so the stored cards are at least that many.
	if err := json.Unmarshal([]byte(js.stdout), &s); err != nil || s.State != "completed" || s.Findings < total {
		t.Errorf("status --format json = %q (%v), want state completed with at least %d findings", js.stdout, err, total)
	}
}
