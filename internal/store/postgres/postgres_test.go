package postgres_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

var update = flag.Bool("update", false, "rewrite docker/init-db.sql from the migrations")

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const initSQLPath = "../../../docker/init-db.sql"

// openStore returns a store on a fresh, migrated database.
func openStore(t *testing.T) (*postgres.Store, string) {
	t.Helper()
	url := pgtest.Shared(t).CreateDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s, url
}

func TestInitSQLFile(t *testing.T) {
	want, err := postgres.InitSQL()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(initSQLPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(initSQLPath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("docker/init-db.sql is stale; run go generate ./internal/store/postgres (-want +got):\n%s", diff)
	}
}

// TestInitSQLSchemaEqualsMigrations applies docker/init-db.sql to one
// database and the migrations to another, and compares their catalogs.
func TestInitSQLSchemaEqualsMigrations(t *testing.T) {
	ctx := context.Background()
	srv := pgtest.Shared(t)

	migrated := srv.CreateDatabase(t)
	s, err := postgres.Open(ctx, migrated, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) == 0 {
		t.Fatal("Migrate applied nothing on an empty database")
	}
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second Migrate = %d migrations, %v; want 0, nil", len(again), err)
	}

	initialised := srv.CreateDatabase(t)
	script, err := os.ReadFile(initSQLPath)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, initialised)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, string(script)); err != nil {
		t.Fatalf("apply %s: %v", filepath.Base(initSQLPath), err)
	}
	// A database initialised by docker is already migrated.
	s2, err := postgres.Open(ctx, initialised, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, err := s2.Migrate(ctx); err != nil || len(got) != 0 {
		t.Errorf("Migrate after init-db.sql = %d migrations, %v; want 0, nil", len(got), err)
	}

	want := describeSchema(t, migrated)
	got := describeSchema(t, initialised)
	if len(want) < 20 {
		t.Fatalf("schema description has %d lines; the catalog query is broken", len(want))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("schema from init-db.sql differs from migrations (-migrations +init-db.sql):\n%s", diff)
	}
}

// describeSchema lists columns, constraints, indexes, views, functions,
// triggers and applied migrations of the public schema.
func describeSchema(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(p.prosrc)
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
UNION ALL
SELECT 'migration ' || version || ' ' || name FROM schema_migrations
ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// card is a finding with every field set; its job exited 2.
func card(req, job string, line int, sev contracts.Severity, hash string) contracts.TriageCard {
	ts := time.Date(2026, 3, 1, 12, 0, line%60, 0, time.UTC)
	exit := 2
	return contracts.TriageCard{
		Version: contracts.Version, ID: contracts.FindingID(req, job, line), RequestID: req,
		MessageHash: hash, Source: "buildkite", BuildID: "b-" + req, BuildURL: "https://buildkite.com/acme/app/builds/" + req,
		Job: contracts.Job{ID: job, Name: "test " + job, URL: "https://buildkite.com/job/" + job, Outcome: contracts.OutcomeFailed,
			ExitStatus: &exit},
		Severity: sev, LineNumber: line, EndLine: line + 2,
		RawMessage: "\x1b[31mError: boom\x1b[0m", Message: "Error: boom", NormalizedMessage: "error: boom",
		NormalizerVersion: 1, ConfidenceScore: 0.75, Rule: "error-prefix",
		PreContext: []string{"a", "b"}, PostContext: []string{"c"}, ContextNote: "note",
		ChunkIndex: line / 100, LineInChunk: line%100 + 1, Timestamp: &ts,
	}
}

func TestInsertFindingsIdempotentAndReadBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	cards := []contracts.TriageCard{
		card("r1", "j1", 10, contracts.SeverityError, "h-boom"),
		card("r1", "j1", 42, contracts.SeverityFatal, "h-panic"),
		card("r1", "j2", 7, contracts.SeverityWarn, "h-warn"),
	}
	// Text Postgres refuses must be cleaned, not rejected.
	cards[2].Message = "bad \x00 nul and \xff byte"
	cards[2].PreContext = []string{"x\x00y"}

	n, err := s.InsertFindings(ctx, cards)
	if err != nil || n != 3 {
		t.Fatalf("InsertFindings = %d, %v; want 3, nil", n, err)
	}
	n, err = s.InsertFindings(ctx, cards)
	if err != nil || n != 0 {
		t.Fatalf("InsertFindings again = %d, %v; want 0, nil", n, err)
	}

	got, err := s.Findings(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	var gotCards []contracts.TriageCard
	for _, f := range got {
		gotCards = append(gotCards, f.TriageCard)
	}
	want := []contracts.TriageCard{cards[1], cards[0], cards[2]} // FATAL, ERROR, WARN
	want[2].Message = "bad  nul and \uFFFD byte"
	want[2].PreContext = []string{"xy"}
	if diff := cmp.Diff(want, gotCards, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Findings(r1) cards mismatch (-want +got):\n%s", diff)
	}
	req, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if req.Findings != 3 {
		t.Errorf("Request(r1).Findings = %d, want 3", req.Findings)
	}
}

func TestFindingsHistoryAcrossBuilds(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	// Build 1 has boom as ERROR; build 2 has boom as FATAL and a new warning.
	if _, err := s.InsertFindings(ctx, []contracts.TriageCard{card("r1", "j1", 10, contracts.SeverityError, "h-boom")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertFindings(ctx, []contracts.TriageCard{
		card("r2", "j1", 11, contracts.SeverityFatal, "h-boom"),
		card("r2", "j1", 50, contracts.SeverityWarn, "h-new"),
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Findings(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	type hist struct {
		Hash        string
		Occurrences int64
		Builds      int64
		Max         contracts.Severity
		SeenBefore  bool
	}
	var gotH []hist
	for _, f := range got {
		gotH = append(gotH, hist{f.MessageHash, f.History.Occurrences, f.History.Builds, f.History.MaxSeverity, f.History.SeenBefore})
		if f.History.FirstSeen.After(f.History.LastSeen) {
			t.Errorf("%s: first seen %v after last seen %v", f.MessageHash, f.History.FirstSeen, f.History.LastSeen)
		}
	}
	want := []hist{
		{"h-boom", 2, 2, contracts.SeverityFatal, true},
		{"h-new", 1, 1, contracts.SeverityWarn, false},
	}
	if diff := cmp.Diff(want, gotH); diff != "" {
		t.Errorf("Findings(r2) history mismatch (-want +got):\n%s", diff)
	}
	first, err := s.Findings(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || first[0].History.SeenBefore {
		t.Errorf("Findings(r1) = %+v; want one card not seen before", first)
	}
}

// TestSummaryMaxSeverityByRank guards decision 8: "WARN" > "FATAL" as text.
func TestSummaryMaxSeverityByRank(t *testing.T) {
	ctx := context.Background()
	s, url := openStore(t)
	if _, err := s.InsertFindings(ctx, []contracts.TriageCard{
		card("r1", "j1", 1, contracts.SeverityFatal, "h"),
		card("r2", "j1", 1, contracts.SeverityWarn, "h"),
		card("r3", "j1", 1, contracts.SeverityInfo, "h"),
	}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sev string
	var occ, builds int64
	if err := conn.QueryRow(ctx, "SELECT max_severity, occurrences, builds FROM findings_summary WHERE message_hash = 'h'").Scan(&sev, &occ, &builds); err != nil {
		t.Fatal(err)
	}
	if sev != "FATAL" || occ != 3 || builds != 3 {
		t.Errorf("findings_summary(h) = %s, %d, %d; want FATAL, 3, 3", sev, occ, builds)
	}
}

// TestInsertFindingsRejected: a card Postgres cannot store fails the whole
// call as rejected and nothing is written, as Postgres refuses the row from
// Redpanda Connect. An integer too large for its column is refused, never
// stored wrapped around.
func TestInsertFindingsRejected(t *testing.T) {
	huge := 1 << 33
	tests := []struct {
		name string
		bad  func(c *contracts.TriageCard)
	}{
		{"an id that is no UUID", func(c *contracts.TriageCard) { c.ID = "not-a-uuid" }},
		{"a line number beyond integer", func(c *contracts.TriageCard) { c.LineNumber, c.EndLine = huge+1, huge+1 }},
		{"an end line beyond integer", func(c *contracts.TriageCard) { c.EndLine = huge + 1 }},
		{"a chunk index beyond integer", func(c *contracts.TriageCard) { c.ChunkIndex = huge }},
		{"a line in chunk beyond integer", func(c *contracts.TriageCard) { c.LineInChunk = huge + 7 }},
		{"an exit status beyond integer", func(c *contracts.TriageCard) { c.Job.ExitStatus = &huge }},
		{"a normalizer version below integer", func(c *contracts.TriageCard) { c.NormalizerVersion = -huge }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, url := openStore(t)
			bad := card("r1", "j1", 1, contracts.SeverityError, "h")
			tt.bad(&bad)
			_, err := s.InsertFindings(ctx, []contracts.TriageCard{card("r1", "j1", 2, contracts.SeverityError, "h"), bad})
			if !postgres.IsRejected(err) {
				t.Fatalf("InsertFindings(%s) = %v; want a rejected-row error", tt.name, err)
			}
			if n := countRows(t, url, "findings"); n != 0 {
				t.Errorf("findings rows = %d after a rejected call, want 0", n)
			}
		})
	}
}

func countRows(t *testing.T, url, table string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func at(sec int) time.Time { return time.Date(2026, 3, 1, 12, 0, sec, 0, time.UTC) }

func progress(kind contracts.ProgressKind, job string, chunk, n int, sec int) contracts.Progress {
	p := contracts.Progress{Version: 1, RequestID: "r1", Kind: kind, JobID: job, ChunkIndex: chunk, Time: at(sec)}
	switch kind {
	case contracts.ProgressRequestStarted:
		p.Jobs = n
	case contracts.ProgressJobDone, contracts.ProgressJobFailed:
		p.Chunks = n
	case contracts.ProgressChunkAnalyzed:
		p.Findings = n
	case contracts.ProgressJobDiscovered:
		p.JobName = "name " + job
	}
	return p
}

func TestProgressFoldsIntoRequest(t *testing.T) {
	events := []contracts.Progress{
		progress(contracts.ProgressRequestStarted, "", 0, 2, 1),
		progress(contracts.ProgressJobDiscovered, "j1", 0, 0, 2),
		progress(contracts.ProgressJobDiscovered, "j2", 0, 0, 2),
		progress(contracts.ProgressJobFetching, "j1", 0, 0, 3),
		progress(contracts.ProgressChunkAnalyzed, "j1", 0, 2, 4),
		progress(contracts.ProgressJobDone, "j1", 0, 2, 5),
		progress(contracts.ProgressChunkAnalyzed, "j1", 1, 0, 6),
		progress(contracts.ProgressJobFailed, "j2", 0, 0, 7),
	}
	two := func(n int) *int { return &n }
	wantFinal := postgres.Request{
		RequestID: "r1", BuildURL: "https://ci/b/1", State: pipeline.StateCompleted,
		JobsTotal: 2, JobsDone: 2, ChunksTotal: 2, ChunksAnalyzed: 2, Findings: 2,
		Jobs: []postgres.Job{
			{Job: contracts.Job{ID: "j1", Name: "name j1"}, State: "done", Chunks: two(2), ChunksAnalyzed: 2, Findings: 2},
			{Job: contracts.Job{ID: "j2", Name: "name j2"}, State: "failed", Chunks: two(0)},
		},
	}
	ignore := cmpopts.IgnoreFields(postgres.Request{}, "UpdatedAt", "SubmittedAt", "StartedAt", "CompletedAt")

	// The two cards chunk j1/0 announced: the request completes only once
	// they are stored, whether they land before or after the last event.
	cards := []contracts.TriageCard{card("r1", "j1", 10, contracts.SeverityError, "h1"),
		card("r1", "j1", 20, contracts.SeverityWarn, "h2")}
	tests := []struct {
		name      string
		order     func([]contracts.Progress) []contracts.Progress
		cardsLast bool
	}{
		{"in order, cards last", func(e []contracts.Progress) []contracts.Progress { return e }, true},
		{"reversed, cards first", func(e []contracts.Progress) []contracts.Progress {
			r := make([]contracts.Progress, len(e))
			for i := range e {
				r[len(e)-1-i] = e[i]
			}
			return r
		}, false},
		{"every event twice, cards last", func(e []contracts.Progress) []contracts.Progress {
			return append(append([]contracts.Progress(nil), e...), e...)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openStore(t)
			if err := s.ApplyRequests(ctx, []contracts.AnalysisRequest{{Version: 1, RequestID: "r1", BuildURL: "https://ci/b/1", Timestamp: at(0)}}); err != nil {
				t.Fatal(err)
			}
			if !tt.cardsLast {
				if _, err := s.InsertFindings(ctx, cards); err != nil {
					t.Fatal(err)
				}
			}
			// One event per transaction, as a sink with a batch of one would.
			for _, e := range tt.order(events) {
				if err := s.ApplyProgress(ctx, []contracts.Progress{e}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.cardsLast {
				// Every chunk analyzed, one announced card missing: not yet.
				if _, err := s.InsertFindings(ctx, cards[:1]); err != nil {
					t.Fatal(err)
				}
				r, err := s.Request(ctx, "r1")
				if err != nil {
					t.Fatal(err)
				}
				if r.State != pipeline.StateProcessing || r.CompletedAt != nil {
					t.Fatalf("with 1 of 2 announced cards stored: state %s, completed_at %v; want processing, none", r.State, r.CompletedAt)
				}
				for range 2 { // the second time, every card is a duplicate
					if _, err := s.InsertFindings(ctx, cards); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := s.Request(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantFinal, got, ignore); diff != "" {
				t.Errorf("Request(r1) mismatch (-want +got):\n%s", diff)
			}
			if got.SubmittedAt == nil || !got.SubmittedAt.Equal(at(0)) || got.StartedAt == nil || !got.StartedAt.Equal(at(1)) ||
				got.CompletedAt == nil || !got.CompletedAt.Equal(at(7)) {
				t.Errorf("Request(r1) times = submitted %v started %v completed %v; want %v %v %v",
					got.SubmittedAt, got.StartedAt, got.CompletedAt, at(0), at(1), at(7))
			}
		})
	}
}

func TestRequestStates(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	if _, err := s.Request(ctx, "nope"); !errorsIsNotFound(err) {
		t.Errorf("Request(nope) = %v; want ErrNotFound", err)
	}
	if err := s.ApplyRequests(ctx, []contracts.AnalysisRequest{{RequestID: "r1", BuildURL: "u", Timestamp: at(0)}}); err != nil {
		t.Fatal(err)
	}
	state := func() pipeline.State {
		t.Helper()
		r, err := s.Request(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	if got := state(); got != pipeline.StatePending {
		t.Errorf("state after request = %s, want pending", got)
	}
	steps := []struct {
		e    contracts.Progress
		want pipeline.State
	}{
		{progress(contracts.ProgressJobDiscovered, "j1", 0, 0, 1), pipeline.StateProcessing},
		{progress(contracts.ProgressJobDone, "j1", 0, 1, 2), pipeline.StateProcessing},      // jobs not announced yet
		{progress(contracts.ProgressRequestStarted, "", 0, 1, 3), pipeline.StateProcessing}, // chunk 0 not analysed
		{progress(contracts.ProgressChunkAnalyzed, "j1", 0, 0, 4), pipeline.StateCompleted},
	}
	for _, st := range steps {
		if err := s.ApplyProgress(ctx, []contracts.Progress{st.e}); err != nil {
			t.Fatal(err)
		}
		if got := state(); got != st.want {
			t.Errorf("state after %s = %s, want %s", st.e.Kind, got, st.want)
		}
	}

	failed := progress(contracts.ProgressRequestFailed, "", 0, 0, 5)
	failed.RequestID, failed.Error = "r2", "build not found"
	if err := s.ApplyProgress(ctx, []contracts.Progress{failed}); err != nil {
		t.Fatal(err)
	}
	r2, err := s.Request(ctx, "r2")
	if err != nil {
		t.Fatal(err)
	}
	if r2.State != pipeline.StateFailed || r2.Error != "build not found" {
		t.Errorf("Request(r2) = %s %q; want failed %q", r2.State, r2.Error, "build not found")
	}
}

func errorsIsNotFound(err error) bool { return err != nil && errorsIs(err, postgres.ErrNotFound) }

func TestLatestRequestAndPrune(t *testing.T) {
	ctx := context.Background()
	s, url := openStore(t)
	for i, id := range []string{"old", "new"} {
		if err := s.ApplyRequests(ctx, []contracts.AnalysisRequest{{RequestID: id, BuildURL: "https://ci/b/9", Timestamp: at(i)}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertFindings(ctx, []contracts.TriageCard{card(id, "j", 1, contracts.SeverityError, "h")}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LatestRequest(ctx, "https://ci/b/9"); err != nil || got != "new" {
		t.Errorf("LatestRequest = %q, %v; want new, nil", got, err)
	}
	if _, err := s.LatestRequest(ctx, "https://ci/none"); !errorsIsNotFound(err) {
		t.Errorf("LatestRequest(unknown) = %v; want ErrNotFound", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	past := time.Now().Add(-48 * time.Hour)
	for _, q := range []string{"UPDATE requests SET updated_at = $1 WHERE request_id = 'old'", "UPDATE findings SET created_at = $1 WHERE request_id = 'old'"} {
		if _, err := conn.Exec(ctx, q, past); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Prune(ctx, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := (postgres.Pruned{Findings: 1, Requests: 1}); got != want {
		t.Errorf("Prune = %+v, want %+v", got, want)
	}
	if _, err := s.Request(ctx, "new"); err != nil {
		t.Errorf("Request(new) after prune: %v", err)
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x00b", "ab"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"\x00\xfe\x00", "\uFFFD"},
	}
	for _, tt := range tests {
		if got := postgres.Clean(tt.in); got != tt.want {
			t.Errorf("Clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// TestSettleDuringCompletion checks that settling a request while another
// transaction completes it leaves it completed: the settle waits for the
// request's row and folds what is committed, instead of writing back the
// state its own snapshot saw.
func TestSettleDuringCompletion(t *testing.T) {
	ctx := context.Background()
	s, url := openStore(t)
	if err := s.ApplyRequests(ctx, []contracts.AnalysisRequest{{Version: 1, RequestID: "r1", BuildURL: "https://ci/b/1", Timestamp: at(0)}}); err != nil {
		t.Fatal(err)
	}
	events := []contracts.Progress{
		progress(contracts.ProgressRequestStarted, "", 0, 1, 1),
		progress(contracts.ProgressJobDiscovered, "j1", 0, 0, 2),
		progress(contracts.ProgressChunkAnalyzed, "j1", 0, 0, 3),
	}
	if err := s.ApplyProgress(ctx, events); err != nil {
		t.Fatal(err)
	}
	// The last event, in a transaction left open.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT destill_apply_progress($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		postgres.ProgressArgs(progress(contracts.ProgressJobDone, "j1", 0, 1, 4))...); err != nil {
		t.Fatal(err)
	}
	watch, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	settled := make(chan error, 1)
	go func() { settled <- s.Settle(ctx, []string{"r1"}) }()
	// Wait until the settle waits for the row.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := watch.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%destill_fold_request%'").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		select {
		case err := <-settled:
			t.Fatalf("settle returned (%v) while the completing transaction was open", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the settle never waited for the request's row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-settled; err != nil {
		t.Fatal(err)
	}
	got, err := s.Request(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != pipeline.StateCompleted || got.CompletedAt == nil {
		t.Errorf("after a settle during completion: state %s, completed_at %v; want completed", got.State, got.CompletedAt)
	}
}
