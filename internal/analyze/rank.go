package analyze

import (
	"math"
	"sort"
	"strings"

	"github.com/destill-ci/destill/contracts"
)

// Rank orders the cards of one request best first. The order is
// deterministic: equal scores are broken by job id, then line number.
//
// Beyond each card's confidence it weighs what only the whole set shows:
//   - where the job failed: the CI's own report of the failing command
//     ("The command … exited with 1", "Process completed with exit code 1")
//     marks the end of the failing step, and the lines shortly before it
//     most likely hold the cause, while lines after it (cleanup, retries,
//     after-failure hooks) rarely do;
//   - a message repeated later in the same job is an echo of its first
//     occurrence;
//   - among the specific errors of one kind in a job (many failing tests,
//     many compiler errors), the first is the one people read first and
//     the one the others often follow from.
func Rank(cards []contracts.TriageCard) {
	type key struct{ job, hash string }
	firstLine := map[key]int{}
	// job id and rule → first line of a card of that rule
	firstOfRule := map[key]int{}
	failAt := map[string]int{}   // job id → first line where the CI reports the failure
	lastLine := map[string]int{} // job id → last card line
	for i := range cards {
		c := &cards[i]
		k := key{c.Job.ID, c.MessageHash}
		if l, ok := firstLine[k]; !ok || c.LineNumber < l {
			firstLine[k] = c.LineNumber
		}
		rk := key{c.Job.ID, baseRule(c.Rule)}
		if l, ok := firstOfRule[rk]; !ok || c.LineNumber < l {
			firstOfRule[rk] = c.LineNumber
		}
		if ruleClass(c.Rule) == classEcho && isCIReport(c.Rule) {
			if l, ok := failAt[c.Job.ID]; !ok || c.LineNumber < l {
				failAt[c.Job.ID] = c.LineNumber
			}
		}
		lastLine[c.Job.ID] = max(lastLine[c.Job.ID], c.EndLine, c.LineNumber)
	}
	score := make([]float64, len(cards))
	for i := range cards {
		c := &cards[i]
		s := c.ConfidenceScore
		if firstLine[key{c.Job.ID, c.MessageHash}] < c.LineNumber {
			s -= 0.05
		}
		if ruleClass(c.Rule) == classCause && firstOfRule[key{c.Job.ID, baseRule(c.Rule)}] == c.LineNumber {
			s += firstOfKindBonus
		}
		end, reported := failAt[c.Job.ID]
		if !reported {
			end = lastLine[c.Job.ID] + 1
		}
		if d := end - c.LineNumber; d >= 0 {
			if ruleClass(c.Rule) != classEcho {
				s += 0.3 * math.Exp(-float64(d)/400)
			}
		} else {
			s -= 0.1
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

// firstOfKindBonus is added to the first cause card of each rule in a job.
const firstOfKindBonus = 0.15

// baseRule is the rule name without the marker suffix.
func baseRule(rule string) string {
	rule, _ = strings.CutSuffix(rule, "+marker")
	return rule
}

var classOfRule = func() map[string]class {
	m := map[string]class{"keyword": classGeneric, "ci-error-marker": classGeneric, "last-output": classGeneric, "announced-error": classCause}
	for _, r := range rules {
		m[r.name] = r.class
	}
	return m
}()

func ruleClass(rule string) class {
	rule, _ = strings.CutSuffix(rule, "+marker")
	if c, ok := classOfRule[rule]; ok {
		return c
	}
	return classGeneric
}

// isCIReport reports whether a rule matches the CI's own statement that a
// command failed.
func isCIReport(rule string) bool {
	rule, _ = strings.CutSuffix(rule, "+marker")
	return rule == "ci-echo"
}
