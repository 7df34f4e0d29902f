package analyze

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// The rule matcher's fast paths. Before a rule's expression runs on a line,
// the line must hold a literal of each of the clauses that every match of
// the expression satisfies (its gate, derived from the expression's
// syntax). Whether a line holds a literal, gate or need, is found out once
// per line, when a rule first asks.

// literal is a string that a match must contain; fold says it is compared
// with the lower-cased line.
type literal struct {
	s    string
	fold bool
}

// litKind says how a line is searched for a literal.
type litKind uint8

const (
	needLit     litKind = iota // a need literal, in the lower-case line
	foldGateLit                // a gate literal, in the lower-case line
	gateLit                    // a gate literal, in the line as it is
)

type litRef struct {
	s    string
	kind litKind
}

// ruleMatchers holds what the fast paths know of each rule.
type ruleMatchers struct {
	gates   [][][]literal // per rule: clauses, each a choice of literals
	clauses [][][]uint16  // the same as indexes into lits
	needs   [][]uint16    // per rule: its need literals as indexes into lits
	// pre holds byte-level checks that a line must pass for some rules'
	// expressions to match it (TestGatesAndNeedsAgree checks them).
	pre  []func(c *lineCheck) bool
	lits []litRef
	// scan finds in one pass, when a line is first checked, the literals
	// searched for in the lower-case line (need and fold gate literals,
	// lowerLits) and, when the line is ASCII, the gate literals of two
	// ASCII bytes or more (exactLits). When the line is not fold-safe, the
	// fold gate literals (foldLits) hold whatever the line.
	scan                           litScanner
	lowerLits, exactLits, foldLits litSet
	// wordStems holds, for each of failureWords, its failure stem as an
	// index into lits.
	wordStems []uint16
}

// litSet is a set of indexes into ruleMatchers.lits.
type litSet [8]uint64

var matchers = newRuleMatchers(rules)

func newRuleMatchers(rules []rule) *ruleMatchers {
	rm := &ruleMatchers{
		gates:   make([][][]literal, len(rules)),
		clauses: make([][][]uint16, len(rules)),
		needs:   make([][]uint16, len(rules)),
		pre:     make([]func(*lineCheck) bool, len(rules)),
	}
	index := map[litRef]uint16{}
	id := func(l litRef) uint16 {
		k, ok := index[l]
		if !ok {
			if len(rm.lits) >= len(litSet{})*64 {
				panic("analyze: too many rule literals")
			}
			k = uint16(len(rm.lits))
			index[l] = k
			rm.lits = append(rm.lits, l)
		}
		return k
	}
	for i, r := range rules {
		if r.re != nil {
			rm.gates[i] = gate(r.re.String())
			rm.pre[i] = preChecks[r.name]
			for _, clause := range rm.gates[i] {
				var ids []uint16
				for _, l := range clause {
					kind := gateLit
					if l.fold {
						kind = foldGateLit
					}
					ids = append(ids, id(litRef{l.s, kind}))
				}
				rm.clauses[i] = append(rm.clauses[i], ids)
			}
		}
		for _, n := range r.need {
			rm.needs[i] = append(rm.needs[i], id(litRef{n, needLit}))
		}
	}
	rm.wordStems = make([]uint16, len(failureWords))
	for i, w := range failureWords {
		k := slices.IndexFunc(failureStems, func(s string) bool { return strings.HasPrefix(w, s) })
		rm.wordStems[i] = id(litRef{failureStems[k], needLit})
	}
	for k, l := range rm.lits {
		switch l.kind {
		case needLit:
			rm.lowerLits.add(uint16(k))
		case foldGateLit:
			rm.lowerLits.add(uint16(k))
			rm.foldLits.add(uint16(k))
		case gateLit:
			if len(l.s) > 1 && asciiString(l.s) {
				rm.exactLits.add(uint16(k))
			}
		}
	}
	rm.scan = newLitScanner(rm.lits, &rm.lowerLits, &rm.exactLits)
	return rm
}

func (s *litSet) add(k uint16) { s[k>>6] |= 1 << (k & 63) }

func (s *litSet) or(o *litSet) {
	for i := range s {
		s[i] |= o[i]
	}
}

// litScanner finds which of a set of literals a line holds in one pass:
// each literal of two bytes or more is anchored on one of its bigrams,
// chosen rare, and verified where the lower case of the bigram occurs in
// the lower-case line; one-byte literals are looked for with IndexByte.
// Literals compared with the line as it is (exact) are looked for on ASCII
// lines only, where the line and its lower case have the same offsets.
type litScanner struct {
	bits   [1 << 16 / 64]uint64 // anchor bigrams, lower case
	group  [1 << 16]uint8       // bigram → 1 + index into groups
	groups [][]litAnchor
	single []litAnchor // one-byte literals of the lower-case line
}

// litAnchor is a literal, the offset of its anchor bigram and the
// literals (by index) that it stands for.
type litAnchor struct {
	s     string
	off   int
	exact bool
	// word holds the first eight bytes of s (fewer when shorter, as
	// selected by mask), to compare at once.
	word, mask uint64
	// next is the index in its group of the first literal after it that
	// does not start with it: when it is not at an offset, neither are
	// those before next.
	next int
	ids  litSet
}

func newLitScanner(lits []litRef, lower, exact *litSet) litScanner {
	var sc litScanner
	type key struct {
		s     string
		exact bool
	}
	byKey := map[key]*litSet{}
	var order []key
	for k, l := range lits {
		in := func(s *litSet) bool { return s[k>>6]&(1<<(k&63)) != 0 }
		if !in(lower) && !in(exact) {
			continue
		}
		kk := key{l.s, in(exact)}
		set := byKey[kk]
		if set == nil {
			set = new(litSet)
			byKey[kk] = set
			order = append(order, kk)
		}
		set.add(uint16(k))
	}
	byBigram := map[uint16][]litAnchor{}
	var bigrams []uint16
	for _, kk := range order {
		a := litAnchor{s: kk.s, exact: kk.exact, ids: *byKey[kk]}
		if len(a.s) == 1 {
			sc.single = append(sc.single, a)
			continue
		}
		low := a.s
		if a.exact {
			low = strings.ToLower(a.s)
		}
		best, score := 0, -1
		for j := 0; j+2 <= len(low); j++ {
			if v := bigramRarity(low[j], low[j+1]); v > score {
				best, score = j, v
			}
		}
		a.off = best
		for j := 0; j < min(8, len(a.s)); j++ {
			a.word |= uint64(a.s[j]) << (8 * j)
			a.mask |= 0xff << (8 * j)
		}
		k := uint16(low[best])<<8 | uint16(low[best+1])
		if byBigram[k] == nil {
			bigrams = append(bigrams, k)
		}
		byBigram[k] = append(byBigram[k], a)
	}
	for _, k := range bigrams {
		if len(sc.groups) >= 255 {
			panic("analyze: too many literal anchor groups")
		}
		g := byBigram[k]
		slices.SortFunc(g, func(a, b litAnchor) int {
			switch {
			case a.exact != b.exact:
				if a.exact {
					return 1
				}
				return -1
			case a.off != b.off:
				return a.off - b.off
			}
			return strings.Compare(a.s, b.s)
		})
		for x := range g {
			y := x + 1
			for y < len(g) && g[y].exact == g[x].exact && g[y].off == g[x].off && strings.HasPrefix(g[y].s, g[x].s) {
				y++
			}
			g[x].next = y
		}
		sc.groups = append(sc.groups, g)
		sc.group[k] = uint8(len(sc.groups))
		sc.bits[k>>6] |= 1 << (k & 63)
	}
	return sc
}

// bigramRarity estimates how rare a bigram is in logs: higher is rarer.
func bigramRarity(a, b byte) int {
	isCommon := func(c byte) bool { return c == ' ' || c >= '0' && c <= '9' }
	if isCommon(a) || isCommon(b) {
		return 0
	}
	if i := strings.Index(commonBigrams, string([]byte{a, b})); i >= 0 && i%3 == 0 {
		return 1 + i/3
	}
	return 1000
}

// scan adds to has the literals that lower, the lower case of t, holds,
// and when ascii (t is ASCII) the exact literals that t holds.
func (sc *litScanner) scan(t, lower string, ascii bool, has *litSet) {
	for i := range sc.single {
		if strings.IndexByte(lower, sc.single[i].s[0]) >= 0 {
			has.or(&sc.single[i].ids)
		}
	}
	if len(lower) < 2 {
		return
	}
	prev := uint16(lower[0])
	for j := 1; j < len(lower); j++ {
		cur := uint16(lower[j])
		k := prev<<8 | cur
		prev = cur
		if sc.bits[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		g := sc.groups[sc.group[k]-1]
		for x := 0; x < len(g); {
			a := &g[x]
			i := j - 1 - a.off
			s := lower
			if a.exact {
				if !ascii {
					break // the exact literals come last
				}
				s = t
			}
			if i < 0 || i+len(a.s) > len(s) {
				x = a.next
				continue
			}
			if i+8 <= len(s) {
				if load64(s, i)&a.mask != a.word || len(a.s) > 8 && s[i+8:i+len(a.s)] != a.s[8:] {
					x = a.next
					continue
				}
			} else if s[i:i+len(a.s)] != a.s {
				x = a.next
				continue
			}
			has.or(&a.ids)
			x++
		}
	}
}

// lineCheck tries the rules on one trimmed line t.
type lineCheck struct {
	t, lower string
	// foldSafe is false when lower-casing may hide a match of a
	// case-insensitive literal (ſ folds to s, but stays ſ in lower case).
	foldSafe bool
	// known and has record which literals were looked for and found.
	known, has litSet
}

func newLineCheck(t, lower string) lineCheck { return checkLine(t, lower, asciiString(t)) }

// checkLine returns the line check of t, of lower case lower; ascii says
// whether t is ASCII.
func checkLine(t, lower string, ascii bool) lineCheck {
	c := lineCheck{t: t, lower: lower, foldSafe: ascii || !strings.Contains(t, "ſ")}
	matchers.scan.scan(t, lower, ascii, &c.has)
	if !c.foldSafe {
		c.has.or(&matchers.foldLits)
	}
	c.known = matchers.lowerLits
	if ascii {
		c.known.or(&matchers.exactLits)
	}
	return c
}

// holds reports whether the line holds literal k.
func (c *lineCheck) holds(k uint16) bool {
	w, b := k>>6, uint64(1)<<(k&63)
	if c.known[w]&b != 0 {
		return c.has[w]&b != 0
	}
	var v bool
	switch l := matchers.lits[k]; l.kind {
	case needLit:
		v = strings.Contains(c.lower, l.s)
	case foldGateLit:
		v = !c.foldSafe || strings.Contains(c.lower, l.s)
	case gateLit:
		v = strings.Contains(c.t, l.s)
	}
	c.known[w] |= b
	if v {
		c.has[w] |= b
	}
	return v
}

// holdsOne reports whether the line holds one of the literals ks.
func (c *lineCheck) holdsOne(ks []uint16) bool {
	for _, k := range ks {
		if c.holds(k) {
			return true
		}
	}
	return false
}

// try reports whether rule i matches the line (its col0 condition aside).
func (c *lineCheck) try(i int) bool {
	r := &rules[i]
	if f := ruleFirst[i]; f != nil && r.fn == nil && !f.has(c.t[0]) {
		return false
	}
	if p := rulePrefix[i]; p != "" && !strings.HasPrefix(c.t, p) {
		return false
	}
	if r.need != nil && !c.holdsOne(matchers.needs[i]) {
		return false
	}
	// The gate of the expression holds for its fast matcher too, which
	// agrees with it.
	for _, clause := range matchers.clauses[i] {
		if !c.holdsOne(clause) {
			return false
		}
	}
	if r.fn != nil {
		return r.fn(c.t, c.lower)
	}
	if pre := matchers.pre[i]; pre != nil && !pre(c) {
		return false
	}
	return r.re.MatchString(c.t)
}

// maxClauses bounds the literal checks before a rule's expression.
const maxClauses = 8

// gate returns clauses of literals such that every match of the expression
// src holds a literal of each clause.
func gate(src string) [][]literal {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	clauses := required(re.Simplify())
	// The most selective first.
	slices.SortStableFunc(clauses, func(a, b []literal) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	return clauses[:min(len(clauses), maxClauses)]
}

// required returns clauses of literals such that every match of re holds
// a literal of each clause; none when it finds none.
func required(re *syntax.Regexp) [][]literal {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil
		}
		s := string(re.Rune)
		fold := re.Flags&syntax.FoldCase != 0
		if fold {
			s = strings.ToLower(s)
			if !asciiString(s) {
				return nil
			}
		}
		return [][]literal{{{s, fold}}}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil
		}
		return required(re.Sub[0])
	case syntax.OpConcat:
		var all [][]literal
		for _, sub := range re.Sub {
			all = append(all, required(sub)...)
		}
		return all
	case syntax.OpAlternate:
		// One clause: the best of each alternative's.
		var all []literal
		for _, sub := range re.Sub {
			var best []literal
			for _, c := range required(sub) {
				if better(c, best) {
					best = c
				}
			}
			if best == nil {
				return nil
			}
			all = append(all, best...)
		}
		return [][]literal{all}
	}
	return nil
}

// better reports whether literal set a is more selective than b: its
// shortest literal is longer, or as long with fewer literals.
func better(a, b []literal) bool {
	if b == nil {
		return true
	}
	ma, mb := shortest(a), shortest(b)
	return ma > mb || ma == mb && len(a) < len(b)
}

func shortest(lits []literal) int {
	n := -1
	for _, l := range lits {
		if n < 0 || len(l.s) < n {
			n = len(l.s)
		}
	}
	return n
}

func asciiString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// preChecks are necessary conditions, by rule name, for expressions whose
// literals say little (a file name and a line number start the line), or
// that are slow to run on the lines that hold their literals.
var preChecks = map[string]func(c *lineCheck) bool{
	// ^(?:In file included from )?(?:[A-Za-z]:)?[^\s:]*…:\d+…
	"compiler-error": func(c *lineCheck) bool {
		t := strings.TrimPrefix(c.t, "In file included from ")
		return pathThenLine(t, notSpaceOrColon) || hasDrive(t) && pathThenLine(t[2:], notSpaceOrColon)
	},
	// ^(?:[A-Za-z]:)?[\w./\\-]+\.\w+:\d+…
	"file-location": func(c *lineCheck) bool {
		t := c.t
		return pathThenLine(t, pathByte) || hasDrive(t) && pathThenLine(t[2:], pathByte)
	},
	// ^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Failure)(?::\s|$)
	"exception": func(c *lineCheck) bool {
		j := 0
		for j < len(c.t) && (isASCIIWord(c.t[j]) || c.t[j] == '.') {
			j++
		}
		return j > 0 && (j == len(c.t) || c.t[j] == ':' && j+1 < len(c.t) && isRegexpSpace(c.t[j+1]))
	},
	// ^(?:Exception in thread "[^"]*" )?(?:[a-z][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)(?::|$)
	"java-exception": func(c *lineCheck) bool {
		t := c.t
		if strings.HasPrefix(t, `Exception in thread "`) {
			if k := strings.Index(t[len(`Exception in thread "`):], `" `); k >= 0 && !javaName(t) {
				t = t[len(`Exception in thread "`)+k+2:]
			}
		}
		return javaName(t)
	},
	// (?i)exit code 137|signal: killed|^killed$|out of memory|…: the
	// expression's own test, on the lower-case line.
	"killed": func(c *lineCheck) bool {
		if !c.foldSafe {
			return true
		}
		l := c.lower
		return l == "killed" || strings.Contains(l, "exit code 137") || strings.Contains(l, "signal: killed") ||
			strings.Contains(l, "out of memory") || strings.Contains(l, "the runner has received a shutdown signal") ||
			strings.Contains(l, "killed by signal")
	},
}

// javaName reports whether t starts with a run of [\w$.] followed by a
// colon or the end of t.
func javaName(t string) bool {
	j := 0
	for j < len(t) && (isASCIIWord(t[j]) || t[j] == '.' || t[j] == '$') {
		j++
	}
	return j > 0 && (j == len(t) || t[j] == ':')
}

// isRegexpSpace is \s.
func isRegexpSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// pathThenLine reports whether t starts with bytes of which in holds, at
// least one, followed by a colon and a digit.
func pathThenLine(t string, in func(byte) bool) bool {
	j := 0
	for j < len(t) && in(t[j]) {
		j++
	}
	return j > 0 && j+1 < len(t) && t[j] == ':' && isDigit(t[j+1])
}

func hasDrive(t string) bool {
	return len(t) >= 2 && t[1] == ':' && (t[0]|0x20 >= 'a' && t[0]|0x20 <= 'z')
}

// notSpaceOrColon is [^\s:].
func notSpaceOrColon(c byte) bool {
	return c != ':' && c != ' ' && c != '\t' && c != '\n' && c != '\f' && c != '\r'
}

// pathByte is [\w./\\-].
func pathByte(c byte) bool {
	return isASCIIWord(c) || c == '.' || c == '/' || c == '\\' || c == '-'
}
