// Package findings keeps the triage cards of one request ready for display
// and answers the list's questions: which rows to show, in which order,
// grouped by message hash or one per occurrence, filtered by job, severity
// and a search text.
//
// Every log-derived string of a Card is sanitized when the card is added, so
// nothing the UI draws from it can act on the terminal.
package findings

import (
	"cmp"
	"slices"
	"strings"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/tui/sanitize"
)

// Card is a triage card prepared for display.
type Card struct {
	// Raw is the card as received, for export; never draw its strings.
	Raw contracts.TriageCard
	// Seq is the arrival order, from 0.
	Seq int

	JobID   string
	JobName string
	JobURL  string
	// Message is the cleaned message, or the raw line when there is none.
	Message string
	// Line is the log line itself, sanitized.
	Line        string
	Pre, Post   []string
	ContextNote string
	Hash        string
	Rule        string

	group    *group
	jobOrder int    // the job's place in line order
	haystack string // lower-cased search text, built on first search
}

// Recurrence is how many cards of the request share this card's hash.
func (c *Card) Recurrence() int { return len(c.group.cards) }

// Jobs are the names of the jobs that share this card's hash, in order of
// first appearance.
func (c *Card) Jobs() []string { return c.group.jobs }

func (c *Card) search() string {
	if c.haystack == "" {
		var b strings.Builder
		b.WriteString(c.Message)
		b.WriteByte('\n')
		b.WriteString(c.Line)
		b.WriteByte('\n')
		b.WriteString(c.ContextNote)
		for _, l := range c.Pre {
			b.WriteByte('\n')
			b.WriteString(l)
		}
		for _, l := range c.Post {
			b.WriteByte('\n')
			b.WriteString(l)
		}
		c.haystack = strings.ToLower(b.String())
	}
	return c.haystack
}

type group struct {
	key    string
	cards  []*Card
	jobs   []string
	jobIDs map[string]bool
}

// Sort orders the rows.
type Sort int

// Sort orders.
const (
	// ByRank: confidence, then severity, then recurrence (the default).
	ByRank Sort = iota
	// ByLine: job order, then line number: the order things happened.
	ByLine
	// ByRecurrence: most repeated first, then by rank.
	ByRecurrence
)

func (s Sort) String() string {
	switch s {
	case ByLine:
		return "line"
	case ByRecurrence:
		return "recurrence"
	}
	return "confidence"
}

// Next is the sort order after s, cycling.
func (s Sort) Next() Sort { return (s + 1) % 3 }

// Query selects and orders rows.
type Query struct {
	// Grouped shows one row per message hash instead of every occurrence.
	Grouped bool
	// JobID keeps only cards of this job when not empty.
	JobID string
	// MinSeverity keeps cards at least this severe.
	MinSeverity contracts.Severity
	// Search keeps cards whose message, line, context or context note
	// contain it, ignoring case.
	Search string
	Sort   Sort
}

// Row is one line of the list: a card and, when grouped, how many cards it
// stands for.
type Row struct {
	Card *Card
	// Count is the number of cards the row stands for under the query: 1
	// when not grouped.
	Count int
}

// Store holds a request's cards.
type Store struct {
	cards    []*Card
	ids      map[string]bool
	groups   map[string]*group
	jobOrder map[string]int
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{ids: map[string]bool{}, groups: map[string]*group{}, jobOrder: map[string]int{}}
}

// Len is the number of cards.
func (s *Store) Len() int { return len(s.cards) }

// Cards returns every card in arrival order.
func (s *Store) Cards() []*Card { return s.cards }

// NoteJob fixes a job's place in line order (discovery order); jobs not
// noted are placed by their first card.
func (s *Store) NoteJob(id string) {
	if _, ok := s.jobOrder[id]; !ok {
		s.jobOrder[id] = len(s.jobOrder)
	}
}

// Add stores a card and reports whether it was new: a card whose id was
// seen before (redelivery) is ignored.
func (s *Store) Add(tc contracts.TriageCard) (*Card, bool) {
	if tc.ID != "" {
		if s.ids[tc.ID] {
			return nil, false
		}
		s.ids[tc.ID] = true
	}
	c := &Card{
		Raw:         tc,
		Seq:         len(s.cards),
		JobID:       tc.Job.ID,
		JobName:     sanitize.String(cmp.Or(tc.Job.Name, tc.Job.ID)),
		JobURL:      sanitize.String(tc.Job.URL),
		Message:     sanitize.String(cmp.Or(tc.Message, tc.RawMessage)),
		Line:        sanitize.String(cmp.Or(tc.RawMessage, tc.Message)),
		Pre:         sanitize.Lines(tc.PreContext),
		Post:        sanitize.Lines(tc.PostContext),
		ContextNote: sanitize.String(tc.ContextNote),
		Hash:        sanitize.String(tc.MessageHash),
		Rule:        sanitize.String(tc.Rule),
	}
	s.NoteJob(c.JobID)
	c.jobOrder = s.jobOrder[c.JobID]
	key := tc.MessageHash
	if key == "" {
		key = "\x00" + tc.ID + "\x00" + itoa(c.Seq)
	}
	g := s.groups[key]
	if g == nil {
		g = &group{key: key, jobIDs: map[string]bool{}}
		s.groups[key] = g
	}
	g.cards = append(g.cards, c)
	if !g.jobIDs[c.JobID] {
		g.jobIDs[c.JobID] = true
		g.jobs = append(g.jobs, c.JobName)
	}
	c.group = g
	s.cards = append(s.cards, c)
	return c, true
}

// Matches reports whether c passes q's filters.
func (q Query) Matches(c *Card) bool {
	q.Search = strings.ToLower(q.Search)
	return q.matches(c)
}

// matches is Matches for a query whose Search is lower-cased.
func (q Query) matches(c *Card) bool {
	if q.JobID != "" && c.JobID != q.JobID {
		return false
	}
	if c.Raw.Severity < q.MinSeverity {
		return false
	}
	if q.Search != "" && !strings.Contains(c.search(), q.Search) {
		return false
	}
	return true
}

// Rows returns the rows q selects, in q's order.
func (s *Store) Rows(q Query) []Row {
	by := q.Sort
	q.Search = strings.ToLower(q.Search)
	rows := make([]Row, 0, 64)
	if q.Grouped {
		best := make(map[*group]int, len(s.groups))
		for _, c := range s.cards {
			if !q.matches(c) {
				continue
			}
			if i, ok := best[c.group]; ok {
				rows[i].Count++
				if rankLess(c, rows[i].Card) {
					rows[i].Card = c
				}
				continue
			}
			best[c.group] = len(rows)
			rows = append(rows, Row{Card: c, Count: 1})
		}
	} else {
		for _, c := range s.cards {
			if q.matches(c) {
				rows = append(rows, Row{Card: c, Count: 1})
			}
		}
	}
	s.sortRows(rows, by)
	return rows
}

func (s *Store) sortRows(rows []Row, by Sort) {
	switch by {
	case ByLine:
		slices.SortFunc(rows, func(a, b Row) int { return lineCmp(a.Card, b.Card) })
	case ByRecurrence:
		slices.SortFunc(rows, func(a, b Row) int {
			if c := cmp.Compare(b.Card.Recurrence(), a.Card.Recurrence()); c != 0 {
				return c
			}
			return s.rankCmp(a.Card, b.Card)
		})
	default:
		slices.SortFunc(rows, func(a, b Row) int { return s.rankCmp(a.Card, b.Card) })
	}
}

// rankCmp orders by confidence, severity and recurrence (each descending),
// then by line order.
func (s *Store) rankCmp(a, b *Card) int {
	if c := rankOnly(a, b); c != 0 {
		return c
	}
	return lineCmp(a, b)
}

func rankOnly(a, b *Card) int {
	if c := cmp.Compare(b.Raw.ConfidenceScore, a.Raw.ConfidenceScore); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Raw.Severity, a.Raw.Severity); c != 0 {
		return c
	}
	return cmp.Compare(b.Recurrence(), a.Recurrence())
}

// rankLess picks a group's representative: best rank, then earliest.
func rankLess(a, b *Card) bool {
	if c := rankOnly(a, b); c != 0 {
		return c < 0
	}
	return a.Seq < b.Seq
}

func lineCmp(a, b *Card) int {
	if c := cmp.Compare(a.jobOrder, b.jobOrder); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Raw.LineNumber, b.Raw.LineNumber); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
