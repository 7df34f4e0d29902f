package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
)

// manyCards makes n cards over 20 jobs and n/20 distinct messages.
func manyCards(n int) []pipeline.Event {
	sevs := []contracts.Severity{contracts.SeverityWarn, contracts.SeverityError, contracts.SeverityFatal, contracts.SeverityInfo}
	ev := make([]pipeline.Event, 0, n)
	for i := range n {
		j := contracts.Job{ID: fmt.Sprintf("job-%02d", i%20), Name: fmt.Sprintf("shard %02d", i%20), Outcome: contracts.OutcomeFailed}
		h := i % max(1, n/20)
		msg := fmt.Sprintf("error: test case %d failed: expected %d, got %d in package example.com/pkg%d", h, i, i+1, h%7)
		ev = append(ev, card(j, 100+i, sevs[i%len(sevs)], float64(i%97)/97, fmt.Sprintf("h%05d", h), msg, func(c *contracts.TriageCard) {
			c.PreContext = ctxLines("    at frame", i, 15)
			c.PostContext = ctxLines("    next", i, 30)
		}))
	}
	return ev
}

func benchModel(b *testing.B, grouped bool) *model {
	b.Helper()
	m := newTestModel(b, 160, 48, manyCards(10_000), true)
	if !grouped {
		press(m, "a")
	}
	return m
}

// BenchmarkFrame10k is one frame with 10,000 cards: a key press moving the
// cursor (detail pane following) and the redraw.
func BenchmarkFrame10k(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		b.Run(fmt.Sprintf("grouped=%t", grouped), func(b *testing.B) {
			m := benchModel(b, grouped)
			down := tea.KeyMsg{Type: tea.KeyDown}
			b.ReportAllocs()
			for b.Loop() {
				m.Update(down)
				_ = m.View()
			}
		})
	}
}

// BenchmarkRequery10k is the costliest frame: the query changes (a search
// keystroke, a filter, a sort), so every row is filtered and sorted again.
func BenchmarkRequery10k(b *testing.B) {
	m := benchModel(b, false)
	press(m, "/")
	keys := []tea.KeyMsg{runes("e"), {Type: tea.KeyBackspace}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Update(keys[i%2])
		_ = m.View()
		i++
	}
}

// BenchmarkSortToggle10k cycles the sort order over 10,000 occurrences.
func BenchmarkSortToggle10k(b *testing.B) {
	m := benchModel(b, false)
	b.ReportAllocs()
	for b.Loop() {
		m.Update(runes("s"))
		_ = m.View()
	}
}

// BenchmarkBatch10k adds a batch of 100 cards to a store of 10,000 and
// redraws, as while streaming: the cards are ranked again (grouped: one
// representative per message; every occurrence: all cards).
func BenchmarkBatch10k(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		b.Run(fmt.Sprintf("grouped=%t", grouped), func(b *testing.B) {
			m := benchModel(b, grouped)
			extra := manyCards(100)
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range extra {
					e.Card.ID = "" // new card every time: ids are what dedupe
				}
				m.Update(batchMsg{events: extra})
				_ = m.View()
			}
		})
	}
}

// BenchmarkRerank10k is a batch that ranks every card again (the rank
// order is due): the costliest frame while streaming.
func BenchmarkRerank10k(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		b.Run(fmt.Sprintf("grouped=%t", grouped), func(b *testing.B) {
			m := benchModel(b, grouped)
			extra := manyCards(100)
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range extra {
					e.Card.ID = ""
				}
				m.store.RankNow()
				m.Update(batchMsg{events: extra})
				_ = m.View()
			}
		})
	}
}
