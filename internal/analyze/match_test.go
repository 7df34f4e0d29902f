package analyze

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestGatesAndNeedsAgree guards the rule matcher's fast paths on fixture
// lines, corpus lines that pass the prefilter and some hard cases: a gate
// never rejects a line that its rule's expression matches, and the need
// set of a line holds exactly the need literals it contains.
func TestGatesAndNeedsAgree(t *testing.T) {
	var subjects []string
	add := func(raw string) {
		cleaned, _ := cleanLine(nil, []byte(raw))
		subjects = append(subjects, strings.TrimLeft(string(cleaned), " \t"))
	}
	for _, log := range fixtureLogs(t) {
		for _, l := range strings.Split(log, "\n") {
			add(l)
		}
	}
	p := newPrefilter()
	paths, _ := filepath.Glob(filepath.Join(corpusDir(), "logchunks", "logs", "*", "*", "failed", "*.log.gz"))
	for i, path := range paths {
		if i%5 != 0 {
			continue
		}
		for _, l := range strings.Split(readGz(t, path), "\n") {
			if p.match([]byte(l)) {
				add(l)
			}
		}
	}
	for _, s := range []string{"ſegmentation fault", "KILLED", "Segmentation Fault", "exıt code 137", "ERROR: x", "0 ERRORS"} {
		add(s)
	}
	gated := 0
	for i, g := range matchers.gates {
		if g == nil {
			continue
		}
		gated++
		for _, s := range subjects {
			lc := lineCheck{t: s, lower: strings.ToLower(s), foldSafe: !strings.Contains(s, "ſ")}
			if !lc.holdsAny(g) && rules[i].re.MatchString(s) {
				t.Errorf("rule %s matches %q, but its gate %v rejects it", rules[i].name, s, g)
			}
		}
	}
	if gated < 20 {
		t.Errorf("only %d rules have a gate, want at least 20", gated)
	}
	for _, s := range subjects {
		lower := strings.ToLower(s)
		has := matchers.needsOf(lower)
		for k, lit := range matchers.needLits {
			var one needMask
			one.set(k)
			if got, want := one.meets(has), strings.Contains(lower, lit); got != want {
				t.Errorf("needsOf(%q) holds %q = %v, want %v", lower, lit, got, want)
			}
		}
	}
}
