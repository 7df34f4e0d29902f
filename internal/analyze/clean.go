package analyze

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/destill-ci/destill/internal/sanitize"
)

// marker is a CI annotation found at the start of a line and removed by the
// cleaner.
type marker uint8

const (
	markerNone marker = iota
	markerGroup
	markerEndGroup
	markerError
	markerWarning
	markerNotice
	markerCommand
	markerDebug
	markerSection
)

// lineMeta is what the cleaner learned about a line besides its text.
type lineMeta struct {
	// tsMillis is the line's own time in Unix milliseconds, when it carries
	// one (a Buildkite marker or a GitHub Actions prefix); zero otherwise.
	tsMillis int64
	marker   marker
}

func (m lineMeta) timestamp() *time.Time {
	if m.tsMillis == 0 {
		return nil
	}
	t := time.UnixMilli(m.tsMillis).UTC()
	return &t
}

// Clean returns one raw log line as the analyzer reads it before matching and
// normalizing: escape sequences, progress redraws, CI timestamps and markers
// removed (see cleanLine).
func Clean(line string) string {
	b, _ := cleanLine(nil, line)
	return string(b)
}

// CleanRaw is the cleaned text of a card's RawMessage: RawMessage keeps the
// line's control characters drawn as control pictures (ESC as ␛, CR as ␍),
// so they are turned back into the characters and the line cleaned as
// Clean does, as the card's context lines were.
func CleanRaw(raw string) string {
	return Clean(strings.Map(func(r rune) rune {
		switch {
		case r >= 0x2400 && r <= 0x241f:
			return r - 0x2400
		case r == 0x2421:
			return 0x7f
		}
		return r
	}, raw))
}

// plainLine reports whether cleanLine leaves line as it is but for
// trailing white space: it is printable ASCII and tabs, and starts with
// neither a timestamp nor a marker.
func plainLine(line string) bool {
	if line == "" {
		return true
	}
	if c := line[0]; c == '#' || c == ':' || c >= '0' && c <= '9' && len(line) >= 21 || c == '[' && bracketTime(line) > 0 {
		return false
	}
	tabs := 0
	for i := 0; ; {
		i = printableEnd(line, i)
		if i == len(line) {
			return true
		}
		if line[i] != '\t' {
			return false
		}
		// A line of `gh run view --log` starts with the job and the
		// step, each ended by a tab, then a timestamp.
		if tabs++; tabs == 2 && looksGithubTime(line[i+1:]) {
			return false
		}
		i++
	}
}

// looksGithubTime reports whether s starts with the shape of a GitHub
// Actions timestamp, "2024-01-02T03:…".
func looksGithubTime(s string) bool {
	return len(s) >= 21 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[0] >= '0' && s[0] <= '9'
}

// linePrefix recognises what a CI or a tool writes before each line of
// output and returns the line's time in Unix milliseconds, when the prefix
// gives it in UTC, and the prefix's length including its space, or n == 0:
//
//   - a GitHub Actions timestamp, "2024-01-02T03:04:05.1234567Z ";
//   - the job and step of `gh run view --log` before one, each ended by a
//     tab;
//   - a Docker BuildKit step and elapsed time, "#12 3.456 ";
//   - a time or date and time in brackets, "[03:04:05] ",
//     "[2024-01-02 03:04:05.123] ".
func linePrefix(b string) (ms int64, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch c := b[0]; {
	case c >= '0' && c <= '9':
		if ms, n := githubTimestamp(b); n > 0 {
			return ms, n
		}
	case c == '#':
		if n := buildkitPrefix(b); n > 0 {
			return 0, n
		}
	case c == '[':
		if n := bracketTime(b); n > 0 {
			return 0, n
		}
	}
	// gh run view --log: job TAB step TAB timestamp (a job's name may
	// start like any of the above).
	tab1 := strings.IndexByte(b[:min(len(b), 256)], '\t')
	if tab1 < 0 {
		return 0, 0
	}
	tab2 := strings.IndexByte(b[tab1+1:min(len(b), tab1+1+256)], '\t')
	if tab2 < 0 {
		return 0, 0
	}
	at := tab1 + 1 + tab2 + 1
	if ms, n := githubTimestamp(b[at:]); n > 0 {
		return ms, at + n
	}
	return 0, 0
}

// buildkitPrefix returns the length of a Docker BuildKit output prefix,
// "#<step> <seconds>.<fraction> ", or 0.
func buildkitPrefix(b string) int {
	step := digits(b, 1, len(b))
	i := 1 + step
	if step == 0 || i >= len(b) || b[i] != ' ' {
		return 0
	}
	i++
	secs := digits(b, i, len(b))
	i += secs
	if secs == 0 || i >= len(b) || b[i] != '.' {
		return 0
	}
	i++
	frac := digits(b, i, len(b))
	i += frac
	switch {
	case frac == 0:
		return 0
	case i == len(b):
		return i // the step printed an empty line
	case b[i] != ' ':
		return 0
	}
	return i + 1
}

// bracketTime returns the length of a bracketed time prefix with its
// space, "[03:04:05] " or "[2024-01-02 03:04:05.123] " (any time timeLen
// reads), or 0.
func bracketTime(b string) int {
	if len(b) < 2 || b[0] != '[' {
		return 0
	}
	n := timeLen(b[1:])
	i := 1 + n
	if n == 0 || i >= len(b) || b[i] != ']' {
		return 0
	}
	i++
	if i < len(b) {
		if b[i] != ' ' {
			return 0
		}
		i++
	}
	return i
}

// printableEnd returns the end of the run of printable ASCII bytes (0x20 to
// 0x7e) that starts at s[i], looking at eight bytes at a time.
func printableEnd[T string | []byte](s T, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte below 0x20, or at or above 0x7f.
		if (w-0x20*ones)&^w&highs != 0 || (w+ones|w)&highs != 0 {
			break
		}
	}
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	return i
}

// cleanLine appends to dst the text of one raw log line as a terminal would
// show it, and returns it with what it learned about the line:
//
//   - a trailing CR (CRLF line ends) is dropped;
//   - a leading prefix that a CI or tool writes on every line (see
//     linePrefix) is removed, and its time kept when it gives one;
//   - ANSI escape sequences (CSI, OSC, APC, DCS, PM, SOS and two-byte ones)
//     are removed; a Buildkite `ESC _bk;t=<ms> BEL` marker gives the time;
//   - of `\r`-separated progress redraws only the last non-blank segment is
//     kept;
//   - other control characters except tab are removed, invalid UTF-8 becomes
//     U+FFFD;
//   - GitHub Actions `##[group]`, `##[error]`… markers and `::error::`
//     workflow commands are removed and reported in meta.marker;
//   - trailing white space is trimmed.
//
// The result is valid UTF-8 free of control characters other than tab.
func cleanLine(dst []byte, line string) ([]byte, lineMeta) {
	var meta lineMeta
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	// Prefixes nest: a BuildKit step in a GitHub Actions log, a tool's
	// time in a gh run view line.
	for range 3 {
		ms, n := linePrefix(line)
		if n == 0 {
			break
		}
		if meta.tsMillis == 0 {
			meta.tsMillis = ms
		}
		line = line[n:]
	}
	start := len(dst)
	segStart := start // start of the current \r segment in dst
	lastGood := -1    // start of the last non-blank segment
	lastGoodEnd := -1
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == 0x1b:
			n, ms := escapeLen(line[i:])
			if ms != 0 && meta.tsMillis == 0 {
				meta.tsMillis = ms
			}
			i += n
		case c == '\r':
			if !blank(dst[segStart:]) {
				lastGood, lastGoodEnd = segStart, len(dst)
			}
			i++
			segStart = len(dst)
		case c == '\t':
			dst = append(dst, c)
			i++
		case c < 0x20 || c == 0x7f:
			i++
		case c < utf8.RuneSelf:
			// Copy the run of printable ASCII at once.
			j := printableEnd(line, i+1)
			dst = append(dst, line[i:j]...)
			i = j
		default:
			r, n := utf8.DecodeRuneInString(line[i:])
			switch {
			case r == utf8.RuneError && n == 1:
				dst = utf8.AppendRune(dst, utf8.RuneError)
			case r >= 0x80 && r <= 0x9f || sanitize.IsBidiControl(r):
				// C1 controls, including the 8-bit CSI, and the invisible
				// characters that reorder text: dropped.
			default:
				dst = append(dst, line[i:i+n]...)
			}
			i += n
		}
	}
	if segStart > start && blank(dst[segStart:]) && lastGood >= 0 {
		// The line ends with a redraw that left nothing visible: keep the
		// last segment that showed something.
		n := copy(dst[start:], dst[lastGood:lastGoodEnd])
		dst = dst[:start+n]
	} else if segStart > start {
		n := copy(dst[start:], dst[segStart:])
		dst = dst[:start+n]
	}
	dst, meta.marker = stripMarker(dst, start)
	for len(dst) > start && (dst[len(dst)-1] == ' ' || dst[len(dst)-1] == '\t') {
		dst = dst[:len(dst)-1]
	}
	return dst, meta
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// escapeLen returns the length of the escape sequence at the start of b
// (b[0] is ESC) and, for a well-formed Buildkite timestamp marker, its time in
// Unix milliseconds. An unterminated sequence runs to the end of b.
func escapeLen(b string) (n int, ms int64) {
	if len(b) < 2 {
		return len(b), 0
	}
	switch b[1] {
	case '[': // CSI: parameters and intermediates, then one final byte
		for i := 2; i < len(b); i++ {
			c := b[i]
			if c >= 0x40 && c <= 0x7e {
				return i + 1, 0
			}
			if c < 0x20 || c > 0x3f {
				// Malformed: end the sequence before the unexpected byte.
				return i, 0
			}
		}
		return len(b), 0
	case ']', '_', 'P', '^', 'X': // string sequences, ended by BEL or ST
		end := len(b)
		next := len(b)
		for i := 2; i < len(b); i++ {
			if b[i] == 0x07 {
				end, next = i, i+1
				break
			}
			if b[i] == 0x1b {
				end, next = i, i+1
				if i+1 < len(b) && b[i+1] == '\\' {
					next = i + 2
				}
				break
			}
		}
		if b[1] == '_' {
			ms = buildkiteTime(b[2:end])
		}
		return next, ms
	default: // intermediates then one final byte, e.g. ESC ( B
		i := 1
		for i < len(b) && b[i] >= 0x20 && b[i] <= 0x2f {
			i++
		}
		if i < len(b) && b[i] >= 0x30 && b[i] <= 0x7e {
			i++
		}
		return i, 0
	}
}

// buildkiteTime parses the body of a Buildkite APC marker, "bk;t=<ms>" with
// optional further ";key=value" fields. It returns 0 when malformed.
func buildkiteTime(body string) int64 {
	const prefix = "bk;"
	if len(body) < len(prefix) || string(body[:len(prefix)]) != prefix {
		return 0
	}
	body = body[len(prefix):]
	for len(body) > 0 {
		field := body
		if i := strings.IndexByte(body, ';'); i >= 0 {
			field, body = body[:i], body[i+1:]
		} else {
			body = ""
		}
		if len(field) > 2 && field[0] == 't' && field[1] == '=' {
			var v int64
			digits := field[2:]
			if len(digits) > 15 {
				return 0
			}
			for _, c := range digits {
				if c < '0' || c > '9' {
					return 0
				}
				v = v*10 + int64(c-'0')
			}
			return v
		}
	}
	return 0
}

// githubTimestamp recognises a GitHub Actions line prefix such as
// "2024-01-02T03:04:05.1234567Z " and returns its time in Unix milliseconds
// and its length including the space, or n == 0.
func githubTimestamp(b string) (ms int64, n int) {
	// 2024-01-02T03:04:05Z is the shortest form.
	if len(b) < 21 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, 0
	}
	num := func(s string) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(b[0:4])
	mon, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hh, ok4 := num(b[11:13])
	mm, ok5 := num(b[14:16])
	ss, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return 0, 0
	}
	i := 19
	nanos := 0
	if b[i] == '.' {
		i++
		digits := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if digits < 9 {
				nanos = nanos*10 + int(b[i]-'0')
			}
			digits++
			i++
		}
		if digits == 0 {
			return 0, 0
		}
		for ; digits < 9; digits++ {
			nanos *= 10
		}
	}
	if i+1 >= len(b)+1 || i >= len(b) || b[i] != 'Z' {
		return 0, 0
	}
	i++
	if i < len(b) {
		if b[i] != ' ' {
			return 0, 0
		}
		i++
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nanos, time.UTC)
	return t.UnixMilli(), i
}

var markers = [...]struct {
	text string
	kind marker
}{
	{"##[group]", markerGroup},
	{"##[endgroup]", markerEndGroup},
	{"##[error]", markerError},
	{"##[warning]", markerWarning},
	{"##[notice]", markerNotice},
	{"##[command]", markerCommand},
	{"##[debug]", markerDebug},
	{"##[section]", markerSection},
	{"::group::", markerGroup},
	{"::endgroup::", markerEndGroup},
}

// stripMarker removes a GitHub Actions marker or workflow command at
// dst[start:] and reports it.
func stripMarker(dst []byte, start int) ([]byte, marker) {
	s := dst[start:]
	if len(s) < 2 || (s[0] != '#' && s[0] != ':') {
		return dst, markerNone
	}
	for _, m := range markers {
		if len(s) >= len(m.text) && string(s[:len(m.text)]) == m.text {
			n := copy(s, s[len(m.text):])
			return dst[:start+n], m.kind
		}
	}
	// ::error file=x,line=1::message and ::warning::message
	for _, m := range [...]struct {
		text string
		kind marker
	}{{"::error", markerError}, {"::warning", markerWarning}, {"::notice", markerNotice}} {
		if len(s) > len(m.text) && string(s[:len(m.text)]) == m.text && (s[len(m.text)] == ' ' || s[len(m.text)] == ':') {
			rest := s[len(m.text):]
			for j := 0; j+1 < len(rest); j++ {
				if rest[j] == ':' && rest[j+1] == ':' {
					n := copy(s, rest[j+2:])
					return dst[:start+n], m.kind
				}
			}
		}
	}
	return dst, markerNone
}

// showControls appends s to dst made harmless for a terminal: control characters
// other than tab are shown as Unicode control pictures (ESC as ␛), C1
// controls, bidirectional controls and invalid UTF-8 as U+FFFD. Nothing is dropped, so the raw line
// stays recognisable.
func showControls(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\t':
			dst = append(dst, c)
			i++
		case c < 0x20:
			dst = utf8.AppendRune(dst, rune(0x2400+int(c)))
			i++
		case c == 0x7f:
			dst = utf8.AppendRune(dst, 0x2421)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if (r == utf8.RuneError && n == 1) || (r >= 0x80 && r <= 0x9f) || sanitize.IsBidiControl(r) {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}
