// Package sanitize makes text from CI logs safe to draw on a terminal.
//
// A log is untrusted input: a line can carry escape sequences that retitle
// the terminal, write the clipboard (OSC 52), plant hyperlinks, clear the
// screen or move the cursor. String removes every such sequence and every
// control character, so that the only sequences reaching the screen are the
// ones destill renders itself.
package sanitize

import (
	"strings"
	"unicode/utf8"
)

// TabWidth is the distance between tab stops used by String.
const TabWidth = 8

const (
	esc = 0x1b
	bel = 0x07
)

// C1 controls as code points (U+0080..U+009F); a terminal in UTF-8 mode may
// treat them like their ESC-prefixed equivalents.
const (
	c1DCS = 0x90
	c1SOS = 0x98
	c1CSI = 0x9b
	c1ST  = 0x9c
	c1OSC = 0x9d
	c1PM  = 0x9e
	c1APC = 0x9f
)

// String returns s as one line of plain text that cannot act on a terminal:
//
//   - escape sequences are dropped whole: CSI (cursor movement, erasing,
//     colours), OSC (titles, clipboard, hyperlinks), DCS, SOS, PM, APC, the
//     screen-style title sequence ESC k, and two-byte ESC sequences; an
//     unterminated string sequence swallows the rest of s, as a terminal
//     would;
//   - their 8-bit C1 forms and every other C0 and C1 control character are
//     dropped, except that LF becomes a space and tab is expanded with spaces
//     to the next multiple of TabWidth columns;
//   - bidirectional overrides and isolates, which reorder what is displayed,
//     are dropped;
//   - invalid UTF-8 becomes U+FFFD.
//
// Tab stops are counted in runes, which matches the display for the common
// case of narrow characters.
func String(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	col := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
			col++
			i += size
			continue
		case r == esc:
			i = skipEscape(s, i+1)
			continue
		case r == c1CSI:
			i = skipCSI(s, i+size)
			continue
		case r == c1OSC || r == c1DCS || r == c1SOS || r == c1PM || r == c1APC:
			i = skipString(s, i+size)
			continue
		case r == '\t':
			n := TabWidth - col%TabWidth
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case r == '\n':
			b.WriteByte(' ')
			col++
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			// other controls: dropped
		case IsBidiControl(r):
			// dropped
		default:
			b.WriteRune(r)
			col++
		}
		i += size
	}
	return b.String()
}

// Text is String for text of several lines, such as an error message: each
// line is sanitized on its own and the line breaks are kept, so an
// unterminated sequence swallows the rest of its line only.
func Text(s string) string {
	if isPlain(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = String(l)
	}
	return strings.Join(lines, "\n")
}

// Lines sanitizes every element of lines into a new slice.
func Lines(lines []string) []string {
	if lines == nil {
		return nil
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = String(l)
	}
	return out
}

// isPlain reports whether s is printable ASCII only, the common case, which
// String returns unchanged.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// IsBidiControl reports whether r is a bidirectional override, embedding,
// isolate or mark: invisible characters that reorder what a terminal shows.
func IsBidiControl(r rune) bool {
	return (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0x200e || r == 0x200f || r == 0x061c
}

// skipEscape returns the index just past the escape sequence whose ESC
// precedes s[i].
func skipEscape(s string, i int) int {
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[':
		return skipCSI(s, i+1)
	case ']', 'P', 'X', '^', '_', 'k':
		return skipString(s, i+1)
	}
	// nF / Fp / Fe / Fs: intermediates 0x20..0x2F, then one final byte.
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipCSI returns the index just past a control sequence whose introducer
// ends before s[i]: parameter bytes, intermediate bytes, one final byte.
// A byte outside those ranges ends the sequence without being consumed.
func skipCSI(s string, i int) int {
	for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
		i++
	}
	for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
		i++
	}
	if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
		i++
	}
	return i
}

// skipString returns the index just past a control string (OSC, DCS, SOS,
// PM, APC) whose introducer ends before s[i]. It ends at BEL, at ST (ESC \
// or U+009C) or, when unterminated, at the end of s.
func skipString(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == bel:
			return i + 1
		case s[i] == esc:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			// An ESC that is not ST cancels the string; the terminal then
			// reads a new sequence from it.
			return i
		case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == c1ST:
			return i + 2
		}
		i++
	}
	return i
}
