package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

	// The sink serves health (broker and Postgres) and metrics, and stops
	// cleanly on SIGTERM.
	maddr := sk.err.await(t, "the sink's metrics address", metricsRE, 10*time.Second)
	if body := httpGet(t, "http://"+maddr+"/healthz"); strings.TrimSpace(body) != "ok" {
		t.Errorf("sink /healthz = %q, want ok", body)
	}
	if body := httpGet(t, "http://"+maddr+"/metrics"); !strings.Contains(body, `destill_agent_consumer_lag{agent="sink"`) {
		t.Errorf("sink /metrics lacks its consumer lag:\n%s", body)
	}
	if code := sk.stop(t, 30*time.Second); code != 0 {
		t.Errorf("sink exit code after SIGTERM = %d, want 0; stderr:\n%s", code, sk.err.String())
	}
}
