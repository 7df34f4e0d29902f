// Package ingest turns job logs into LogChunks: a pure streaming chunker and
// the ingest stage that reads sources and publishes chunks and progress.
package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/destill-ci/destill/contracts"
)

// ChunkerConfig sizes chunks. The zero value gives the defaults.
type ChunkerConfig struct {
	// MaxBytes bounds a chunk's content measured as its JSON-encoded size
	// (escaping can grow log bytes up to six times); default 500,000.
	MaxBytes int
	// Overlap is how many lines a chunk repeats from the end of the previous
	// one; default contracts.ChunkOverlap (50). It shrinks where long lines
	// would not fit.
	Overlap int
	// MaxLineBytes bounds a line in the chunk: a longer line keeps its first
	// and last halves around a marker saying how much was cut; default 64 KiB.
	MaxLineBytes int
}

func (c ChunkerConfig) withDefaults() ChunkerConfig {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 500_000
	}
	if c.Overlap <= 0 {
		c.Overlap = contracts.ChunkOverlap
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = 64 << 10
	}
	return c
}

// ChunkStats describes a chunked log.
type ChunkStats struct {
	Bytes          int64 // bytes read from the log
	Lines          int   // LF-separated lines
	Chunks         int
	TruncatedLines int
}

// TruncationMarker starts the text that replaces the middle of a line cut
// at MaxLineBytes.
const TruncationMarker = " …[destill: line truncated: "

// line is one line held in the current chunk.
type line struct {
	off, end  int // content in the arena
	enc       int // JSON-encoded size, plus the joining "\n"
	truncated bool
}

// chunker holds the lines of the chunk being filled.
type chunker struct {
	cfg   ChunkerConfig
	tmpl  contracts.LogChunk
	emit  func(*contracts.LogChunk) error
	arena []byte
	lines []line
	size  int // encoded size of lines

	start      int // absolute number of lines[0]
	ownedStart int
	overlap    int // lines carried from the previous chunk
	index      int
	stats      ChunkStats
}

// Chunk reads a log from r and calls emit for each chunk, in order, as it
// fills. Each chunk is a copy of tmpl with its position, ownership and
// content set. Memory stays bounded by about twice MaxBytes whatever the
// log's size or line lengths. emit's error stops chunking and is returned.
func Chunk(r io.Reader, tmpl contracts.LogChunk, cfg ChunkerConfig, emit func(*contracts.LogChunk) error) (ChunkStats, error) {
	c := &chunker{cfg: cfg.withDefaults(), tmpl: tmpl, emit: emit, start: 1, ownedStart: 1}
	br := bufio.NewReaderSize(r, 64<<10)
	ll := longLine{half: c.cfg.MaxLineBytes / 2}
	var readErr error
	for {
		frag, err := br.ReadSlice('\n')
		c.stats.Bytes += int64(len(frag))
		if err == bufio.ErrBufferFull {
			ll.write(frag)
			continue
		}
		if err != nil && err != io.EOF {
			// Keep what was read: the lines so far are analysed and the
			// caller reports the error with them.
			readErr = fmt.Errorf("read log: %w", err)
			err = io.EOF
		}
		atEOF := err == io.EOF
		if atEOF && len(frag) == 0 && ll.total == 0 {
			break // the log ended with LF (or is empty): no further line
		}
		body := bytes.TrimSuffix(frag, []byte{'\n'})
		total := ll.total + len(body)
		if ll.total > 0 || total > c.cfg.MaxLineBytes {
			ll.write(body)
			body = ll.text(c.cfg.MaxLineBytes)
		}
		if err := c.add(body, total); err != nil {
			return c.stats, err
		}
		ll.reset()
		if atEOF {
			break
		}
	}
	if len(c.lines) > c.overlap || c.index == 0 && len(c.lines) > 0 {
		if err := c.close(true); err != nil {
			return c.stats, err
		}
	} else if c.index > 0 {
		// Only overlap lines remain: they were owned by the previous chunk,
		// which could not know it was the last. This cannot happen because a
		// chunk is closed only when a new line is pending.
		return c.stats, errors.New("chunker: internal error: trailing overlap")
	}
	return c.stats, readErr
}

// longLine holds a line longer than the reader's buffer: its head says
// what the line is, its tail holds how it ended (the last \r redraw of a
// progress bar, the error that followed). The middle is dropped as it
// streams by, so a line of any length costs at most MaxLineBytes.
type longLine struct {
	head, tail []byte
	half       int
	total      int
}

func (l *longLine) write(p []byte) {
	l.total += len(p)
	if room := l.half - len(l.head); room > 0 {
		n := min(room, len(p))
		l.head = append(l.head, p[:n]...)
		p = p[n:]
	}
	if len(p) == 0 {
		return
	}
	l.tail = append(l.tail, p...)
	if len(l.tail) > 2*l.half {
		l.tail = l.tail[:copy(l.tail, l.tail[len(l.tail)-l.half:])]
	}
}

// text is the line as the chunk keeps it: whole when it fits in max bytes,
// else its head and tail around a marker saying how much was cut.
func (l *longLine) text(max int) []byte {
	out := make([]byte, 0, len(l.head)+len(l.tail)+96)
	out = append(out, l.head...)
	if l.total <= max {
		return append(out, l.tail...)
	}
	tail := l.tail
	if len(tail) > max-l.half {
		tail = tail[len(tail)-(max-l.half):]
	}
	// Cut at rune boundaries so the kept text stays readable.
	for i := 0; i < utf8.UTFMax-1 && len(out) > 0; i++ {
		if r, n := utf8.DecodeLastRune(out); r != utf8.RuneError || n > 1 {
			break
		}
		out = out[:len(out)-1]
	}
	for i := 0; i < utf8.UTFMax-1 && len(tail) > 0 && !utf8.RuneStart(tail[0]); i++ {
		tail = tail[1:]
	}
	out = fmt.Appendf(out, "%s%d bytes, kept the first %d and the last %d]… ", TruncationMarker, l.total, len(out), len(tail))
	return append(out, tail...)
}

func (l *longLine) reset() {
	l.head, l.tail, l.total = l.head[:0], l.tail[:0], 0
	if cap(l.head) > 2*l.half+4096 || cap(l.tail) > 4*l.half+4096 {
		l.head, l.tail = nil, nil
	}
}

// add appends one line (body, whose original length was total bytes) to the
// current chunk, closing the chunk first if the line would not fit.
func (c *chunker) add(body []byte, total int) error {
	c.stats.Lines++
	truncated := total > c.cfg.MaxLineBytes
	text := body
	if !utf8.Valid(text) {
		text = []byte(strings.ToValidUTF8(string(text), "\uFFFD"))
	}
	if truncated {
		c.stats.TruncatedLines++
	}
	enc := EncodedLen(text) + 2 // the joining "\n" encodes as two bytes
	if len(c.lines) > c.overlap && c.size+enc > c.cfg.MaxBytes {
		if err := c.close(false); err != nil {
			return err
		}
	}
	off := len(c.arena)
	c.arena = append(c.arena, text...)
	c.lines = append(c.lines, line{off: off, end: len(c.arena), enc: enc, truncated: truncated})
	c.arena = append(c.arena, '\n')
	c.size += enc
	return nil
}

// close emits the current chunk and keeps its tail as the next chunk's
// overlap.
func (c *chunker) close(last bool) error {
	n := len(c.lines)
	end := c.start + n - 1
	ch := c.tmpl
	ch.Version = contracts.Version
	ch.ChunkIndex = c.index
	ch.LineStart = c.start
	ch.LineEnd = end
	ch.OverlapBefore = c.overlap
	ch.OwnedStart = c.ownedStart
	ch.Content = string(c.arena[c.lines[0].off:c.lines[n-1].end])
	ch.Last = last
	for _, l := range c.lines[c.overlap:] {
		if l.truncated {
			ch.TruncatedLines++
		}
	}

	// The successor repeats the last o lines. It must leave at least one
	// line of this chunk behind, and the repeated lines must leave room for
	// new ones.
	o := min(c.cfg.Overlap, n-1)
	for o > 0 && c.tailSize(o) > c.cfg.MaxBytes/2 {
		o--
	}
	next := end - o + 1
	// Split ownership so that both sides keep context in the ratio
	// before:after; with a full overlap each owned line has all of its
	// context inside its owner.
	b := next + o*contracts.ContextBefore/(contracts.ContextBefore+contracts.ContextAfter)
	if o >= contracts.ContextBefore+contracts.ContextAfter {
		b = next + contracts.ContextBefore
	}
	b = max(b, c.ownedStart)
	if last {
		ch.OwnedEnd = end
		ch.TotalChunks = c.index + 1
	} else {
		ch.OwnedEnd = b - 1
	}
	c.stats.Chunks++
	if err := c.emit(&ch); err != nil {
		return err
	}
	if last {
		return nil
	}

	// Keep the last o lines at the front of the arena.
	keep := c.lines[n-o:]
	base := 0
	if o > 0 {
		base = keep[0].off
	}
	if o == 0 {
		c.arena = c.arena[:0]
	} else {
		c.arena = c.arena[:copy(c.arena, c.arena[base:])]
	}
	c.lines = c.lines[:copy(c.lines, keep)]
	c.size = 0
	for i := range c.lines {
		c.lines[i].off -= base
		c.lines[i].end -= base
		c.size += c.lines[i].enc
	}
	c.start = next
	c.ownedStart = b
	c.overlap = o
	c.index++
	return nil
}

func (c *chunker) tailSize(o int) int {
	s := 0
	for _, l := range c.lines[len(c.lines)-o:] {
		s += l.enc
	}
	return s
}

// jsonExtra is, per byte, how many bytes encoding/json adds when escaping it.
var jsonExtra = func() (t [256]uint8) {
	for b := 0; b < 0x20; b++ {
		t[b] = 5 // \u00XX
	}
	for _, b := range []byte{'"', '\\', '\n', '\r', '\t', '\b', '\f'} {
		t[b] = 1
	}
	for _, b := range []byte{'<', '>', '&'} {
		t[b] = 5
	}
	return t
}()

// EncodedLen is the length of s inside a JSON string as encoding/json writes
// it (HTML-safe escaping), for valid UTF-8 input.
func EncodedLen(s []byte) int {
	n := len(s)
	for i, b := range s {
		n += int(jsonExtra[b])
		// U+2028 and U+2029 (E2 80 A8/A9) are written as \u2028, \u2029.
		if b == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9) {
			n += 3
		}
	}
	return n
}
