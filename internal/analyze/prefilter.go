package analyze

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
	"assert", "cancel", "not ok", "not recognized", "137", "out of memory", "shutdown signal",
	"no output has been received", "the command \"", "__ test", "✕", "✗", "✖", "✘", "●", "🚨",
}

// commonBigrams are frequent in English and in logs; a keyword is anchored on
// a bigram outside this list when it has one.
const commonBigrams = "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry mp fe bl ab gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa ef cu rn sc gi da yo cr cl du ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl ny ki rk ys ob mm fu ph og ms ye ud mb ip ub oa tw ok ft nk lf nf sk nu lm aw rv ya rb iz je xp xt"

type anchor struct {
	kw  string // lower case
	off int    // offset of the anchor bigram in kw
}

// prefilter decides cheaply whether a line may hold a keyword.
type prefilter struct {
	fold    [256]byte
	bits    [1 << 16 / 64]uint64 // anchor bigrams, folded
	anchors map[uint16][]anchor
}

func newPrefilter() *prefilter {
	p := &prefilter{anchors: map[uint16][]anchor{}}
	for i := range p.fold {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		p.fold[i] = c
	}
	common := map[string]bool{}
	for i := 0; i+2 <= len(commonBigrams); i += 3 {
		common[commonBigrams[i:i+2]] = true
	}
	for _, kw := range keywords {
		off := -1
		for i := 0; i+2 <= len(kw); i++ {
			bg := kw[i : i+2]
			if bg[0] == ' ' || bg[1] == ' ' || common[bg] {
				continue
			}
			off = i
			break
		}
		if off < 0 {
			off = len(kw) - 2
		}
		k := uint16(kw[off])<<8 | uint16(kw[off+1])
		p.bits[k>>6] |= 1 << (k & 63)
		p.anchors[k] = append(p.anchors[k], anchor{kw: kw, off: off})
	}
	return p
}

// match reports whether line contains a keyword.
func (p *prefilter) match(line []byte) bool { return p.index(line) >= 0 }

// index returns the offset of the first keyword found in line, or -1.
func (p *prefilter) index(line []byte) int {
	if len(line) < 2 {
		return -1
	}
	prev := p.fold[line[0]]
	for i := 1; i < len(line); i++ {
		cur := p.fold[line[i]]
		k := uint16(prev)<<8 | uint16(cur)
		if p.bits[k>>6]&(1<<(k&63)) != 0 {
			if s := p.verify(line, i-1, k); s >= 0 {
				return s
			}
		}
		prev = cur
	}
	return -1
}

func (p *prefilter) verify(line []byte, at int, k uint16) int {
	for _, a := range p.anchors[k] {
		s := at - a.off
		if s < 0 || s+len(a.kw) > len(line) {
			continue
		}
		ok := true
		for j := 0; j < len(a.kw); j++ {
			if p.fold[line[s+j]] != a.kw[j] {
				ok = false
				break
			}
		}
		if ok {
			return s
		}
	}
	return -1
}
