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
	// Recurrence counts the cards of the group.
	Recurrence int `json:"recurrence"`
	// Jobs names the jobs the message appeared in, in first-seen order.
	Jobs []string `json:"jobs"`
	// Occurrences locates the kept occurrences (job and line), best first.
	Occurrences []Occurrence `json:"occurrences,omitempty"`
	// InBaseline is set when the message also occurs in the passing run
	// given as baseline: such findings rank after all others.
	InBaseline bool `json:"in_baseline,omitempty"`
}

// Occurrence locates one card of a group.
type Occurrence struct {
	JobID      string `json:"job_id"`
	JobName    string `json:"job_name"`
	LineNumber int    `json:"line_number"`
}

// keepPerHash bounds the full cards held for one message hash; the rest are
// counted. Memory then grows with distinct messages, not with log size.
const keepPerHash = 8

// Collector accumulates cards. The zero value is not usable: use NewCollector.
type Collector struct {
	groups map[string]*group
	order  []string
}

type group struct {
	cards []contracts.TriageCard
	count int
	jobs  []string
	seen  map[string]bool
}

// NewCollector returns an empty collector.
func NewCollector() *Collector { return &Collector{groups: map[string]*group{}} }

// Add records one card.
func (c *Collector) Add(card contracts.TriageCard) {
	g := c.groups[card.MessageHash]
	if g == nil {
		g = &group{seen: map[string]bool{}}
		c.groups[card.MessageHash] = g
		c.order = append(c.order, card.MessageHash)
	}
	g.count++
	name := card.Job.Name
	if name == "" {
		name = card.Job.ID
	}
	if !g.seen[name] {
		g.seen[name] = true
		g.jobs = append(g.jobs, name)
	}
	if len(g.cards) < keepPerHash {
		g.cards = append(g.cards, card)
		return
	}
	// Keep the earliest lines of each job: later repeats of a message are
	// usually its echoes.
	worst := 0
	for i, k := range g.cards {
		if later(k, g.cards[worst]) {
			worst = i
		}
	}
	if later(g.cards[worst], card) {
		g.cards[worst] = card
	}
}

func later(a, b contracts.TriageCard) bool {
	if a.Job.ID != b.Job.ID {
		return a.Job.ID > b.Job.ID
	}
	return a.LineNumber > b.LineNumber
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
			out = append(out, Finding{TriageCard: card, Recurrence: g.count, Jobs: slices.Clone(g.jobs)})
		}
		out[i].Occurrences = append(out[i].Occurrences, Occurrence{JobID: card.Job.ID, JobName: card.Job.Name, LineNumber: card.LineNumber})
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
