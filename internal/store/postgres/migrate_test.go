package postgres_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// TestMigrateDatabaseWithFindings upgrades a database that an earlier
// destill migrated to each earlier version and filled with findings: the
// later migrations apply, the stored findings read back as they were (a
// field added since reads as its zero), new cards store every field, and the
// schema ends up the one a fresh database gets.
func TestMigrateDatabaseWithFindings(t *testing.T) {
	ms, err := postgres.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, from := range ms[:len(ms)-1] {
		t.Run(from.Name, func(t *testing.T) {
			ctx := context.Background()
			srv := pgtest.Shared(t)
			url := srv.CreateDatabase(t)
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			// What Migrate did then: the migrations up to from, recorded.
			if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.Version > from.Version {
					break
				}
				if _, err := conn.Exec(ctx, m.SQL); err != nil {
					t.Fatalf("migration %d: %v", m.Version, err)
				}
				if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.Version, m.Name); err != nil {
					t.Fatal(err)
				}
			}
			// Findings as version 1 stored them: its columns only.
			old := []contracts.TriageCard{card("old", "j1", 5, contracts.SeverityError, "h-old"),
				card("old", "j1", 9, contracts.SeverityWarn, "h-old2")}
			for _, c := range old {
				if _, err := conn.Exec(ctx, `INSERT INTO findings (id, request_id, build_id, build_url, source, job_id, job_name,
					job_url, job_outcome, severity, severity_rank, confidence_score, line_number, end_line, message_hash,
					normalized_message, normalizer_version, raw_message, message, context, pre_context_lines, context_note,
					rule, chunk_index, log_timestamp)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
					        $20, $21, $22, $23, $24, $25)`,
					c.ID, c.RequestID, c.BuildID, c.BuildURL, c.Source, c.Job.ID, c.Job.Name, c.Job.URL, string(c.Job.Outcome),
					c.Severity.String(), c.Severity.Rank(), c.ConfidenceScore, c.LineNumber, c.EndLine, c.MessageHash,
					c.NormalizedMessage, c.NormalizerVersion, c.RawMessage, c.Message, "a\nb\nc\n", len(c.PreContext),
					c.ContextNote, c.Rule, c.ChunkIndex, c.Timestamp); err != nil {
					t.Fatal(err)
				}
			}

			s, err := postgres.Open(ctx, url, postgres.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			applied, err := s.Migrate(ctx)
			if err != nil {
				t.Fatalf("Migrate over version %d with findings: %v", from.Version, err)
			}
			var versions []int
			for _, m := range applied {
				versions = append(versions, m.Version)
			}
			var want []int
			for _, m := range ms {
				if m.Version > from.Version {
					want = append(want, m.Version)
				}
			}
			if diff := cmp.Diff(want, versions); diff != "" {
				t.Errorf("Migrate applied (-want +got):\n%s", diff)
			}

			fs, err := s.Findings(ctx, "old")
			if err != nil {
				t.Fatal(err)
			}
			var got []contracts.TriageCard
			for _, f := range fs {
				got = append(got, f.TriageCard)
			}
			for i := range old {
				// Not stored then: the job's exit status and the line's place
				// in its chunk.
				old[i].Job.ExitStatus, old[i].LineInChunk = nil, 0
			}
			if diff := cmp.Diff(old, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("findings stored before the upgrade read back differently (-stored +read):\n%s", diff)
			}

			fresh := card("new", "j1", 7, contracts.SeverityError, "h-old")
			if _, err := s.InsertFindings(ctx, []contracts.TriageCard{fresh}); err != nil {
				t.Fatal(err)
			}
			fs, err = s.Findings(ctx, "new")
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("Findings(new) = %d cards, want 1", len(fs))
			}
			if diff := cmp.Diff(fresh, fs[0].TriageCard); diff != "" {
				t.Errorf("card stored after the upgrade read back differently (-written +read):\n%s", diff)
			}
			if h := fs[0].History; h.Occurrences != 2 || !h.SeenBefore {
				t.Errorf("history of a message stored before the upgrade = %+v; want 2 occurrences, seen before", h)
			}

			freshURL := srv.CreateDatabase(t)
			s2, err := postgres.Open(ctx, freshURL, postgres.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if _, err := s2.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(describeSchema(t, freshURL), describeSchema(t, url)); diff != "" {
				t.Errorf("upgraded schema differs from a fresh one (-fresh +upgraded):\n%s", diff)
			}
		})
	}
}
