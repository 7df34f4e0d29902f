package analyze

import (
	"regexp/syntax"
	"unicode/utf8"
)

// byteSet is a set of bytes.
type byteSet [256 / 64]uint64

func (s *byteSet) add(c byte)      { s[c>>6] |= 1 << (c & 63) }
func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func (s *byteSet) union(o *byteSet) {
	s[0], s[1], s[2], s[3] = s[0]|o[0], s[1]|o[1], s[2]|o[2], s[3]|o[3]
}
func (s *byteSet) addRange(lo, hi byte) {
	for c := int(lo); c <= int(hi); c++ {
		s.add(byte(c))
	}
}

// firstBytes returns the bytes that can start a match of the expression
// src anchored at the start of the text, and ok false when the expression
// is not anchored or can match the empty string (then any line may match).
// A rule whose line starts with another byte is not tried.
func firstBytes(src string) (set byteSet, ok bool) {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return set, false
	}
	re = re.Simplify()
	// Every alternative must start with ^.
	alts := []*syntax.Regexp{re}
	if re.Op == syntax.OpAlternate {
		alts = re.Sub
	}
	for _, a := range alts {
		for a.Op == syntax.OpCapture {
			a = a.Sub[0]
		}
		if a.Op != syntax.OpConcat || len(a.Sub) < 2 || a.Sub[0].Op != syntax.OpBeginText && a.Sub[0].Op != syntax.OpBeginLine {
			return set, false
		}
		if a.Sub[0].Op == syntax.OpBeginLine && a.Flags&syntax.OneLine == 0 {
			// (?m)^ may match after a newline: lines hold none, but stay safe.
			return set, false
		}
		if nullable := first(&set, a.Sub[1:]); nullable {
			return set, false
		}
	}
	return set, true
}

// first adds to set the bytes that can start a match of the concatenation
// seq and reports whether seq can match the empty string.
func first(set *byteSet, seq []*syntax.Regexp) (nullable bool) {
	for _, re := range seq {
		if !firstOne(set, re) {
			return false
		}
	}
	return true
}

// firstOne adds the first bytes of re and reports whether re can match the
// empty string.
func firstOne(set *byteSet, re *syntax.Regexp) (nullable bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return true
		}
		addRune(set, re.Rune[0], re.Flags&syntax.FoldCase != 0)
		return false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo >= utf8.RuneSelf {
				set.addRange(0xc0, 0xff)
				continue
			}
			if hi >= utf8.RuneSelf {
				set.addRange(0xc0, 0xff)
				hi = utf8.RuneSelf - 1
			}
			set.addRange(byte(lo), byte(hi))
		}
		return false
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		set.addRange(0, 0xff)
		return false
	case syntax.OpCapture:
		return firstOne(set, re.Sub[0])
	case syntax.OpConcat:
		return first(set, re.Sub)
	case syntax.OpAlternate:
		nullable := false
		for _, s := range re.Sub {
			if firstOne(set, s) {
				nullable = true
			}
		}
		return nullable
	case syntax.OpStar, syntax.OpQuest:
		firstOne(set, re.Sub[0])
		return true
	case syntax.OpPlus:
		return firstOne(set, re.Sub[0])
	case syntax.OpRepeat:
		n := firstOne(set, re.Sub[0])
		return n || re.Min == 0
	}
	set.addRange(0, 0xff)
	return true
}

func addRune(set *byteSet, r rune, fold bool) {
	if r >= utf8.RuneSelf {
		var b [utf8.UTFMax]byte
		utf8.EncodeRune(b[:], r)
		set.add(b[0])
		if fold {
			set.addRange(0xc0, 0xff)
		}
		return
	}
	set.add(byte(r))
	if fold {
		if r >= 'a' && r <= 'z' {
			set.add(byte(r - 'a' + 'A'))
			if r == 'k' || r == 's' {
				set.addRange(0xc0, 0xff) // K (Kelvin) and ſ fold to them
			}
		} else if r >= 'A' && r <= 'Z' {
			set.add(byte(r - 'A' + 'a'))
			if r == 'K' || r == 'S' {
				set.addRange(0xc0, 0xff)
			}
		}
	}
}
