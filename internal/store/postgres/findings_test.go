package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/destill-ci/destill/contracts"
)

// TestInsertFindingsStoresTimesAsPostgresParsesThem writes times whose
// sub-microsecond digits Postgres must round, and checks each stored value
// equals what Postgres makes of the text Redpanda Connect would send.
func TestInsertFindingsStoresTimesAsPostgresParsesThem(t *testing.T) {
	ctx := context.Background()
	s, url := openStore(t)
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		time.Date(2026, 3, 1, 12, 0, 0, 500, time.UTC),           // exactly half a microsecond
		time.Date(2026, 3, 1, 12, 0, 0, 1500, time.UTC),          // one and a half
		time.Date(2026, 3, 1, 12, 0, 0, 2500, time.UTC),          // two and a half
		time.Date(2026, 3, 1, 12, 0, 0, 123456500, time.UTC),     // half, after six digits
		time.Date(2026, 3, 1, 12, 0, 0, 999999500, time.UTC),     // rounds into the next second
		time.Date(2026, 3, 1, 12, 0, 59, 999999999, time.UTC),    // and the next minute
		time.Date(2026, 3, 1, 17, 30, 0, 333333333, east),        // an offset
		time.Date(1999, 12, 31, 23, 59, 59, 999999700, time.UTC), // before Postgres's epoch
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	var cards []contracts.TriageCard
	for i := range times {
		c := card("r1", "j1", i+1, contracts.SeverityError, "h")
		c.Timestamp = &times[i]
		cards = append(cards, c)
	}
	if n, err := s.InsertFindings(ctx, cards); err != nil || n != int64(len(cards)) {
		t.Fatalf("InsertFindings = %d, %v; want %d, nil", n, err, len(cards))
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i, c := range cards {
		text := c.Timestamp.Format(time.RFC3339Nano)
		var stored, parsed string
		err := conn.QueryRow(ctx, `SELECT log_timestamp::text, $2::timestamptz::text FROM findings WHERE id = $1`,
			c.ID, text).Scan(&stored, &parsed)
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if stored != parsed {
			t.Errorf("time %s stored as %s; Postgres reads the text as %s", text, stored, parsed)
		}
	}
}

// TestInsertFindingsSkipsStoredIDs mixes new cards with stored ones, repeats
// within a batch and ids spelled differently.
func TestInsertFindingsSkipsStoredIDs(t *testing.T) {
	ctx := context.Background()
	s, url := openStore(t)
	a, b, c := card("r1", "j1", 1, contracts.SeverityError, "h"), card("r1", "j1", 2, contracts.SeverityError, "h"),
		card("r1", "j1", 3, contracts.SeverityError, "h")
	if n, err := s.InsertFindings(ctx, []contracts.TriageCard{a}); err != nil || n != 1 {
		t.Fatalf("InsertFindings(a) = %d, %v; want 1, nil", n, err)
	}
	upper := a
	upper.ID = strings.ToUpper(a.ID)
	braced := b
	braced.ID = "{" + b.ID + "}"
	steps := []struct {
		name  string
		cards []contracts.TriageCard
		want  int64
	}{
		{"stored and new", []contracts.TriageCard{b, a}, 1},
		{"a card twice", []contracts.TriageCard{c, c}, 1},
		{"a stored id in capitals", []contracts.TriageCard{upper}, 0},
		{"a stored id in braces", []contracts.TriageCard{braced}, 0},
		{"all stored", []contracts.TriageCard{c, b, a}, 0},
	}
	for _, st := range steps {
		if n, err := s.InsertFindings(ctx, st.cards); err != nil || n != st.want {
			t.Errorf("%s: InsertFindings = %d, %v; want %d, nil", st.name, n, err, st.want)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows, counted int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM findings), (SELECT findings_count FROM requests WHERE request_id = 'r1')`).Scan(&rows, &counted); err != nil {
		t.Fatal(err)
	}
	if rows != 3 || counted != 3 {
		t.Errorf("findings rows = %d, requests.findings_count = %d; want 3 and 3", rows, counted)
	}
}

// TestInsertFindingsStoresEveryField reads back exactly the cards written,
// every field of them, whichever way they went in: straight COPY, or the
// staging table that a stored card or an id Postgres must parse sends them
// through.
func TestInsertFindingsStoresEveryField(t *testing.T) {
	exit := func(n int) *int { return &n }
	cards := func() []contracts.TriageCard {
		var out []contracts.TriageCard
		for i, e := range []*int{nil, exit(0), exit(1), exit(137), exit(-1073741819)} {
			c := card("r1", "j1", 10*(i+1), contracts.SeverityError, "h")
			c.Job.ExitStatus = e
			c.LineInChunk = 3 * i // 0 included
			c.ChunkIndex = i
			out = append(out, c)
		}
		out[0].Timestamp = nil
		return out
	}
	tests := []struct {
		name   string
		stored []contracts.TriageCard // written first
		write  func([]contracts.TriageCard) []contracts.TriageCard
	}{
		{"copy", nil, func(cs []contracts.TriageCard) []contracts.TriageCard { return cs }},
		{"staging, a card already stored", cards()[:1], func(cs []contracts.TriageCard) []contracts.TriageCard { return cs }},
		{"staging, an id in capitals", nil, func(cs []contracts.TriageCard) []contracts.TriageCard {
			out := append([]contracts.TriageCard(nil), cs...)
			out[2].ID = strings.ToUpper(out[2].ID)
			return out
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openStore(t)
			if len(tt.stored) > 0 {
				if _, err := s.InsertFindings(ctx, tt.stored); err != nil {
					t.Fatal(err)
				}
			}
			want := cards()
			n, err := s.InsertFindings(ctx, tt.write(want))
			if err != nil || n != int64(len(want)-len(tt.stored)) {
				t.Fatalf("InsertFindings = %d, %v; want %d, nil", n, err, len(want)-len(tt.stored))
			}
			fs, err := s.Findings(ctx, "r1")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]contracts.TriageCard{}
			for _, f := range fs {
				got[f.ID] = f.TriageCard
			}
			for _, w := range want {
				if diff := cmp.Diff(w, got[w.ID]); diff != "" {
					t.Errorf("card at line %d read back differs (-written +read):\n%s", w.LineNumber, diff)
				}
			}
		})
	}
}
