package analyze

import (
	"sort"

	"github.com/destill-ci/destill/contracts"
)

// Rank orders the cards of one request best first. The order is
// deterministic: equal scores are broken by job id, then line number.
//
// Beyond each card's confidence it weighs what only the whole set shows: a
// message repeated later in the same job is an echo of its first
// occurrence.
func Rank(cards []contracts.TriageCard) {
	type key struct{ job, hash string }
	firstLine := map[key]int{}
	for i := range cards {
		k := key{cards[i].Job.ID, cards[i].MessageHash}
		if l, ok := firstLine[k]; !ok || cards[i].LineNumber < l {
			firstLine[k] = cards[i].LineNumber
		}
	}
	score := make([]float64, len(cards))
	for i := range cards {
		c := &cards[i]
		s := c.ConfidenceScore
		if firstLine[key{c.Job.ID, c.MessageHash}] < c.LineNumber {
			s -= 0.05
		}
		score[i] = s
	}
	idx := make([]int, len(cards))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := idx[a], idx[b]
		if score[x] != score[y] {
			return score[x] > score[y]
		}
		if cards[x].Job.ID != cards[y].Job.ID {
			return cards[x].Job.ID < cards[y].Job.ID
		}
		return cards[x].LineNumber < cards[y].LineNumber
	})
	sorted := make([]contracts.TriageCard, len(cards))
	for i, j := range idx {
		sorted[i] = cards[j]
	}
	copy(cards, sorted)
}
