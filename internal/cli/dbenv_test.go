package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

type cliResult struct {
	code     int
	out, err string
}

func runCLI(ctx context.Context, env map[string]string, args ...string) cliResult {
	var out, errb bytes.Buffer
	code := Main(ctx, args, Stdio{In: strings.NewReader(""), Out: &out, Err: &errb}, func(k string) string { return env[k] })
	return cliResult{code, out.String(), errb.String()}
}

// seedRequest stores a request with one job of one chunk and the given
// cards, then completes or fails it as asked.
func seedRequest(t *testing.T, st *postgres.Store, id, build string, end contracts.ProgressKind, cards ...contracts.TriageCard) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	if err := st.ApplyRequests(ctx, []contracts.AnalysisRequest{{Version: 1, RequestID: id, BuildURL: build, Timestamp: now}}); err != nil {
		t.Fatal(err)
	}
	for i := range cards {
		cards[i].BuildURL = build
	}
	if _, err := st.InsertFindings(ctx, cards); err != nil {
		t.Fatal(err)
	}
	evs := []contracts.Progress{
		{RequestID: id, Kind: contracts.ProgressRequestStarted, Jobs: 1, Time: now},
		{RequestID: id, Kind: contracts.ProgressJobDiscovered, JobID: "j1", JobName: "unit tests", Time: now},
	}
	switch end {
	case contracts.ProgressJobDone:
		evs = append(evs,
			contracts.Progress{RequestID: id, Kind: contracts.ProgressJobDone, JobID: "j1", Chunks: 1, Time: now},
			contracts.Progress{RequestID: id, Kind: contracts.ProgressChunkAnalyzed, JobID: "j1", Findings: len(cards), Time: now})
	case contracts.ProgressRequestFailed:
		evs = append(evs, contracts.Progress{RequestID: id, Kind: end, Error: "build not found", Time: now})
	}
	if err := st.ApplyProgress(ctx, evs); err != nil {
		t.Fatal(err)
	}
}

func testCard(req string, line int, hash string) contracts.TriageCard {
	return contracts.TriageCard{Version: 1, ID: contracts.FindingID(req, "j1", line), RequestID: req, MessageHash: hash,
		Job: contracts.Job{ID: "j1", Name: "unit tests"}, Severity: contracts.SeverityError, LineNumber: line, EndLine: line,
		Message: "Error: " + hash, NormalizedMessage: "error: " + hash, ConfidenceScore: 0.9}
}

func TestStoreCommands(t *testing.T) {
	srv := pgtest.Start(t)
	env := map[string]string{envDatabaseURL: srv.CreateDatabase(t)}
	ctx := context.Background()

	if r := runCLI(ctx, env, "migrate"); r.code != 0 || !strings.Contains(r.out, "applied 0001_schema") {
		t.Fatalf("migrate = %d %q %q; want 0 and applied 0001_schema", r.code, r.out, r.err)
	}
	if r := runCLI(ctx, env, "migrate"); r.code != 0 || !strings.Contains(r.out, "up to date") {
		t.Fatalf("migrate again = %d %q; want 0 and up to date", r.code, r.out)
	}

	st, err := postgres.Open(ctx, env[envDatabaseURL], postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const build = "https://buildkite.com/acme/app/builds/7"
	seedRequest(t, st, "r-old", build, contracts.ProgressJobDone, testCard("r-old", 3, "flaky"))
	seedRequest(t, st, "r-done", build, contracts.ProgressJobDone, testCard("r-done", 5, "flaky"), testCard("r-done", 9, "fresh"))
	seedRequest(t, st, "r-failed", "https://ci/b/8", contracts.ProgressRequestFailed)
	seedRequest(t, st, "r-running", "https://ci/b/9", "")

	t.Run("status exit codes", func(t *testing.T) {
		tests := []struct {
			id       string
			code     int
			contains string
		}{
			{"r-done", 0, "state     completed"},
			{"r-failed", exitRequestFailed, "state     failed"},
			{"r-running", exitRunning, "state     processing"},
			{"nope", exitNoStatus, ""},
		}
		for _, tt := range tests {
			r := runCLI(ctx, env, "status", tt.id)
			if r.code != tt.code || !strings.Contains(r.out, tt.contains) {
				t.Errorf("status %s = %d, %q; want %d containing %q", tt.id, r.code, r.out, tt.code, tt.contains)
			}
		}
		if r := runCLI(ctx, env, "status", "nope"); !strings.Contains(r.err, "request nope is unknown") {
			t.Errorf("status nope stderr = %q; want it to say the request is unknown", r.err)
		}
	})

	t.Run("status and view refuse a hostile id", func(t *testing.T) {
		const id = "\x1b]52;c;ZXZpbA==\x07id\x1b[2J"
		for _, args := range [][]string{{"status", id}, {"status", "--watch", id}, {"view", "--format", "json", id}} {
			if r := runCLI(ctx, env, args...); r.code != exitUsage || !strings.Contains(r.err, "request id has a character other than") || hasTerminalControls(r.err) {
				t.Errorf("%s <id> = exit %d, stderr %q; want %d saying the id is not one, without controls", args[0], r.code, r.err, exitUsage)
			}
		}
	})

	t.Run("status --watch follows until done", func(t *testing.T) {
		done := make(chan cliResult, 1)
		go func() { done <- runCLI(ctx, env, "status", "--watch", "--interval", "20ms", "r-running") }()
		now := time.Now().UTC()
		if err := st.ApplyProgress(ctx, []contracts.Progress{
			{RequestID: "r-running", Kind: contracts.ProgressJobDone, JobID: "j1", Chunks: 1, Time: now},
			{RequestID: "r-running", Kind: contracts.ProgressChunkAnalyzed, JobID: "j1", Time: now},
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.code != 0 || !strings.Contains(r.out, "completed") {
				t.Errorf("status --watch = %d, %q; want 0 and completed", r.code, r.out)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("status --watch did not return after the request completed")
		}
	})

	t.Run("view json with history", func(t *testing.T) {
		r := runCLI(ctx, env, "view", "r-done") // stdout is not a terminal: json
		if r.code != 0 {
			t.Fatalf("view r-done = %d %q", r.code, r.err)
		}
		var got []postgres.Finding
		if err := json.Unmarshal([]byte(r.out), &got); err != nil {
			t.Fatalf("view output is not a JSON array: %v\n%s", err, r.out)
		}
		type row struct {
			Hash       string
			Builds     int64
			SeenBefore bool
		}
		var rows []row
		for _, f := range got {
			rows = append(rows, row{f.MessageHash, f.History.Builds, f.History.SeenBefore})
		}
		// Both requests are the same build, so flaky is in one build but
		// was seen before, in r-old. (The order is destill run's ranking.)
		sort.Slice(rows, func(i, j int) bool { return rows[i].Hash < rows[j].Hash })
		want := []row{{"flaky", 1, true}, {"fresh", 1, false}}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("view r-done history (-want +got):\n%s", diff)
		}
	})

	t.Run("view --build opens the latest request", func(t *testing.T) {
		r := runCLI(ctx, env, "view", "--format", "jsonl", "--build", build)
		if lines := strings.Count(r.out, "\n"); r.code != 0 || lines != 2 || !strings.Contains(r.out, `"request_id":"r-done"`) {
			t.Errorf("view --build = %d, %d lines, %q; want r-done's 2 cards", r.code, lines, r.out)
		}
		r = runCLI(ctx, env, "view", "--format", "text", "r-done")
		if r.code != 0 || !strings.Contains(r.out, "[new]") || !strings.Contains(r.out, "[recurring") {
			t.Errorf("view --format text = %d, %q; want a new and a recurring card", r.code, r.out)
		}
		if r := runCLI(ctx, env, "view", "--build", "https://ci/none"); r.code != exitNoStatus || !strings.Contains(r.err, "unknown") {
			t.Errorf("view --build unknown = %d, %q; want %d and unknown", r.code, r.err, exitNoStatus)
		}
	})

	t.Run("view says how the request stands", func(t *testing.T) {
		seedRequest(t, st, "r-repeat", "https://ci/b/10", contracts.ProgressJobDone, testCard("r-repeat", 3, "same"), testCard("r-repeat", 40, "same"))
		seedRequest(t, st, "r-partial", "https://ci/b/11", "", testCard("r-partial", 7, "early"))
		tests := []struct {
			name   string
			args   []string
			code   int
			out    []string // in stdout
			err    string   // in stderr; "" for nothing
			noCard bool     // stdout holds no card
		}{
			{"completed, text", []string{"--format", "text", "r-done"}, 0,
				[]string{"https://buildkite.com/acme/app/builds/7 — completed, 2 cards from 2 findings\n"}, "", false},
			{"one card for two findings", []string{"--format", "text", "r-repeat"}, 0,
				[]string{"— completed, 1 card from 2 findings\n"}, "", false},
			{"failed, text", []string{"--format", "text", "r-failed"}, exitRequestFailed,
				[]string{"— failed, 0 cards from 0 findings\n", "error: build not found\n"}, "request r-failed failed: build not found", true},
			{"failed, json", []string{"--format", "json", "r-failed"}, exitRequestFailed,
				[]string{"[]"}, "request r-failed failed: build not found", true},
			{"failed, jsonl", []string{"--format", "jsonl", "r-failed"}, exitRequestFailed,
				nil, "request r-failed failed: build not found", true},
			{"processing, text", []string{"--format", "text", "r-partial"}, exitRunning,
				[]string{"— processing, 1 card from 1 finding so far\n", "Error: early"}, "request r-partial is still processing: these are the cards stored so far", false},
			{"processing, json", []string{"--format", "json", "r-partial"}, exitRunning,
				[]string{`"message_hash": "early"`}, "request r-partial is still processing: these are the cards stored so far", false},
			{"unknown", []string{"--format", "json", "nope"}, exitNoStatus, nil, "request nope is unknown", true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runCLI(ctx, env, append([]string{"view"}, tt.args...)...)
				if r.code != tt.code {
					t.Errorf("view %v = exit %d, want %d; stderr %q", tt.args, r.code, tt.code, r.err)
				}
				for _, want := range tt.out {
					if !strings.Contains(r.out, want) {
						t.Errorf("view %v stdout = %q, want it to hold %q", tt.args, r.out, want)
					}
				}
				if tt.noCard && strings.Contains(r.out, "message_hash") {
					t.Errorf("view %v stdout = %q, want no card", tt.args, r.out)
				}
				if tt.err == "" && r.err != "" || !strings.Contains(r.err, tt.err) {
					t.Errorf("view %v stderr = %q, want %q", tt.args, r.err, tt.err)
				}
			})
		}
	})

	t.Run("prune", func(t *testing.T) {
		if r := runCLI(ctx, env, "prune", "--older-than", "30d"); r.code != 0 || !strings.Contains(r.out, "pruned 0 findings and 0 requests") {
			t.Errorf("prune 30d = %d, %q %q; want nothing pruned", r.code, r.out, r.err)
		}
		if r := runCLI(ctx, env, "prune", "--older-than", "soon"); r.code != exitUsage {
			t.Errorf("prune soon = %d; want %d", r.code, exitUsage)
		}
	})

	t.Run("postgres unreachable", func(t *testing.T) {
		bad := map[string]string{envDatabaseURL: "postgres://destill:secret@127.0.0.1:1/destill?sslmode=disable&connect_timeout=2"}
		r := runCLI(ctx, bad, "status", "x")
		if r.code != exitNoStatus || !strings.Contains(r.err, "cannot reach Postgres") || strings.Contains(r.err, "secret") {
			t.Errorf("status with Postgres down = %d, %q; want a clear error without the password", r.code, r.err)
		}
	})
}
