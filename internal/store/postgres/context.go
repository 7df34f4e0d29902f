package postgres

import (
	"strings"
	"unicode/utf8"
)

// The findings table keeps a card's context lines in one text value: the
// lines before the finding, then those after it, each ending in a newline,
// with a line's own backslashes written \\ and its newlines \n (so newlines
// only end lines). pre_context_lines says how many come before.

// appendContext appends the context value of pre and post lines, cleaned.
func appendContext(buf []byte, pre, post []string) []byte {
	for _, l := range pre {
		buf = appendContextLine(buf, l)
	}
	for _, l := range post {
		buf = appendContextLine(buf, l)
	}
	return buf
}

func appendContextLine(buf []byte, l string) []byte {
	if strings.IndexByte(l, '\\') < 0 && strings.IndexByte(l, '\n') < 0 &&
		strings.IndexByte(l, 0) < 0 && utf8.ValidString(l) {
		buf = append(buf, l...)
		return append(buf, '\n')
	}
	l = Clean(l)
	for {
		i := strings.IndexAny(l, "\\\n")
		if i < 0 {
			break
		}
		buf = append(buf, l[:i]...)
		if l[i] == '\\' {
			buf = append(buf, '\\', '\\')
		} else {
			buf = append(buf, '\\', 'n')
		}
		l = l[i+1:]
	}
	buf = append(buf, l...)
	return append(buf, '\n')
}

// splitContext reverses appendContext: the first pre lines of s, and the
// rest. A stored value that does not end in a newline keeps its last line.
func splitContext(s string, pre int) (before, after []string) {
	n := strings.Count(s, "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		n++
	}
	lines := make([]string, 0, n)
	for s != "" {
		l, rest, _ := strings.Cut(s, "\n")
		lines = append(lines, unescapeContextLine(l))
		s = rest
	}
	pre = min(max(pre, 0), len(lines))
	return lines[:pre:pre], lines[pre:]
}

func unescapeContextLine(l string) string {
	i := strings.IndexByte(l, '\\')
	if i < 0 {
		return l
	}
	var b strings.Builder
	b.Grow(len(l))
	for ; i >= 0; i = strings.IndexByte(l, '\\') {
		b.WriteString(l[:i])
		switch {
		case i+1 < len(l) && l[i+1] == 'n':
			b.WriteByte('\n')
			l = l[i+2:]
		case i+1 < len(l) && l[i+1] == '\\':
			b.WriteByte('\\')
			l = l[i+2:]
		default: // not written by appendContext; keep it
			b.WriteByte('\\')
			l = l[i+1:]
		}
	}
	b.WriteString(l)
	return b.String()
}
