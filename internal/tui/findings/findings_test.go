package findings

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/report"
)

func add(s *Store, id, job, hash string, line int, sev contracts.Severity, conf float64, msg string) {
	s.Add(contracts.TriageCard{ID: id, MessageHash: hash, Job: contracts.Job{ID: job, Name: job}, LineNumber: line, Severity: sev, ConfidenceScore: conf, Message: msg})
}

func ids(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Card.Raw.ID)
	}
	return out
}

func TestRows(t *testing.T) {
	s := NewStore()
	s.NoteJob("b") // discovered first: first in line order
	add(s, "1", "a", "h1", 10, contracts.SeverityError, 0.5, "Boom in a")
	add(s, "2", "b", "h1", 20, contracts.SeverityError, 0.6, "boom in b")
	add(s, "3", "a", "h2", 5, contracts.SeverityFatal, 0.5, "fatal thing")
	add(s, "4", "a", "h3", 7, contracts.SeverityWarn, 0.9, "warning\x1b]0;title\x07")
	add(s, "5", "b", "", 1, contracts.SeverityError, 0.5, "no hash")
	add(s, "5", "b", "", 1, contracts.SeverityError, 0.5, "redelivered")

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"confidence", Query{Sort: ByConfidence}, []string{"4", "2", "3", "1", "5"}},
		{"grouped picks the report's representative", Query{Grouped: true, Sort: ByConfidence}, []string{"4", "3", "1", "5"}},
		{"line order", Query{Sort: ByLine}, []string{"5", "2", "3", "4", "1"}},
		{"recurrence", Query{Sort: ByRecurrence}, []string{"2", "1", "4", "3", "5"}},
		{"job", Query{JobID: "a", Sort: ByConfidence}, []string{"4", "3", "1"}},
		{"grouped within a job", Query{Grouped: true, JobID: "a", Sort: ByConfidence}, []string{"4", "3", "1"}},
		{"grouped, the representative among the matching cards", Query{Grouped: true, JobID: "b", Sort: ByConfidence}, []string{"2", "5"}},
		{"severity", Query{MinSeverity: contracts.SeverityError, Sort: ByConfidence}, []string{"2", "3", "1", "5"}},
		{"search ignores case", Query{Search: "BOOM"}, []string{"2", "1"}},
		{"search does not see escape payloads", Query{Search: "title"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(s.Rows(tt.q))); diff != "" {
				t.Errorf("Rows(%+v) (-want +got):\n%s", tt.q, diff)
			}
		})
	}
	if s.Len() != 5 {
		t.Errorf("Len = %d, want 5 (a redelivered card is ignored)", s.Len())
	}
	r := s.Rows(Query{Grouped: true, Sort: ByConfidence})[2]
	if r.Card.Raw.ID != "1" || r.Count != 2 || r.Card.Recurrence() != 2 || !cmp.Equal(r.Card.Jobs(), []string{"a", "b"}) {
		t.Errorf("h1 row: card %s count %d recurrence %d jobs %v, want 1, 2, 2, [a b]", r.Card.Raw.ID, r.Count, r.Card.Recurrence(), r.Card.Jobs())
	}
	if got := s.Cards()[3].Message; got != "warning" {
		t.Errorf("stored message = %q, want it sanitized", got)
	}
}

// rankCards is a request over three jobs: a failed one whose CI reports
// the failing command, a timed-out one and a passing one, messages that
// recur within and across jobs, causes and echoes, cards that arrive out of
// line order.
func rankCards() []contracts.TriageCard {
	jobs := []contracts.Job{
		{ID: "j-unit", Name: "unit", Outcome: contracts.OutcomeFailed},
		{ID: "j-e2e", Name: "e2e", Outcome: contracts.OutcomeTimedOut},
		{ID: "j-lint", Name: "lint", Outcome: contracts.OutcomePassed},
	}
	rules := []string{"go-panic", "go-test-fail", "keyword", "make-echo", "ci-echo", "deprecation", "compiler-error"}
	var out []contracts.TriageCard
	for i := range 120 {
		j := jobs[(i*7)%len(jobs)]
		line := 10 + (i*37)%900
		h := (i * 5) % 23
		out = append(out, contracts.TriageCard{
			ID: "c" + strconv.Itoa(i), Job: j, LineNumber: line, EndLine: line + i%3,
			MessageHash: "h" + strconv.Itoa(h), Rule: rules[h%len(rules)],
			Severity: contracts.Severity(1 + i%4), ConfidenceScore: float64((i*13)%100) / 100,
			Message: "message " + strconv.Itoa(h),
		})
	}
	return out
}

func cardKey(c contracts.TriageCard) string { return c.Job.ID + ":" + strconv.Itoa(c.LineNumber) }

// TestRankOrderIsTheReportOrder: the default sort lists exactly what
// `destill run --format text|json` prints, in its order: grouped, the
// findings of report.Collector; every occurrence, analyze.Rank over all
// cards. The rows' Rank is that place.
func TestRankOrderIsTheReportOrder(t *testing.T) {
	s := NewStore()
	col := report.NewCollector()
	all := rankCards()
	for _, c := range all {
		s.Add(c)
		col.Add(c)
	}
	var want, got []string
	for _, f := range col.Findings(nil) {
		want = append(want, cardKey(f.TriageCard))
	}
	rows := s.Rows(Query{Grouped: true})
	for i, r := range rows {
		got = append(got, cardKey(r.Card.Raw))
		if r.Rank != i+1 {
			t.Errorf("grouped row %d has rank %d", i, r.Rank)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("grouped rank order differs from the report's (-report +ui):\n%s", diff)
	}

	ranked := slices.Clone(all)
	analyze.Rank(ranked)
	want, got = nil, nil
	for _, c := range ranked {
		want = append(want, c.ID)
	}
	for i, r := range s.Rows(Query{}) {
		got = append(got, r.Card.Raw.ID)
		if r.Rank != i+1 {
			t.Errorf("row %d has rank %d", i, r.Rank)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("every-occurrence order differs from analyze.Rank (-want +got):\n%s", diff)
	}

	// Filters keep the rank of each row; other sorts keep it too.
	filtered := s.Rows(Query{Grouped: true, JobID: "j-lint"})
	for i := 1; i < len(filtered); i++ {
		if filtered[i-1].Rank >= filtered[i].Rank {
			t.Fatalf("filtered rows out of rank order: %d then %d", filtered[i-1].Rank, filtered[i].Rank)
		}
	}
	byConf := s.Rows(Query{Grouped: true, Sort: ByConfidence})
	ranks := map[*Card]int{}
	for _, r := range rows {
		ranks[r.Card] = r.Rank
	}
	for _, r := range byConf {
		if ranks[r.Card] != r.Rank {
			t.Errorf("card %s: rank %d sorted by confidence, %d sorted by rank", r.Card.Raw.ID, r.Rank, ranks[r.Card])
		}
	}

	// A card that arrives later re-ranks the list.
	late := contracts.TriageCard{ID: "late", Job: contracts.Job{ID: "j-unit", Outcome: contracts.OutcomeFailed}, LineNumber: 1,
		MessageHash: "h-late", Rule: "go-panic", Severity: contracts.SeverityFatal, ConfidenceScore: 1}
	s.Add(late)
	col.Add(late)
	if got, want := cardKey(s.Rows(Query{Grouped: true})[0].Card.Raw), cardKey(col.Findings(nil)[0].TriageCard); got != want {
		t.Errorf("after a new card the first row is %s, the report's first is %s", got, want)
	}
}

func TestSortCycle(t *testing.T) {
	var got []string
	s := ByRank
	for range 5 {
		got = append(got, s.String())
		s = s.Next()
	}
	if diff := cmp.Diff([]string{"rank", "confidence", "line", "recurrence", "rank"}, got); diff != "" {
		t.Errorf("sort cycle (-want +got):\n%s", diff)
	}
}

func TestCleanLine(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"plain", "error: boom", "error: boom"},
		{"control pictures of colours and CRLF", "␛[31merror: boom␛[0m␍", "error: boom"},
		{"real escapes", "\x1b[1;31mFAIL\x1b[0m x\r", "FAIL x"},
		{"progress redraw", "50%␍100% done", "100% done"},
		{"title sequence", "␛]0;pwned␇ok", "ok"},
		{"GitHub timestamp", "2024-01-02T03:04:05.1234567Z ##[error]Process completed with exit code 1.", "Process completed with exit code 1."},
		{"tab", "a\tb", "a       b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanLine(tt.raw); got != tt.want {
				t.Errorf("cleanLine(%q) = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
	s := NewStore()
	c, _ := s.Add(contracts.TriageCard{ID: "x", RawMessage: "␛[31m␛[0m", Message: "boom"})
	if c.Line != "boom" {
		t.Errorf("a raw line of escapes only shows %q, want the message", c.Line)
	}
	c, _ = s.Add(contracts.TriageCard{ID: "y", RawMessage: "␛[31mFAIL␛[0m␍", Message: "FAIL"})
	if c.Line != "FAIL" {
		t.Errorf("Line = %q, want FAIL", c.Line)
	}
}

func TestHistory(t *testing.T) {
	s := NewStore()
	c, _ := s.Add(contracts.TriageCard{ID: "a", Metadata: map[string]string{
		"history.seen_before": "true", "history.builds": "4", "history.occurrences": "9",
		"history.first_seen": "2026-01-02T03:04:05Z", "history.last_seen": "2026-02-03T04:05:06Z",
		"history.max_severity": "FATAL\x1b[2J",
	}})
	want := &History{SeenBefore: true, Builds: 4, Occurrences: 9,
		FirstSeen: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastSeen: time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC), MaxSeverity: "FATAL"}
	if diff := cmp.Diff(want, c.History); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	c, _ = s.Add(contracts.TriageCard{ID: "b"})
	if c.History != nil {
		t.Errorf("a card without history metadata has history %+v", c.History)
	}
	c, _ = s.Add(contracts.TriageCard{ID: "c", Metadata: map[string]string{"history.seen_before": "false", "history.builds": "1", "history.first_seen": "0001-01-01T00:00:00Z"}})
	if c.History == nil || c.History.SeenBefore || c.History.Builds != 1 || !c.History.FirstSeen.IsZero() {
		t.Errorf("new message: history %+v", c.History)
	}
}

// TestRecurrenceCountsOccurrences checks that the TUI counts a message as
// the reports do: a card inside the block of another card of the same
// message (an exception repeated in its own traceback) is one occurrence.
func TestRecurrenceCountsOccurrences(t *testing.T) {
	s := NewStore()
	block := func(id, job string, line, end int) contracts.TriageCard {
		return contracts.TriageCard{ID: id, MessageHash: "h", Job: contracts.Job{ID: job, Name: job}, LineNumber: line, EndLine: end, Severity: contracts.SeverityError, Message: "Boom"}
	}
	cards := []contracts.TriageCard{block("1", "a", 10, 20), block("2", "a", 15, 15), block("3", "a", 40, 40), block("4", "b", 15, 15)}
	s.Add(cards[0])
	s.Add(cards[1])
	c := s.Cards()[0]
	if got := c.Recurrence(); got != 1 {
		t.Errorf("recurrence of a card and one inside its block = %d, want 1", got)
	}
	s.Add(cards[2])
	s.Add(cards[3])
	raws := make([]*contracts.TriageCard, len(cards))
	for i := range cards {
		raws[i] = &cards[i]
	}
	if got, want := c.Recurrence(), report.Occurrences(raws); got != 3 || want != 3 {
		t.Errorf("recurrence = %d, report.Occurrences = %d, want 3", got, want)
	}
}
