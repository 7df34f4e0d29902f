package analyze

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
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
		cleaned, _ := cleanLine(nil, raw)
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
	for _, s := range []string{"ſegmentation fault", "KILLED", "Segmentation Fault", "exıt code 137", "ERROR: x", "0 ERRORS",
		"C:12: error: x", "C:\\src\\a.c:12: error: x", "In file included from a.h:3: error: x", "a.c:1:2: fatal error: x.h", "x:1: e", "C:x.go:3: y",
		"Exception in thread \"main\" java.lang.IllegalStateException: x", "Exception in thread \"a\" b\" c.d.EError", "pkg.FooError:\tx", "KILLED", "Killed", "x EXIT CODE 137",
		"ſegmentation", "0", "e", "137", "✓ ok", "deprecat", "errorerror", "xerror", "timed ou", "failed **", "ok✔",
		"é [ERROR] Failed to execute goal", "FAILED: é", "Error: ✖ x", "İERROR: x", "npm ERR! é"} {
		add(s)
	}
	gated := 0
	for i, clauses := range matchers.gates {
		if clauses == nil && matchers.pre[i] == nil {
			continue
		}
		gated++
		for _, s := range subjects {
			if s == "" || !rules[i].re.MatchString(s) {
				continue
			}
			lc := newLineCheck(s, strings.ToLower(s))
			for k, clause := range matchers.clauses[i] {
				if !lc.holdsOne(clause) {
					t.Errorf("rule %s matches %q, but its gate %v rejects it", rules[i].name, s, clauses[k])
				}
			}
			if pre := matchers.pre[i]; pre != nil && !pre(&lc) {
				t.Errorf("rule %s matches %q, but its byte-level check rejects it", rules[i].name, s)
			}
		}
	}
	if gated < 20 {
		t.Errorf("only %d rules have a gate, want at least 20", gated)
	}
	for name := range preChecks {
		if !slices.ContainsFunc(rules, func(r rule) bool { return r.name == name }) {
			t.Errorf("byte-level check for rule %s, which does not exist", name)
		}
	}
	for _, s := range subjects {
		lower := strings.ToLower(s)
		lc := newLineCheck(s, lower)
		for k, l := range matchers.lits {
			want := strings.Contains(lower, l.s)
			switch l.kind {
			case gateLit:
				want = strings.Contains(s, l.s)
			case foldGateLit:
				want = want || strings.Contains(s, "ſ")
			}
			if got := lc.holds(uint16(k)); got != want {
				t.Errorf("line %q holds literal %q (kind %d) = %v, want %v", s, l.s, l.kind, got, want)
			}
		}
	}
}

// TestLowerCase checks the line lower-casing against strings.ToLower.
func TestLowerCase(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"A", "Z", "a", "z", "@", "[", "`", "{", "0", " ", "\t", "ERROR", "é", "İ", "\u212a", "\x7f", "\x00"}
	var buf []byte
	for range 5000 {
		var b strings.Builder
		for range rng.IntN(30) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		got, ascii := lowerCase(s, &buf)
		if want := strings.ToLower(s); got != want || ascii != asciiString(s) {
			t.Fatalf("lowerCase(%q) = %q, %v, want %q, %v", s, got, ascii, want, asciiString(s))
		}
	}
}

// TestLitScannerAgrees checks the one-pass literal scan against a plain
// search for every literal it claims to have looked for, on fixture and
// corpus lines and on random text made of literal pieces.
func TestLitScannerAgrees(t *testing.T) {
	var lines []string
	for _, log := range fixtureLogs(t) {
		lines = append(lines, strings.Split(log, "\n")...)
	}
	paths, _ := filepath.Glob(filepath.Join(corpusDir(), "logchunks", "logs", "*", "*", "failed", "*.log.gz"))
	for i, path := range paths {
		if i%13 == 0 {
			lines = append(lines, strings.Split(readGz(t, path), "\n")...)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{" ", "x", "É", "1", ":"}
	for _, l := range matchers.lits {
		pieces = append(pieces, l.s, strings.ToUpper(l.s), l.s[:len(l.s)/2], l.s[len(l.s)/2:])
	}
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		lines = append(lines, b.String())
	}
	checked := 0
	for _, line := range lines {
		tl := strings.TrimLeft(line, " \t")
		if tl == "" {
			continue
		}
		var buf []byte
		lower, ascii := lowerCase(tl, &buf)
		c := checkLine(tl, lower, ascii)
		for k, l := range matchers.lits {
			w, bit := k>>6, uint64(1)<<(k&63)
			if c.known[w]&bit == 0 {
				continue
			}
			var want bool
			switch l.kind {
			case needLit:
				want = strings.Contains(lower, l.s)
			case foldGateLit:
				want = !c.foldSafe || strings.Contains(lower, l.s)
			case gateLit:
				want = strings.Contains(tl, l.s)
			}
			if got := c.has[w]&bit != 0; got != want {
				t.Fatalf("line %q: literal %q (kind %d) found = %v, want %v", tl, l.s, l.kind, got, want)
			}
			checked++
		}
	}
	if checked < 100000 {
		t.Errorf("only %d literal checks, want many", checked)
	}
}
