// Package report groups a request's cards by message hash, ranks them and
// writes them for people (text) and machines (json, jsonl).
package report

import (
	"slices"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
)

// Finding is one group of cards sharing a message hash: the best-ranked
// occurrence, how often the message occurred and in which jobs.
type Finding struct {
	contracts.TriageCard
	// Recurrence counts where the message occurred: its cards, less those
	// inside the block of another card of the same message.
	Recurrence int `json:"recurrence"`
	// Jobs names the jobs the message appeared in, sorted.
	Jobs []string `json:"jobs"`
	// InBaseline is set when the message also occurs in the passing run
	// given as baseline: such findings rank after all others.
	InBaseline bool `json:"in_baseline,omitempty"`
}

// The collector keeps one full card per message hash, the occurrence most
// likely to explain the failure: in the job with the worst outcome, then the
// earliest line (later repeats of a message are usually its echoes). Other
// occurrences are counted. Memory then grows with distinct messages, not
// with the size of the logs.
// Collector accumulates cards. The zero value is not usable: use NewCollector.
type Collector struct {
	groups map[string]*group
	order  []string
	jobIDs map[string]int32 // job id → small number, for compact spans
}

type group struct {
	cards []contracts.TriageCard
	count int
	spans []span // where each card of the group sits, to count occurrences
	jobs  []string
	seen  map[string]bool
}

// NewCollector returns an empty collector.
func NewCollector() *Collector {
	return &Collector{groups: map[string]*group{}, jobIDs: map[string]int32{}}
}

// Add records one card.
func (c *Collector) Add(card contracts.TriageCard) {
	g := c.groups[card.MessageHash]
	if g == nil {
		g = &group{seen: map[string]bool{}}
		c.groups[card.MessageHash] = g
		c.order = append(c.order, card.MessageHash)
	}
	g.count++
	job, ok := c.jobIDs[card.Job.ID]
	if !ok {
		job = int32(len(c.jobIDs))
		c.jobIDs[card.Job.ID] = job
	}
	g.spans = append(g.spans, span{job: job, start: int32(card.LineNumber), end: int32(max(card.EndLine, card.LineNumber))})
	name := card.Job.Name
	if name == "" {
		name = card.Job.ID
	}
	if !g.seen[name] {
		g.seen[name] = true
		g.jobs = append(g.jobs, name)
	}
	if len(g.cards) == 0 {
		g.cards = append(g.cards, card)
		return
	}
	if preferred(card, g.cards[0]) {
		g.cards[0] = card
	}
}

// OutcomeRank orders job outcomes for choosing a message's representative:
// lower first. A finding in a failed job explains more than the same message
// in a job that passed.
func OutcomeRank(o contracts.Outcome) int { return outcomeOrder[o] }

var outcomeOrder = map[contracts.Outcome]int{
	contracts.OutcomeFailed: 0, contracts.OutcomeTimedOut: 0, contracts.OutcomeBroken: 0,
	contracts.OutcomeCanceled: 1, contracts.OutcomeSoftFailed: 2, contracts.OutcomeUnknown: 2,
	contracts.OutcomeRunning: 2, "": 2, contracts.OutcomePassed: 3,
}

// preferred reports whether a is a better representative of its message
// than b.
func preferred(a, b contracts.TriageCard) bool {
	if oa, ob := outcomeOrder[a.Job.Outcome], outcomeOrder[b.Job.Outcome]; oa != ob {
		return oa < ob
	}
	if a.Job.ID != b.Job.ID {
		return a.Job.ID < b.Job.ID
	}
	return a.LineNumber < b.LineNumber
}

// Len is the number of cards added.
func (c *Collector) Len() int {
	n := 0
	for _, g := range c.groups {
		n += g.count
	}
	return n
}

// Findings ranks the kept cards and returns one Finding per message hash,
// best first. Findings whose message occurs in base (which may be nil) keep
// their relative order but follow every other finding.
func (c *Collector) Findings(base *Baseline) []Finding {
	var all []contracts.TriageCard
	for _, h := range c.order {
		all = append(all, c.groups[h].cards...)
	}
	analyze.Rank(all)
	out := make([]Finding, 0, len(c.groups))
	index := map[string]int{}
	for _, card := range all {
		i, ok := index[card.MessageHash]
		if !ok {
			g := c.groups[card.MessageHash]
			i = len(out)
			index[card.MessageHash] = i
			jobs := slices.Clone(g.jobs)
			slices.Sort(jobs)
			out = append(out, Finding{TriageCard: card, Recurrence: occurrences(g.spans), Jobs: jobs})
		}
	}
	if base != nil {
		for i := range out {
			out[i].InBaseline = base.Has(out[i].MessageHash)
		}
		slices.SortStableFunc(out, func(a, b Finding) int {
			switch {
			case a.InBaseline == b.InBaseline:
				return 0
			case b.InBaseline:
				return -1
			}
			return 1
		})
	}
	return out
}

// span is the lines of one card: its anchor to the end of its block.
// Occurrences counts the distinct places where cards of one message
// occurred, as a Finding's Recurrence does.
func Occurrences(cards []*contracts.TriageCard) int {
	jobs := map[string]int32{}
	spans := make([]span, 0, len(cards))
	for _, c := range cards {
		j, ok := jobs[c.Job.ID]
		if !ok {
			j = int32(len(jobs))
			jobs[c.Job.ID] = j
		}
		spans = append(spans, span{job: j, start: int32(c.LineNumber), end: int32(max(c.EndLine, c.LineNumber))})
	}
	return occurrences(spans)
}

type span struct {
	job, start, end int32
}

// occurrences counts the distinct places a message occurred: a card that
// lies inside the block of another card with the same message (the same
// exception repeated deep in a long traceback) is the same occurrence.
func occurrences(spans []span) int {
	slices.SortFunc(spans, func(a, b span) int {
		if a.job != b.job {
			return int(a.job - b.job)
		}
		return int(a.start - b.start)
	})
	n := 0
	var cur span
	for i, s := range spans {
		if i > 0 && s.job == cur.job && s.start <= cur.end {
			cur.end = max(cur.end, s.end)
			continue
		}
		n++
		cur = s
	}
	return n
}
