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
	"strconv"
	"strings"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/report"
	"github.com/destill-ci/destill/internal/sanitize"
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
	// Line is the finding's own log line, cleaned as the analyzer cleans
	// the context lines (escape sequences, CR and timestamps removed) and
	// sanitized.
	Line        string
	Pre, Post   []string
	ContextNote string
	Hash        string
	Rule        string
	// History is what earlier builds said about the message, when the
	// card comes from the store (destill view); nil otherwise.
	History *History

	group    *group
	jobOrder int    // the job's place in line order
	outcome  int    // report.OutcomeRank of the job
	rank     int    // place in analyze.Rank order of every card, from 1
	haystack string // lower-cased search text, built on first search
}

// History is a stored card's history across builds, read from its
// "history.*" metadata.
type History struct {
	// SeenBefore is set when an earlier build already reported the
	// message; otherwise it is new in this build.
	SeenBefore bool
	// Builds is the number of builds the message was reported in,
	// Occurrences the number of times.
	Builds, Occurrences int64
	// FirstSeen and LastSeen are zero when unknown.
	FirstSeen, LastSeen time.Time
	// MaxSeverity is the most severe level ever reported, sanitized; empty
	// when unknown.
	MaxSeverity string
}

// String says the history in one line: "new in this build" or "seen
// before: 4 builds, 9 times, first 2026-01-02, last 2026-02-03".
func (h *History) String() string {
	if h == nil {
		return ""
	}
	var parts []string
	if h.Builds > 0 {
		parts = append(parts, strconv.FormatInt(h.Builds, 10)+" build"+plural(h.Builds))
	}
	if h.Occurrences > 0 {
		parts = append(parts, strconv.FormatInt(h.Occurrences, 10)+" time"+plural(h.Occurrences))
	}
	if !h.FirstSeen.IsZero() {
		parts = append(parts, "first "+h.FirstSeen.Format(time.DateOnly))
	}
	if !h.LastSeen.IsZero() {
		parts = append(parts, "last "+h.LastSeen.Format(time.DateOnly))
	}
	if h.MaxSeverity != "" && h.MaxSeverity != contracts.SeverityUnknown.String() {
		parts = append(parts, "worst "+h.MaxSeverity)
	}
	if !h.SeenBefore {
		if h.Builds > 1 {
			return "new in this build (since then in " + strings.Join(parts, ", ") + ")"
		}
		return "new in this build"
	}
	if len(parts) == 0 {
		return "seen before"
	}
	return "seen before: " + strings.Join(parts, ", ")
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Metadata keys that carry a stored card's history (destill view sets
// them).
const (
	MetaSeenBefore  = "history.seen_before"
	MetaBuilds      = "history.builds"
	MetaOccurrences = "history.occurrences"
	MetaFirstSeen   = "history.first_seen" // RFC 3339
	MetaLastSeen    = "history.last_seen"  // RFC 3339
	MetaMaxSeverity = "history.max_severity"
)

// historyOf reads a card's history from its metadata; nil when it has none.
func historyOf(meta map[string]string) *History {
	seen, ok := meta[MetaSeenBefore]
	if !ok {
		return nil
	}
	h := &History{MaxSeverity: sanitize.String(meta[MetaMaxSeverity])}
	h.SeenBefore, _ = strconv.ParseBool(seen)
	h.Builds, _ = strconv.ParseInt(meta[MetaBuilds], 10, 64)
	h.Occurrences, _ = strconv.ParseInt(meta[MetaOccurrences], 10, 64)
	parse := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil || t.Year() <= 1 {
			return time.Time{}
		}
		return t.UTC()
	}
	h.FirstSeen, h.LastSeen = parse(meta[MetaFirstSeen]), parse(meta[MetaLastSeen])
	return h
}

// cleanLine is a card's raw line as the context lines around it are shown.
func cleanLine(raw string) string {
	return sanitize.String(analyze.CleanRaw(raw))
}

// Recurrence is how many times this card's message occurred in the
// request: its cards, less those inside the block of another card of the
// same message (counted as the text and JSON reports count it).
func (c *Card) Recurrence() int {
	g := c.group
	if g.occCards != len(g.cards) {
		raws := make([]*contracts.TriageCard, len(g.cards))
		for i, gc := range g.cards {
			raws[i] = &gc.Raw
		}
		g.occ, g.occCards = report.Occurrences(raws), len(g.cards)
	}
	return g.occ
}

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
	rep    *Card // the report's representative of every card of the group
	rank   int   // place of the group in report order, from 1
	// occ is the group's occurrence count when it had occCards cards.
	occ, occCards int
}

// Sort orders the rows.
type Sort int

// Sort orders.
const (
	// ByRank is the order of `destill run --format text|json`: grouped,
	// one row per message hash, the groups in analyze.Rank order of their
	// representatives (see report.Collector); every occurrence, all cards
	// in analyze.Rank order. It is the default.
	ByRank Sort = iota
	// ByConfidence: confidence, then severity, then recurrence.
	ByConfidence
	// ByLine: job order, then line number: the order things happened.
	ByLine
	// ByRecurrence: most repeated first, then by rank.
	ByRecurrence
	numSorts
)

func (s Sort) String() string {
	switch s {
	case ByConfidence:
		return "confidence"
	case ByLine:
		return "line"
	case ByRecurrence:
		return "recurrence"
	}
	return "rank"
}

// Next is the sort order after s, cycling.
func (s Sort) Next() Sort { return (s + 1) % numSorts }

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
	// Rank is the row's place, from 1, in the rank order of every card of
	// the request, whatever the query's filters and sort: when grouped,
	// its message's place in `destill run --format text` (#1, #2…); else
	// the card's place among every occurrence.
	Rank int
}

// Store holds a request's cards.
type Store struct {
	cards    []*Card
	ids      map[string]bool
	groups   map[string]*group
	order    []*group // groups in order of first appearance
	jobOrder map[string]int
	jobIDs   map[string]string // one copy of each job id: equal ids compare fast

	// RankEvery, when not zero, spaces the ranking of large requests while
	// cards arrive: a rank order of more than throttleFrom groups or cards
	// is computed again at most that often; the groups and cards added
	// since follow the others, in arrival order, until then (Pending).
	RankEvery time.Duration
	// Now is the clock of RankEvery; nil means time.Now.
	Now func() time.Time

	// The rank orders are computed when asked for after cards were added.
	groupsRanked, cardsRanked bool
	// How many groups (of order) and cards the last rank orders covered,
	// and when they were computed.
	groupsDone, cardsDone       int
	groupsAt, cardsAt           time.Time
	pendingGroups, pendingCards bool
	// ranked holds the cards as analyze.Rank sees them, by Seq: as
	// received but for the id, which is the Seq, and an empty message
	// hash, replaced by the group key (cards without a hash are not taken
	// for echoes of one another).
	ranked  []contracts.TriageCard
	scratch []contracts.TriageCard
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{ids: map[string]bool{}, groups: map[string]*group{}, jobOrder: map[string]int{}, jobIDs: map[string]string{}}
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
		JobID:       s.internJob(tc.Job.ID),
		JobName:     sanitize.String(cmp.Or(tc.Job.Name, tc.Job.ID)),
		JobURL:      sanitize.String(tc.Job.URL),
		Message:     sanitize.String(cmp.Or(tc.Message, tc.RawMessage)),
		Line:        cleanLine(cmp.Or(tc.RawMessage, tc.Message)),
		Pre:         sanitize.Lines(tc.PreContext),
		Post:        sanitize.Lines(tc.PostContext),
		ContextNote: sanitize.String(tc.ContextNote),
		Hash:        sanitize.String(tc.MessageHash),
		Rule:        sanitize.String(tc.Rule),
		History:     historyOf(tc.Metadata),
	}
	if c.Line == "" {
		// A line of escape sequences only: show the message instead.
		c.Line = c.Message
	}
	s.NoteJob(c.JobID)
	c.jobOrder = s.jobOrder[c.JobID]
	c.outcome = report.OutcomeRank(tc.Job.Outcome)
	key := tc.MessageHash
	if key == "" {
		key = "\x00" + tc.ID + "\x00" + itoa(c.Seq)
	}
	g := s.groups[key]
	if g == nil {
		g = &group{key: key, jobIDs: map[string]bool{}}
		s.groups[key] = g
		s.order = append(s.order, g)
	}
	g.cards = append(g.cards, c)
	if g.rep == nil || preferred(c, g.rep) {
		g.rep = c
	}
	if !g.jobIDs[c.JobID] {
		g.jobIDs[c.JobID] = true
		g.jobs = append(g.jobs, c.JobName)
	}
	c.group = g
	s.cards = append(s.cards, c)
	rtc := tc
	rtc.ID = strconv.Itoa(c.Seq)
	rtc.MessageHash = key
	s.ranked = append(s.ranked, rtc)
	s.groupsRanked, s.cardsRanked = false, false
	return c, true
}

func (s *Store) internJob(id string) string {
	if v, ok := s.jobIDs[id]; ok {
		return v
	}
	s.jobIDs[id] = id
	return id
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
//
// Grouped, a row stands for the cards of one message hash that pass the
// filters, shown by the one report.Collector would keep (see preferred).
func (s *Store) Rows(q Query) []Row {
	by := q.Sort
	q.Search = strings.ToLower(q.Search)
	rows := make([]Row, 0, 64)
	if q.Grouped {
		s.rankGroups()
		best := make(map[*group]int, len(s.groups))
		for _, c := range s.cards {
			if !q.matches(c) {
				continue
			}
			if i, ok := best[c.group]; ok {
				rows[i].Count++
				if preferred(c, rows[i].Card) {
					rows[i].Card = c
				}
				continue
			}
			best[c.group] = len(rows)
			rows = append(rows, Row{Card: c, Count: 1, Rank: c.group.rank})
		}
	} else {
		s.rankCards()
		for _, c := range s.cards {
			if q.matches(c) {
				rows = append(rows, Row{Card: c, Count: 1, Rank: c.rank})
			}
		}
	}
	s.sortRows(rows, by)
	return rows
}

// preferred chooses a group's representative as report.Collector does
// (report.OutcomeRank, then the lowest job id, then the earliest line).
// preferred reports whether a represents its message better than b.
func preferred(a, b *Card) bool {
	if a.outcome != b.outcome {
		return a.outcome < b.outcome
	}
	if a.JobID != b.JobID {
		return a.JobID < b.JobID
	}
	if a.Raw.LineNumber != b.Raw.LineNumber {
		return a.Raw.LineNumber < b.Raw.LineNumber
	}
	return a.Seq < b.Seq
}

// throttleFrom is the size from which RankEvery applies: ranking fewer
// takes a few milliseconds.
const throttleFrom = 2000

// Pending reports whether the last Rows placed groups or cards after the
// others without ranking them (see RankEvery).
func (s *Store) Pending(q Query) bool {
	if q.Grouped {
		return s.pendingGroups
	}
	return s.pendingCards
}

// RankNow makes the next Rows rank every group and card, whatever
// RankEvery.
func (s *Store) RankNow() { s.groupsAt, s.cardsAt = time.Time{}, time.Time{} }

// defer reports whether a rank order of n items computed at t is to be
// kept a while longer.
func (s *Store) deferRank(n int, t time.Time) bool {
	if s.RankEvery <= 0 || n < throttleFrom || t.IsZero() {
		return false
	}
	return s.now().Sub(t) < s.RankEvery
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// rankGroups numbers the groups in report order: analyze.Rank over one
// representative per group.
func (s *Store) rankGroups() {
	if s.groupsRanked {
		return
	}
	if s.deferRank(len(s.order), s.groupsAt) {
		for i := s.groupsDone; i < len(s.order); i++ {
			s.order[i].rank = i + 1
		}
		s.pendingGroups = s.groupsDone < len(s.order)
		return
	}
	s.groupsRanked, s.pendingGroups = true, false
	s.groupsDone, s.groupsAt = len(s.order), s.now()
	reps := make([]*Card, len(s.order))
	for i, g := range s.order {
		reps[i] = g.rep
	}
	for pos, seq := range s.rank(reps) {
		s.cards[seq].group.rank = pos + 1
	}
}

// rankCards numbers every card in analyze.Rank order.
func (s *Store) rankCards() {
	if s.cardsRanked {
		return
	}
	if s.deferRank(len(s.cards), s.cardsAt) {
		for i := s.cardsDone; i < len(s.cards); i++ {
			s.cards[i].rank = i + 1
		}
		s.pendingCards = s.cardsDone < len(s.cards)
		return
	}
	s.cardsRanked, s.pendingCards = true, false
	s.cardsDone, s.cardsAt = len(s.cards), s.now()
	for pos, seq := range s.rank(s.cards) {
		s.cards[seq].rank = pos + 1
	}
}

// rank runs analyze.Rank over cards and returns their Seq best first.
func (s *Store) rank(cards []*Card) []int {
	tcs := s.scratch[:0]
	for _, c := range cards {
		tcs = append(tcs, s.ranked[c.Seq])
	}
	analyze.Rank(tcs)
	order := make([]int, len(tcs))
	for pos := range tcs {
		order[pos], _ = strconv.Atoi(tcs[pos].ID)
	}
	clear(tcs)
	s.scratch = tcs[:0]
	return order
}

func (s *Store) sortRows(rows []Row, by Sort) {
	switch by {
	case ByConfidence:
		slices.SortFunc(rows, func(a, b Row) int { return confCmp(a.Card, b.Card) })
	case ByLine:
		slices.SortFunc(rows, func(a, b Row) int { return lineCmp(a.Card, b.Card) })
	case ByRecurrence:
		slices.SortFunc(rows, func(a, b Row) int {
			if c := cmp.Compare(b.Card.Recurrence(), a.Card.Recurrence()); c != 0 {
				return c
			}
			return cmp.Compare(a.Rank, b.Rank)
		})
	default:
		slices.SortFunc(rows, func(a, b Row) int { return cmp.Compare(a.Rank, b.Rank) })
	}
}

// confCmp orders by confidence, severity and recurrence (each descending),
// then by line order.
func confCmp(a, b *Card) int {
	if c := cmp.Compare(b.Raw.ConfidenceScore, a.Raw.ConfidenceScore); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Raw.Severity, a.Raw.Severity); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Recurrence(), a.Recurrence()); c != 0 {
		return c
	}
	return lineCmp(a, b)
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
