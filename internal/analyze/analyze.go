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
	"sort"
	"strings"
	"sync"

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
	starts []int // byte offset of each line of the chunk
	buf    []byte
}

// chunkLines gives access to a chunk's lines, cleaned on demand.
type chunkLines struct {
	content string
	starts  []int
	cleaned map[int]cleanedLine
	buf     []byte
}

type cleanedLine struct {
	text string
	meta lineMeta
}

func (l *chunkLines) n() int { return len(l.starts) }

func (l *chunkLines) raw(i int) string {
	end := len(l.content)
	if i+1 < len(l.starts) {
		end = l.starts[i+1] - 1
	}
	return l.content[l.starts[i]:end]
}

func (l *chunkLines) clean(i int) cleanedLine {
	if c, ok := l.cleaned[i]; ok {
		return c
	}
	var meta lineMeta
	l.buf, meta = cleanLine(l.buf[:0], []byte(l.raw(i)))
	c := cleanedLine{text: string(l.buf), meta: meta}
	l.cleaned[i] = c
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
func (e *Engine) Analyze(c *contracts.LogChunk) []contracts.TriageCard {
	if c == nil || c.Content == "" && c.LineEnd < c.LineStart {
		return nil
	}
	s := e.scratch.Get().(*scratch)
	defer e.scratch.Put(s)
	s.starts = lineStarts(s.starts[:0], c.Content)
	lines := &chunkLines{content: c.Content, starts: s.starts, cleaned: map[int]cleanedLine{}, buf: s.buf}
	defer func() { s.buf = lines.buf }()

	first := max(c.OwnedStart, c.LineStart) - c.LineStart
	last := min(c.OwnedEnd, c.LineEnd) - c.LineStart
	if c.OwnedStart == 0 && c.OwnedEnd == 0 {
		first, last = 0, lines.n()-1
	}
	last = min(last, lines.n()-1)
	var found []finding
	for i := first; i <= last; i++ {
		raw := lines.raw(i)
		if !e.pre.match([]byte(raw)) {
			continue
		}
		cl := lines.clean(i)
		text := cl.text
		if len(text) > maxDetectBytes {
			// Match a window around the first keyword of a very long line.
			at := max(0, e.pre.index([]byte(text))-maxDetectBytes/4)
			text = text[at:min(len(text), at+maxDetectBytes)]
		}
		m, ok := detect(text, cl.meta.marker)
		if !ok || m.class == classNoise || m.score < e.minConfidence {
			continue
		}
		f := finding{idx: i, end: i, keyIdx: i, m: m}
		f.end, f.keyIdx = extendBlock(lines, i, m.block)
		found = append(found, f)
		if f.end > i && f.end <= last {
			// Lines inside the block belong to this finding.
			i = f.end
		}
	}
	found = e.addLastOutput(lines, found, first)
	if len(found) == 0 {
		return nil
	}
	cards := make([]contracts.TriageCard, 0, len(found))
	for _, f := range found {
		cards = append(cards, e.card(c, lines, f))
	}
	return cards
}

// addLastOutput adds, before each CI report of a failed command that no
// specific error precedes closely, a finding on the command's last output
// line: tools that fail without an error keyword (a linter listing
// offences, a diff check) print their reason there.
func (e *Engine) addLastOutput(lines *chunkLines, found []finding, first int) []finding {
	const lookBack = 40
	var out []finding
	at := 0
	for k, f := range found {
		if f.m.rule != "ci-echo" {
			continue
		}
		covered := false
		for j := k - 1; j >= 0 && found[j].idx >= f.idx-lookBack; j-- {
			if found[j].m.class == classCause || found[j].m.class == classGeneric && found[j].idx >= f.idx-3 {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		taken := map[int]bool{}
		for j := k - 1; j >= 0 && found[j].idx >= f.idx-lookBack; j-- {
			for l := found[j].idx; l <= found[j].end; l++ {
				taken[l] = true
			}
		}
		for j := f.idx - 1; j >= first && j >= f.idx-lookBack; j-- {
			if taken[j] {
				continue
			}
			t := strings.TrimSpace(lines.clean(j).text)
			if t == "" || strings.HasPrefix(t, "travis_") || strings.HasPrefix(t, "$ ") {
				continue
			}
			out = append(out, found[at:k]...)
			out = append(out, finding{idx: j, end: j, keyIdx: j, m: match{rule: "last-output", sev: sevError, score: 0.5, class: classGeneric}})
			at = k
			break
		}
	}
	if at == 0 && len(out) == 0 {
		return found
	}
	out = append(out, found[at:]...)
	sort.Slice(out, func(a, b int) bool { return out[a].idx < out[b].idx })
	return out
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

func (e *Engine) card(c *contracts.LogChunk, lines *chunkLines, f finding) contracts.TriageCard {
	cl := lines.clean(f.idx)
	key := lines.clean(f.keyIdx)
	msg := e.cap(key.text)
	norm := Normalize(msg)
	lineNo := c.LineStart + f.idx
	card := contracts.TriageCard{
		Version:           contracts.Version,
		ID:                contracts.FindingID(c.RequestID, c.Job.ID, lineNo),
		RequestID:         c.RequestID,
		MessageHash:       Hash(norm),
		Source:            c.Source,
		BuildID:           c.BuildID,
		BuildURL:          c.BuildURL,
		Job:               c.Job,
		Severity:          f.m.sev,
		LineNumber:        lineNo,
		EndLine:           c.LineStart + f.end,
		RawMessage:        e.cap(string(sanitize(nil, []byte(lines.raw(f.idx))))),
		Message:           msg,
		NormalizedMessage: norm,
		NormalizerVersion: NormalizerVersion,
		ConfidenceScore:   confidence(f.m, c.Job.Outcome),
		Rule:              f.m.rule,
		ChunkIndex:        c.ChunkIndex,
		LineInChunk:       f.idx + 1,
		Timestamp:         cl.meta.timestamp(),
	}
	lo := max(0, f.idx-contracts.ContextBefore)
	hi := min(lines.n()-1, f.idx+contracts.ContextAfter)
	card.PreContext = make([]string, 0, f.idx-lo)
	for i := lo; i < f.idx; i++ {
		card.PreContext = append(card.PreContext, e.cap(lines.clean(i).text))
	}
	card.PostContext = make([]string, 0, hi-f.idx)
	for i := f.idx + 1; i <= hi; i++ {
		card.PostContext = append(card.PostContext, e.cap(lines.clean(i).text))
	}
	card.ContextNote = contextNote(c, lineNo, len(card.PreContext), len(card.PostContext))
	return card
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

// cap shortens s to the configured line length at a character boundary.
func (e *Engine) cap(s string) string {
	if len(s) <= e.maxLineBytes {
		return s
	}
	cut := e.maxLineBytes
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut] + " …[truncated]"
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
