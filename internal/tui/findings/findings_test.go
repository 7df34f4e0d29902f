package findings

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
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
		{"rank", Query{}, []string{"4", "2", "3", "1", "5"}},
		{"grouped picks the best of a hash", Query{Grouped: true}, []string{"4", "2", "3", "5"}},
		{"line order", Query{Sort: ByLine}, []string{"5", "2", "3", "4", "1"}},
		{"recurrence", Query{Sort: ByRecurrence}, []string{"2", "1", "4", "3", "5"}},
		{"job", Query{JobID: "a"}, []string{"4", "3", "1"}},
		{"grouped within a job", Query{Grouped: true, JobID: "a"}, []string{"4", "3", "1"}},
		{"severity", Query{MinSeverity: contracts.SeverityError}, []string{"2", "3", "1", "5"}},
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
	r := s.Rows(Query{Grouped: true})[1]
	if r.Count != 2 || r.Card.Recurrence() != 2 || !cmp.Equal(r.Card.Jobs(), []string{"a", "b"}) {
		t.Errorf("h1 row: count %d recurrence %d jobs %v, want 2, 2, [a b]", r.Count, r.Card.Recurrence(), r.Card.Jobs())
	}
	if got := s.Cards()[3].Message; got != "warning" {
		t.Errorf("stored message = %q, want it sanitized", got)
	}
}
