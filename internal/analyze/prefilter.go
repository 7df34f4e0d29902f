package analyze

import (
	"strings"
	"unsafe"
)

// keywords are the words a line must contain (ASCII case-insensitively) for
// the detector to look at it: every detection rule requires one of them. The
// prefilter finds them with literal byte comparisons so that the heavier
// matching runs on a few percent of the lines only.
var keywords = []string{
	"error", "err!", "err:", "fail", "fatal", "panic", "exception",
	"traceback", "caused by", "killed", "timed out", "timeout", "time limit",
	"abort", "segmentation fault", "core dumped", "not found", "no such file",
	"undefined", "denied", "refused", "could not resolve",
	"exit code", "exit status", "exited with", "backoff", "errimagepull",
	"assert", "cancel", "not ok", "not recognized", "out of memory", "shutdown signal",
	"the command \"", "no output has been received", "__ test", "✕", "✗", "✖", "✘", "●", "🚨",
}

// commonBytes orders the lower-case ASCII letters and some punctuation from
// the most to the least frequent in logs; the scan anchors each keyword on
// its rarest part.
const commonBytes = " etaoinsrlhdcu.pmf/g-y:w=b_v0k1,2x\"jq'z"

// anchor is a keyword and the offset in it of a trigram that leads to it.
type anchor struct {
	kw  string // lower case
	off int
}

// prefilter finds the lines that hold a keyword.
//
// On ASCII text it looks at every fourth byte of a chunk only: each ASCII
// keyword (four bytes or more) is entered by four overlapping trigrams, one
// of which starts at an offset that is a multiple of four whatever the
// keyword's position (a trigram at the keyword's edge may stand for any
// byte there). Sixteen bytes that hold a non-ASCII byte are also looked at
// every second byte, with two overlapping trigrams per keyword, which finds
// the keywords that are not ASCII. A trigram hit (hashed into a bitset after
// a loose ASCII case fold) is then verified with exact byte comparisons.
type prefilter struct {
	fold    [256]byte
	by2     trigramTable         // two anchors a keyword, for every second byte
	by4     trigramTable         // four anchors an ASCII keyword, for every fourth byte
	bigrams [1 << 16 / 64]uint64 // per-line scan: anchor bigrams, folded
	byBi    map[uint16][]anchor
}

// trigramTable leads from a hashed trigram to the keywords it may start.
type trigramTable struct {
	bits   [1 << trigramBits / 64]uint64 // hashed trigrams that lead to keywords
	group  [1 << trigramBits]uint8       // hash → 1 + index into groups
	groups [][]tableAnchor
	byHash map[uint32][]anchor // while the table is built
}

// tableAnchor is an anchor with the first eight bytes of its keyword, to
// compare at once: a text word w holds them when (w|fold)&mask == word (fold
// sets the case bit of the letters).
type tableAnchor struct {
	anchor
	word, fold, mask uint64
}

func newTableAnchor(a anchor) tableAnchor {
	t := tableAnchor{anchor: a}
	for j := 0; j < min(8, len(a.kw)); j++ {
		c := a.kw[j]
		t.word |= uint64(c) << (8 * j)
		t.mask |= 0xff << (8 * j)
		if c >= 'a' && c <= 'z' {
			t.fold |= 0x20 << (8 * j)
		}
	}
	return t
}

// add enters keyword an.kw by the trigram a, b, c at offset an.off in it.
func (t *trigramTable) add(a, b, c byte, an anchor) {
	if t.byHash == nil {
		t.byHash = map[uint32][]anchor{}
	}
	h := trigramHash(uint32(a) | uint32(b)<<8 | uint32(c)<<16)
	for _, x := range t.byHash[h] {
		if x == an {
			return
		}
	}
	t.byHash[h] = append(t.byHash[h], an)
}

// anyFirst enters an.kw by the trigrams of any byte then b, c.
func (t *trigramTable) anyFirst(b, c byte, an anchor) {
	for x := range 256 {
		t.add(byte(x), b, c, an)
	}
}

// anyLast enters an.kw by the trigrams of a, b then any byte.
func (t *trigramTable) anyLast(a, b byte, an anchor) {
	for x := range 256 {
		t.add(a, b, byte(x), an)
	}
}

func (t *trigramTable) build() {
	var lists [][]anchor
	for h, list := range t.byHash {
		t.bits[h>>6] |= 1 << (h & 63)
		idx := -1
		for g, other := range lists {
			if sameAnchors(other, list) {
				idx = g
				break
			}
		}
		if idx < 0 {
			idx = len(lists)
			lists = append(lists, list)
			group := make([]tableAnchor, len(list))
			for k, a := range list {
				group[k] = newTableAnchor(a)
			}
			t.groups = append(t.groups, group)
		}
		if idx >= 255 {
			panic("analyze: too many prefilter anchor groups")
		}
		t.group[h] = uint8(idx + 1)
	}
	t.byHash = nil
}

// looseFold maps the ASCII upper-case letters to lower case, and some other
// bytes to others: both sides of a comparison go through it, so that it only
// adds candidates that the exact comparison rejects.
const looseFold = 0x20202020

// trigramBits is the size of a trigram hash: the 256 trigrams that lead to
// each three-byte keyword at an odd offset fill a small table.
const trigramBits = 18

func trigramHash(v uint32) uint32 {
	return ((v | looseFold) & 0xffffff) * 0x9e3779b1 >> (32 - trigramBits)
}

func newPrefilter() *prefilter {
	p := &prefilter{byBi: map[uint16][]anchor{}}
	for i := range p.fold {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		p.fold[i] = c
	}
	rarity := func(c byte) int {
		if i := strings.IndexByte(commonBytes, c); i >= 0 {
			return i
		}
		return len(commonBytes)
	}
	rarest := func(kw string, n int) int {
		best, score := 0, -1
		for j := 0; j+n <= len(kw); j++ {
			s := 0
			for _, c := range []byte(kw[j : j+n]) {
				s += rarity(c)
			}
			if s > score {
				best, score = j, s
			}
		}
		return best
	}
	for _, kw := range keywords {
		ascii := asciiString(kw)
		switch {
		case len(kw) < 3 || len(kw) == 3 && ascii:
			panic("analyze: prefilter keyword " + kw + " is too short")
		case len(kw) == 3:
			// The trigram at an even offset is the keyword or starts one
			// byte before it.
			p.by2.add(kw[0], kw[1], kw[2], anchor{kw, 0})
			p.by2.anyFirst(kw[0], kw[1], anchor{kw, -1})
		default:
			b := rarest(kw, 4)
			p.by2.add(kw[b], kw[b+1], kw[b+2], anchor{kw, b})
			p.by2.add(kw[b+1], kw[b+2], kw[b+3], anchor{kw, b + 1})
		}
		if ascii {
			p.addFourfold(kw)
		}
		p.addBigram(kw)
	}
	p.by2.build()
	p.by4.build()
	return p
}

// addFourfold enters an ASCII keyword into by4 by four trigrams at
// consecutive offsets, chosen to be rare in logs: a common trigram would
// send many positions to the exact comparison.
func (p *prefilter) addFourfold(kw string) {
	pair := func(i int) int { return bigramRarity(kw[i], kw[i+1]) }
	tri := func(i int) int { return min(pair(i), pair(i+1)) }
	switch len(kw) {
	case 4:
		p.by4.anyFirst(kw[0], kw[1], anchor{kw, -1})
		p.by4.add(kw[0], kw[1], kw[2], anchor{kw, 0})
		p.by4.add(kw[1], kw[2], kw[3], anchor{kw, 1})
		p.by4.anyLast(kw[2], kw[3], anchor{kw, 2})
	case 5:
		for o := range 3 {
			p.by4.add(kw[o], kw[o+1], kw[o+2], anchor{kw, o})
		}
		// The fourth trigram holds any byte before or after the keyword:
		// on the side with the rarer pair.
		if pair(0) >= pair(3) {
			p.by4.anyFirst(kw[0], kw[1], anchor{kw, -1})
		} else {
			p.by4.anyLast(kw[3], kw[4], anchor{kw, 3})
		}
	default:
		best, score := 0, -1
		for b := 0; b+6 <= len(kw); b++ {
			s := tri(b)
			for o := b + 1; o < b+4; o++ {
				s = min(s, tri(o))
			}
			if s > score {
				best, score = b, s
			}
		}
		for o := best; o < best+4; o++ {
			p.by4.add(kw[o], kw[o+1], kw[o+2], anchor{kw, o})
		}
	}
}

func sameAnchors(a, b []anchor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// commonBigrams are frequent in English and in logs; a keyword is anchored on
// a bigram outside this list when it has one (per-line scan).
const commonBigrams = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry mp fe bl ab gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa ef cu rn sc gi da yo cr cl du ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl ny ki rk ys ob mm fu ph og ms ye ud mb ip ub oa tw ok ft nk lf nf sk nu lm aw rv ya rb iz je xp xt"

func (p *prefilter) addBigram(kw string) {
	off := -1
	for i := 0; i+2 <= len(kw); i++ {
		bg := kw[i : i+2]
		if bg[0] == ' ' || bg[1] == ' ' || strings.Contains(commonBigrams, bg) {
			continue
		}
		off = i
		break
	}
	if off < 0 {
		off = len(kw) - 2
	}
	k := uint16(kw[off])<<8 | uint16(kw[off+1])
	p.bigrams[k>>6] |= 1 << (k & 63)
	p.byBi[k] = append(p.byBi[k], anchor{kw: kw, off: off})
}

// match reports whether line contains a keyword.
func (p *prefilter) match(line []byte) bool { return keywordIndex(p, line) >= 0 }

// index returns the offset of the first keyword found in line, or -1.
func (p *prefilter) index(line string) int { return keywordIndex(p, line) }

func keywordIndex[T string | []byte](p *prefilter, line T) int {
	if len(line) < 2 {
		return -1
	}
	prev := p.fold[line[0]]
	for i := 1; i < len(line); i++ {
		cur := p.fold[line[i]]
		k := uint16(prev)<<8 | uint16(cur)
		if p.bigrams[k>>6]&(1<<(k&63)) != 0 {
			for _, a := range p.byBi[k] {
				if s := i - 1 - a.off; at(p, line, s, a.kw) {
					return s
				}
			}
		}
		prev = cur
	}
	return -1
}

// at reports whether s holds kw, ASCII case-insensitively, at offset i.
func at[T string | []byte](p *prefilter, s T, i int, kw string) bool {
	if i < 0 || i+len(kw) > len(s) {
		return false
	}
	for j := 0; j < len(kw); j++ {
		if p.fold[s[i+j]] != kw[j] {
			return false
		}
	}
	return true
}

// lines appends to dst the index of each line from lo to hi that holds a
// keyword. starts are the byte offsets of the lines of content.
func (p *prefilter) lines(dst []int32, content string, starts []int, lo, hi int) []int32 {
	end := len(content)
	if hi+1 < len(starts) {
		end = starts[hi+1] - 1
	}
	s := content[:end]
	line := lo
	base := unsafe.StringData(s)
	const highs = 0x8080808080808080
	origin := starts[lo] // where the offsets that are multiples of four count from
	for i := origin; i+2 < len(s); {
		found := -1
		// Pass over sixteen bytes at a time while they are ASCII and none
		// of the trigrams at i, i+4, i+8 and i+12 may start a keyword.
		if i = p.by4.skip(base, i, len(s)); i+2 >= len(s) {
			break
		}
		if i+18 <= len(s) {
			// These sixteen bytes: their trigrams at every fourth offset,
			// and when a byte is not ASCII at every second one too.
			w0, w1 := loadAt(base, i), loadAt(base, i+8)
			h := [4]uint32{trigramHash(uint32(w0)), trigramHash(uint32(w0 >> 32)), trigramHash(uint32(w1)), trigramHash(uint32(w1 >> 32))}
			if (w0|w1)&highs != 0 {
				h2 := [4]uint32{trigramHash(uint32(w0 >> 16)), trigramHash(uint32(w0>>48 | w1<<16)), trigramHash(uint32(w1 >> 16)), trigramHash(uint32(loadAt(base, i+10) >> 32))}
				for k := range 4 {
					found = earliest(found, p.by2.verify(p, s, i+4*k, h[k]))
					found = earliest(found, p.by2.verify(p, s, i+4*k+2, h2[k]))
				}
			}
			for k := range 4 {
				if p.by4.has(h[k]) {
					found = earliest(found, p.by4.lookup(p, s, i+4*k, h[k]))
				}
			}
			if found < 0 {
				i += 16
				continue
			}
		} else {
			// The last bytes, every second one: by2 finds every keyword
			// that starts here, by4 (every fourth) those whose fourfold
			// trigram is here but whose twofold ones were passed over.
			t := uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16
			found = p.by2.verify(p, s, i, trigramHash(t))
			if (i-origin)%4 == 0 {
				found = earliest(found, p.by4.verify(p, s, i, trigramHash(t)))
			}
			if found < 0 {
				i += 2
				continue
			}
		}
		for line+1 <= hi && starts[line+1] <= found {
			line++
		}
		dst = append(dst, int32(line))
		if line == hi {
			break
		}
		line++
		i = starts[line]
		origin = i
	}
	return dst
}

// skip returns the first i+16k, from i on, where sixteen bytes are not
// all ASCII or one of their trigrams at every fourth offset is in the
// table, or one where fewer than eighteen bytes are left before end.
func (t *trigramTable) skip(base *byte, i, end int) int {
	const highs = 0x8080808080808080
	for ; i+18 <= end; i += 16 {
		w0, w1 := loadAt(base, i), loadAt(base, i+8)
		if (w0|w1)&highs != 0 || t.has(trigramHash(uint32(w0))) || t.has(trigramHash(uint32(w0>>32))) ||
			t.has(trigramHash(uint32(w1))) || t.has(trigramHash(uint32(w1>>32))) {
			break
		}
	}
	return i
}

func (t *trigramTable) has(h uint32) bool {
	return t.bits[h>>6&uint32(len(t.bits)-1)]&(1<<(h&63)) != 0
}

func (t *trigramTable) bit(h uint32) uint64 {
	return t.bits[h>>6&uint32(len(t.bits)-1)] >> (h & 63) & 1
}

// verify returns the offset of a keyword that the trigram at i, of hash h,
// leads to, or -1.
func (t *trigramTable) verify(p *prefilter, s string, i int, h uint32) int {
	if t.bit(h) == 0 {
		return -1
	}
	return t.lookup(p, s, i, h)
}

// lookup is verify for a hash whose bit is set.
func (t *trigramTable) lookup(p *prefilter, s string, i int, h uint32) int {
	for k := range t.groups[t.group[h]-1] {
		a := &t.groups[t.group[h]-1][k]
		start := i - a.off
		if start >= 0 && start+8 <= len(s) {
			if (load64(s, start)|a.fold)&a.mask != a.word || len(a.kw) > 8 && !at(p, s, start+8, a.kw[8:]) {
				continue
			}
			return start
		}
		if at(p, s, start, a.kw) {
			return start
		}
	}
	return -1
}

// earliest returns the lesser offset of a and b, either of which may be -1
// (none).
func earliest(a, b int) int {
	if a < 0 || b >= 0 && b < a {
		return b
	}
	return a
}

// loadAt returns the eight bytes at base+i, little-endian; the caller
// makes sure that they lie inside the string.
func loadAt(base *byte, i int) uint64 {
	p := (*[8]byte)(unsafe.Add(unsafe.Pointer(base), i))
	return uint64(p[0]) | uint64(p[1])<<8 | uint64(p[2])<<16 | uint64(p[3])<<24 |
		uint64(p[4])<<32 | uint64(p[5])<<40 | uint64(p[6])<<48 | uint64(p[7])<<56
}

func load64(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func load32(s string, i int) uint32 {
	b := s[i : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
