// Package analyze is destill's analyzer engine: it cleans the lines of a log
// chunk, finds the ones that explain a failure, scores them and turns them
// into triage cards with their context and a hash of the normalized message.
//
// The engine is pure and stateless per chunk: it does no I/O, and a chunk's
// findings depend on the chunk alone. Lines are first screened with literal
// byte comparisons (the prefilter); only the few lines that contain a failure
// keyword are cleaned and matched against the detection rules.
package analyze

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/destill-ci/destill/contracts"
)

// Config tunes the engine. The zero value is ready to use.
type Config struct {
	// MinConfidence is the confidence below which a line gets no card.
	// Zero means 0.25.
	MinConfidence float64
	// MaxLineBytes caps the length of the message and context lines on a
	// card; longer lines are cut at a character boundary and marked.
	// Zero means 4096.
	MaxLineBytes int
}

const (
	defaultMinConfidence = 0.25
	defaultMaxLineBytes  = 4096
	// maxDetectBytes bounds the text of one line the rules look at.
	maxDetectBytes = 1024
	// maxBlockLines bounds how far a multi-line finding extends.
	maxBlockLines = contracts.ContextAfter
)

// Engine analyses log chunks. It is safe for concurrent use.
type Engine struct {
	minConfidence float64
	maxLineBytes  int
	pre           *prefilter
	scratch       sync.Pool // *scratch
}

// New returns an engine configured by cfg.
func New(cfg Config) *Engine {
	e := &Engine{
		minConfidence: cfg.MinConfidence,
		maxLineBytes:  cfg.MaxLineBytes,
		pre:           newPrefilter(),
	}
	if e.minConfidence <= 0 {
		e.minConfidence = defaultMinConfidence
	}
	if e.maxLineBytes <= 0 {
		e.maxLineBytes = defaultMaxLineBytes
	}
	e.scratch.New = func() any { return new(scratch) }
	return e
}

// scratch holds per-call buffers reused across chunks.
type scratch struct {
	starts  []int   // byte offset of each line of the chunk
	hits    []int32 // lines that hold a keyword
	buf     []byte
	lower   []byte
	cands   []finding
	found   []finding
	cleaned []cleanedLine
	gen     uint32
	// seen holds what detect said about the texts of the chunk's lines:
	// logs repeat lines, and detect depends on the text and marker only.
	seen map[seenKey]seenMatch
	// norms holds the normalized message and hash of a card's message.
	norms map[string][2]string
	ctx   []string
	raws  []rawLine
	arena arena
}

// chunkLines gives access to a chunk's lines, cleaned on demand.
type chunkLines struct {
	content string
	starts  []int
	// cleaned caches cleaned lines; an entry is valid when its gen is the
	// chunk's.
	cleaned []cleanedLine
	gen     uint32
	buf     []byte
	lower   []byte    // the lower case of the line being detected
	check   lineCheck // and its line check
	seen    map[seenKey]seenMatch
	norms   map[string][2]string
	ctx     []string // a stretch's lines before they are copied
	raws    []rawLine
	// arena holds the text of the cleaned lines that differ from their raw
	// line, in blocks that are reused by the next chunk: the strings it
	// hands out live no longer than the call (cards copy them).
	arena arena
}

// arena hands out strings copied into reusable blocks. A block is never
// written again during one chunk, so the strings stay valid until reset.
type arena struct {
	blocks [][]byte
	cur    int // the block being filled
}

func (a *arena) reset() {
	a.cur = 0
	if len(a.blocks) > 0 {
		a.blocks[0] = a.blocks[0][:0]
	}
}

func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(a.blocks) == 0 {
		a.blocks = append(a.blocks, make([]byte, 0, max(len(b), 64<<10)))
	}
	blk := a.blocks[a.cur]
	if cap(blk)-len(blk) < len(b) {
		a.cur++
		if a.cur == len(a.blocks) || cap(a.blocks[a.cur]) < len(b) {
			a.blocks = slices.Insert(a.blocks, a.cur, make([]byte, 0, max(len(b), 64<<10)))
		}
		blk = a.blocks[a.cur][:0]
	}
	from := len(blk)
	blk = append(blk, b...)
	a.blocks[a.cur] = blk
	return unsafe.String(&blk[from], len(b))
}

type cleanedLine struct {
	text string
	meta lineMeta
	gen  uint32
}

func (l *chunkLines) n() int { return len(l.starts) }

func (l *chunkLines) raw(i int) string {
	end := len(l.content)
	if i+1 < len(l.starts) {
		end = l.starts[i+1] - 1
	}
	return l.content[l.starts[i]:end]
}

func (l *chunkLines) clean(i int) *cleanedLine {
	c := &l.cleaned[i]
	if c.gen == l.gen {
		return c
	}
	raw := l.raw(i)
	*c = cleanedLine{gen: l.gen}
	if plainLine(raw) {
		c.text = strings.TrimRight(raw, " \t")
	} else {
		l.buf, c.meta = cleanLine(l.buf[:0], raw)
		c.text = l.arena.str(l.buf)
	}
	return c
}

// finding is a detected line before it becomes a card.
type finding struct {
	idx    int // line index in the chunk
	end    int // last line index of the block
	keyIdx int // line whose text names the error (the exception of a traceback)
	m      match
}

// Analyze returns the findings on the chunk's owned lines as fully filled
// triage cards, in line order.
//
// Whether a line is a finding, and its extent, message and score, depend
// only on the line itself, the contracts.ContextBefore lines before it and
// the contracts.ContextAfter lines after it: the window that the chunk
// owning the line always holds. Findings are therefore the same however a
// log is cut into chunks. Anything that needs a wider view (repeats, the
// order of errors in a job) is left to Rank.
func (e *Engine) Analyze(c *contracts.LogChunk) []contracts.TriageCard {
	if c == nil || c.Content == "" && c.LineEnd < c.LineStart {
		return nil
	}
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	s.starts = lineStarts(s.starts[:0], c.Content)
	n := len(s.starts)
	if cap(s.cleaned) < n {
		s.cleaned = make([]cleanedLine, n, n+n/4)
		s.gen = 0
	}
	s.cleaned = s.cleaned[:n]
	s.gen++
	if s.gen == 0 {
		clear(s.cleaned)
		s.gen = 1
	}
	if s.seen == nil {
		s.seen = map[seenKey]seenMatch{}
	}
	if s.norms == nil {
		s.norms = map[string][2]string{}
	}
	defer clear(s.seen)
	defer clear(s.norms)
	lines := &chunkLines{content: c.Content, starts: s.starts, cleaned: s.cleaned, gen: s.gen, buf: s.buf, lower: s.lower, seen: s.seen, norms: s.norms, ctx: s.ctx, raws: s.raws}
	s.arena.reset()
	lines.arena = s.arena
	defer func() {
		s.buf, s.lower, s.ctx, s.raws, s.arena = lines.buf, lines.lower, lines.ctx, lines.raws, lines.arena
	}()

	first := max(c.OwnedStart, c.LineStart) - c.LineStart
	last := min(c.OwnedEnd, c.LineEnd) - c.LineStart
	if c.OwnedStart == 0 && c.OwnedEnd == 0 {
		first, last = 0, n-1
	}
	last = min(last, n-1)
	if first > last {
		return nil
	}
	// Lines outside the owned range but inside the window of an owned line
	// can start a block that covers it, or report the failure it explains.
	lo := max(0, first-contracts.ContextBefore)
	hi := min(n-1, last+contracts.ContextAfter)

	// Only lines with a keyword can be detected, and only the line after
	// one ("rake aborted!") can be announced.
	s.hits = e.pre.lines(s.hits[:0], c.Content, s.starts, lo, hi)
	cands := s.cands[:0]
	for k, h := range s.hits {
		i := int(h)
		// An announcing line holds a keyword ("aborted!", "ERROR"): the
		// line before i can announce it only when it is a hit, or when
		// it lies before the scanned lines.
		// A list of failures ("There were 2 errors:", "3 failing") may
		// leave a blank line before its first item.
		prevHit := i-1 < lo || k > 0 && (int(s.hits[k-1]) == i-1 || int(s.hits[k-1]) == i-2 && listHeaderLine(lines, i-2) && blankLine(lines, i-1))
		cands = e.candidate(cands, lines, i, true, prevHit)
		if i+1 <= hi && (k+1 == len(s.hits) || int(s.hits[k+1]) != i+1) {
			cands = e.candidate(cands, lines, i+1, false, true)
			if i+2 <= hi && (k+1 == len(s.hits) || int(s.hits[k+1]) != i+2) && listHeaderLine(lines, i) && blankLine(lines, i+1) {
				cands = e.candidate(cands, lines, i+2, false, true)
			}
		}
	}
	s.cands = cands
	w := window{lines: lines, cands: cands}

	found := s.found[:0]
	for k := range cands {
		f := cands[k]
		if f.idx < first || f.idx > last || w.inBlock(k) {
			continue
		}
		found = append(found, f)
	}
	found = w.addLastOutput(found, first, last)
	s.found = found
	if len(found) == 0 {
		return nil
	}
	return e.cards(c, lines, found)
}

// candidate appends line i to cands when it is a finding; keyword says
// whether the line holds a prefilter keyword, prevHit whether the line
// before it may (when false, it cannot announce line i).
func (e *Engine) candidate(cands []finding, lines *chunkLines, i int, keyword, prevHit bool) []finding {
	m, ok := match{}, false
	if keyword {
		m, ok = e.detectLine(lines, i)
	}
	if prevHit {
		m, ok = announce(lines, i, m, ok)
	}
	if !ok {
		return cands
	}
	f := finding{idx: i, end: i, keyIdx: i, m: m}
	f.end, f.keyIdx = extendBlock(lines, i, m.block)
	return append(cands, f)
}

// detectLine classifies line i, which holds a keyword; ok is false when it
// is worth no card.
func (e *Engine) detectLine(lines *chunkLines, i int) (match, bool) {
	cl := lines.clean(i)
	text := cl.text
	if len(text) > maxDetectBytes {
		// Match a window around the first keyword of a very long line.
		// Both ends fall on character boundaries.
		at := max(0, e.pre.index(text)-maxDetectBytes/4)
		for at < len(text) && text[at]&0xc0 == 0x80 {
			at++
		}
		end := min(len(text), at+maxDetectBytes)
		for end < len(text) && end > at && text[end]&0xc0 == 0x80 {
			end--
		}
		text = text[at:end]
	}
	key := seenKey{text, cl.meta.marker}
	if r, ok := lines.seen[key]; ok {
		return r.m, r.ok
	}
	m, ok := detectBuf(text, cl.meta.marker, &lines.lower, &lines.check)
	if !ok || m.class == classNoise || m.score < e.minConfidence {
		m, ok = match{}, false
	}
	lines.seen[key] = seenMatch{m, ok}
	return m, ok
}

type seenKey struct {
	text string
	mk   marker
}

type seenMatch struct {
	m  match
	ok bool
}

// announced reports whether line i is the message that a tool announces
// on the line before it ("rake aborted!" then the reason).
func announced(lines *chunkLines, i int) bool {
	if i == 0 {
		return false
	}
	prev := lines.raw(i - 1)
	if !strings.Contains(prev, "aborted!") || strings.TrimSpace(lines.clean(i).text) == "" {
		return false
	}
	return strings.TrimSpace(lines.clean(i-1).text) == "rake aborted!"
}

// window answers questions about a line from the candidates (detected
// lines, in line order) of its context window only.
type window struct {
	lines *chunkLines
	cands []finding
}

// inBlock reports whether candidate k lies inside the block of a candidate
// that starts at most contracts.ContextBefore lines before it.
func (w window) inBlock(k int) bool {
	return w.covered(w.cands[k].idx, k)
}

// covered reports whether line j lies inside the block of a candidate that
// starts in the contracts.ContextBefore lines before it; k is the index of
// the first candidate at or after j (len(cands) when none).
func (w window) covered(j, k int) bool {
	for p := k - 1; p >= 0 && w.cands[p].idx >= j-contracts.ContextBefore; p-- {
		if w.cands[p].idx < j && w.cands[p].end >= j {
			return true
		}
	}
	return false
}

// addLastOutput adds, before a CI report of a failed command that no
// specific error precedes closely, a finding on the command's last output
// line: tools that fail without an error keyword (a linter listing
// offences, a diff check) print their reason there. The report must follow
// within contracts.ContextAfter lines, and only lines in the window of the
// output line are looked at.
func (w window) addLastOutput(found []finding, first, last int) []finding {
	const lookBack = 40
	added := false
	for k, echo := range w.cands {
		if echo.m.rule != "ci-echo" || echo.idx <= first || echo.idx > last+contracts.ContextAfter || w.inBlock(k) {
			continue
		}
		// The output line: the last one before the report that is not
		// blank, a shell prompt or a line of another finding.
		j, p := echo.idx-1, k-1
		for ; j >= echo.idx-contracts.ContextAfter && j >= first; j-- {
			for p >= 0 && w.cands[p].idx > j {
				p--
			}
			if p >= 0 && w.cands[p].idx == j || w.covered(j, p+1) {
				continue
			}
			if boilerplate(w.lines.clean(j).text) {
				continue
			}
			break
		}
		if j < first || j < echo.idx-contracts.ContextAfter || j > last {
			continue
		}
		// A specific error shortly before the report explains it already.
		explained := false
		from := max(echo.idx-lookBack, j-contracts.ContextBefore)
		for q := k - 1; q >= 0 && w.cands[q].idx >= from; q-- {
			if w.cands[q].m.class == classCause || w.cands[q].m.class == classGeneric && w.cands[q].idx >= echo.idx-contracts.ContextBefore {
				explained = true
				break
			}
		}
		if explained {
			continue
		}
		dup := false
		for _, f := range found {
			if f.idx == j {
				dup = true
				break
			}
		}
		if !dup {
			found = append(found, finding{idx: j, end: j, keyIdx: j, m: match{rule: "last-output", sev: sevError, score: 0.5, class: classGeneric}})
			added = true
		}
	}
	if added {
		sort.Slice(found, func(a, b int) bool { return found[a].idx < found[b].idx })
	}
	return found
}

// boilerplate reports whether a line is one that tools print around their
// real output: blank lines, shell prompts, CI and build tool chatter, hints
// about getting more details.
func boilerplate(line string) bool {
	t := strings.TrimSpace(line)
	if t == "" {
		return true
	}
	for _, p := range [...]string{"travis_", "$ ", "npm ERR!", "npm error", "info Visit ", "(See full trace", "Execution halted"} {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	// make[1]: Leaving directory '…'
	if strings.HasPrefix(t, "make") {
		if i := strings.Index(t, ": "); i > 0 && i < 12 {
			rest := t[i+2:]
			return strings.HasPrefix(rest, "Leaving directory") || strings.HasPrefix(rest, "Entering directory") || strings.HasPrefix(rest, "Nothing to be done")
		}
	}
	return false
}

// lineStarts appends the byte offset of each line of content.
func lineStarts(dst []int, content string) []int {
	dst = append(dst, 0)
	for off := 0; ; {
		i := strings.IndexByte(content[off:], '\n')
		if i < 0 {
			return dst
		}
		off += i + 1
		dst = append(dst, off)
	}
}

// maxShareLines bounds the lines that the cards of one stretch of a chunk
// share: twice a card's own window, so a card kept alone holds at most that.
const maxShareLines = 2 * (contracts.ContextBefore + 1 + contracts.ContextAfter)

// cards turns findings (in line order) into cards. Findings whose context
// windows overlap share one copy of their lines: a copy, so that the cards
// keep neither the chunk nor the engine's buffers alive.
func (e *Engine) cards(c *contracts.LogChunk, lines *chunkLines, found []finding) []contracts.TriageCard {
	cards := make([]contracts.TriageCard, 0, len(found))
	last := lines.n() - 1
	for k := 0; k < len(found); {
		lo := max(0, found[k].idx-contracts.ContextBefore)
		hi := min(last, found[k].idx+contracts.ContextAfter)
		j := k + 1
		for ; j < len(found); j++ {
			flo := max(0, found[j].idx-contracts.ContextBefore)
			fhi := min(last, found[j].idx+contracts.ContextAfter)
			if flo > hi+1 || fhi-lo+1 > maxShareLines {
				break
			}
			hi = max(hi, fhi)
		}
		cards = e.stretch(cards, c, lines, found[k:j], lo, hi)
		k = j
	}
	return cards
}

// stretch appends the cards of findings whose windows lie in lines lo..hi.
func (e *Engine) stretch(cards []contracts.TriageCard, c *contracts.LogChunk, lines *chunkLines, found []finding, lo, hi int) []contracts.TriageCard {
	text := lines.ctx[:0]
	size := 0
	for i := lo; i <= hi; i++ {
		t := e.cap(lines.clean(i).text)
		text = append(text, t)
		size += len(t)
	}
	lines.ctx = text
	// Raw lines that differ from their cleaned text: sanitized into buf,
	// or capped from the chunk.
	raws := lines.raws[:0]
	buf := lines.buf[:0]
	for _, f := range found {
		raw := lines.raw(f.idx)
		r := rawLine{same: -1}
		switch {
		case !plainLine(raw):
			from := len(buf)
			buf = e.capInPlace(showControls(buf, []byte(raw)), from)
			r.from, r.to = from, len(buf)
		case len(raw) <= e.maxLineBytes && len(raw) == len(text[f.idx-lo]) || len(raw) > e.maxLineBytes && text[f.idx-lo] == e.cap(raw):
			// A plain line is its cleaned text less trailing blanks.
			r.same = f.idx - lo
		default:
			r.str = e.cap(raw)
		}
		size += r.to - r.from + len(r.str)
		raws = append(raws, r)
	}
	lines.buf, lines.raws = buf, raws

	var b strings.Builder
	b.Grow(size)
	keep := func(s string) string {
		from := b.Len()
		b.WriteString(s)
		return b.String()[from:]
	}
	shared := make([]string, len(text))
	for k, t := range text {
		shared[k] = keep(t)
	}
	clear(text)
	for k, f := range found {
		r := raws[k]
		var raw string
		switch {
		case r.same >= 0:
			raw = shared[r.same]
		case r.str != "":
			raw = keep(r.str)
		default:
			from := b.Len()
			b.Write(buf[r.from:r.to])
			raw = b.String()[from:]
		}
		cards = append(cards, e.card(c, lines, f, raw, shared, lo))
	}
	clear(raws)
	return cards
}

// rawLine is where a card's raw line comes from.
type rawLine struct {
	same     int    // index of the shared line that equals it, or -1
	from, to int    // its bytes in the sanitize buffer
	str      string // or the string to copy
}

// card fills the card of f; shared holds lines lo.. of the chunk.
func (e *Engine) card(c *contracts.LogChunk, lines *chunkLines, f finding, raw string, shared []string, lo int) contracts.TriageCard {
	cl := lines.clean(f.idx)
	first := max(0, f.idx-contracts.ContextBefore) - lo
	at := f.idx - lo
	end := min(lines.n()-1, f.idx+contracts.ContextAfter) - lo
	msg := shared[f.keyIdx-lo]
	nh, ok := lines.norms[msg]
	if !ok {
		nh[0] = Normalize(msg)
		nh[1] = Hash(nh[0])
		lines.norms[msg] = nh
	}
	lineNo := c.LineStart + f.idx
	return contracts.TriageCard{
		Version:           contracts.Version,
		ID:                contracts.FindingID(c.RequestID, c.Job.ID, lineNo),
		RequestID:         c.RequestID,
		MessageHash:       nh[1],
		Source:            c.Source,
		BuildID:           c.BuildID,
		BuildURL:          c.BuildURL,
		Job:               c.Job,
		Severity:          f.m.sev,
		LineNumber:        lineNo,
		EndLine:           c.LineStart + f.end,
		RawMessage:        raw,
		Message:           msg,
		NormalizedMessage: nh[0],
		NormalizerVersion: NormalizerVersion,
		ConfidenceScore:   confidence(f.m, c.Job.Outcome),
		Rule:              f.m.rule,
		ChunkIndex:        c.ChunkIndex,
		LineInChunk:       f.idx + 1,
		Timestamp:         cl.meta.timestamp(),
		PreContext:        shared[first:at:at],
		PostContext:       shared[at+1 : end+1 : end+1],
		ContextNote:       contextNote(c, lineNo, at-first, end-at),
	}
}

// contextNote explains a context shorter than the usual 15 lines before and
// 30 after.
func contextNote(c *contracts.LogChunk, lineNo, pre, post int) string {
	var notes []string
	if pre < contracts.ContextBefore {
		switch {
		case lineNo-pre <= 1:
			notes = append(notes, "start of log")
		case c.OverlapBefore < contracts.ChunkOverlap:
			notes = append(notes, "context before cut: long lines shortened the chunk overlap")
		default:
			notes = append(notes, "context before cut at the chunk start")
		}
	}
	if post < contracts.ContextAfter {
		if c.Last || c.OwnedStart == 0 && c.OwnedEnd == 0 {
			notes = append(notes, "end of log")
		} else {
			notes = append(notes, "context after cut at the chunk end")
		}
	}
	return strings.Join(notes, "; ")
}

// cap shortens s to the configured line length at character boundaries,
// keeping the part that holds its first keyword (see keptSpan); marks say
// where text was cut.
func (e *Engine) cap(s string) string {
	from, to := keptSpan(e, s)
	if from == 0 && to == len(s) {
		return s
	}
	out := s[from:to]
	if from > 0 {
		out = leadMark + out
	}
	if to < len(s) {
		out += truncMark
	}
	return out
}

const (
	truncMark = " …[truncated]"
	leadMark  = "[truncated]… "
)

// capInPlace is cap for the line in buf[from:]: it returns buf with the
// line shortened and marked.
func (e *Engine) capInPlace(buf []byte, from int) []byte {
	line := buf[from:]
	a, z := keptSpan(e, line)
	if a == 0 && z == len(line) {
		return buf
	}
	if a > 0 {
		kept := string(line[a:z])
		buf = append(append(buf[:from], leadMark...), kept...)
	} else {
		buf = buf[:from+z]
	}
	if z < len(line) {
		buf = append(buf, truncMark...)
	}
	return buf
}

// keptSpan returns the part of a line to keep under the configured line
// length: its head, unless the line's first keyword lies beyond the head's
// first three quarters; then a window that starts a quarter of the length
// before the keyword, so that a card's message shows what made it one.
// Both ends fall on character boundaries.
func keptSpan[T string | []byte](e *Engine, s T) (from, to int) {
	limit := e.maxLineBytes
	if len(s) <= limit {
		return 0, len(s)
	}
	if at := keywordIndex(e.pre, s); at >= limit*3/4 {
		from = at - limit/4
		for from < len(s) && s[from]&0xc0 == 0x80 {
			from++
		}
	}
	to = from + limit
	if to >= len(s) {
		return from, len(s)
	}
	for to > from && s[to]&0xc0 == 0x80 {
		to--
	}
	return from, to
}

// outcomeWeight is the prior the job's outcome puts on its findings: lines of
// a job that passed rarely explain a failed build, but stay visible.
func outcomeWeight(o contracts.Outcome) float64 {
	switch o {
	case contracts.OutcomeFailed, contracts.OutcomeTimedOut, contracts.OutcomeBroken:
		return 1
	case contracts.OutcomeCanceled:
		return 0.85
	case contracts.OutcomeSoftFailed:
		return 0.7
	case contracts.OutcomePassed:
		return 0.35
	default:
		return 0.95
	}
}

func confidence(m match, o contracts.Outcome) float64 {
	v := m.score * outcomeWeight(o)
	if v > 1 {
		v = 1
	}
	if v < 0 {
		v = 0
	}
	return float64(int(v*1000+0.5)) / 1000
}
