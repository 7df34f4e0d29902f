package sink

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/destill-ci/destill/contracts"
)

// decodeCardFast decodes a finding as encoding/json would into c, several
// times faster: it reads the message once, keeps unescaped strings as
// substrings of one copy of it, and uses no reflection. It handles exactly
// the cards the analyzer writes: the fields of contracts.TriageCard spelled
// as their tags, with values of their own JSON types or null, in valid UTF-8.
// Anything else (an unknown or differently cased key, a number where a string
// belongs, invalid JSON, invalid UTF-8) makes it return false, and the caller
// decodes with encoding/json, which then decides, so both paths always agree.
func decodeCardFast(value []byte, c *contracts.TriageCard) bool {
	if !utf8.Valid(value) {
		return false // encoding/json replaces each invalid byte; leave that to it
	}
	d := cardDecoder{s: string(value)}
	if !d.object(c) {
		return false
	}
	d.space()
	return d.i == len(d.s)
}

type cardDecoder struct {
	s string
	i int
}

func (d *cardDecoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips whitespace and then b, reporting whether b was there.
func (d *cardDecoder) consume(b byte) bool {
	d.space()
	if d.i < len(d.s) && d.s[d.i] == b {
		d.i++
		return true
	}
	return false
}

// null consumes a JSON null if one comes next.
func (d *cardDecoder) null() bool {
	d.space()
	if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null" {
		d.i += 4
		return true
	}
	return false
}

func (d *cardDecoder) object(c *contracts.TriageCard) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		key, ok := d.str()
		if !ok || !d.consume(':') || !d.field(c, key) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// field decodes the value of key into c. A null leaves the field as it is,
// as encoding/json does (except for slices and pointers, which it clears).
func (d *cardDecoder) field(c *contracts.TriageCard, key string) bool {
	var (
		sp *string
		ip *int
	)
	switch key {
	case "version":
		ip = &c.Version
	case "id":
		sp = &c.ID
	case "request_id":
		sp = &c.RequestID
	case "message_hash":
		sp = &c.MessageHash
	case "source":
		sp = &c.Source
	case "build_id":
		sp = &c.BuildID
	case "build_url":
		sp = &c.BuildURL
	case "job_id":
		sp = &c.Job.ID
	case "job_name":
		sp = &c.Job.Name
	case "job_url":
		sp = &c.Job.URL
	case "job_outcome":
		if d.null() {
			return true
		}
		s, ok := d.str()
		c.Job.Outcome = contracts.Outcome(s)
		return ok
	case "exit_status":
		if d.null() {
			c.Job.ExitStatus = nil
			return true
		}
		n, ok := d.int()
		c.Job.ExitStatus = &n
		return ok
	case "severity":
		s, ok := d.str() // null goes to Severity.UnmarshalJSON, which refuses it
		if !ok {
			return false
		}
		sev, err := contracts.ParseSeverity(s)
		c.Severity = sev
		return err == nil
	case "line_number":
		ip = &c.LineNumber
	case "end_line":
		ip = &c.EndLine
	case "raw_message":
		sp = &c.RawMessage
	case "message":
		sp = &c.Message
	case "normalized_message":
		sp = &c.NormalizedMessage
	case "normalizer_version":
		ip = &c.NormalizerVersion
	case "confidence_score":
		if d.null() {
			return true
		}
		tok, ok := d.number()
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(tok, 64)
		c.ConfidenceScore = f
		return err == nil
	case "rule":
		sp = &c.Rule
	case "pre_context":
		return d.lines(&c.PreContext)
	case "post_context":
		return d.lines(&c.PostContext)
	case "context_note":
		sp = &c.ContextNote
	case "chunk_index":
		ip = &c.ChunkIndex
	case "line_in_chunk":
		ip = &c.LineInChunk
	case "timestamp":
		if d.null() {
			c.Timestamp = nil
			return true
		}
		d.space()
		start := d.i
		if _, ok := d.str(); !ok {
			return false
		}
		var t time.Time
		if err := t.UnmarshalJSON([]byte(d.s[start:d.i])); err != nil {
			return false
		}
		c.Timestamp = &t
		return true
	case "metadata":
		return d.metadata(&c.Metadata)
	default:
		return false
	}
	if d.null() {
		return true
	}
	if sp != nil {
		s, ok := d.str()
		*sp = s
		return ok
	}
	n, ok := d.int()
	*ip = n
	return ok
}

func (d *cardDecoder) lines(dst *[]string) bool {
	if d.null() {
		*dst = nil
		return true
	}
	if !d.consume('[') {
		return false
	}
	out := (*dst)[:0]
	if out == nil {
		out = make([]string, 0, 32)
	}
	if d.consume(']') {
		*dst = out
		return true
	}
	for {
		s, ok := d.str()
		if !ok {
			return false
		}
		out = append(out, s)
		if d.consume(',') {
			continue
		}
		*dst = out
		return d.consume(']')
	}
}

func (d *cardDecoder) metadata(dst *map[string]string) bool {
	if d.null() {
		*dst = nil
		return true
	}
	if !d.consume('{') {
		return false
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	if d.consume('}') {
		return true
	}
	for {
		k, ok := d.str()
		if !ok || !d.consume(':') {
			return false
		}
		v, ok := d.str()
		if !ok {
			return false
		}
		(*dst)[k] = v
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// str reads a JSON string. Without escapes it is a substring of the message.
func (d *cardDecoder) str() (string, bool) {
	if !d.consume('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.s) {
		if d.i+8 <= len(d.s) && !hasSpecial(load64(d.s[d.i:])) {
			d.i += 8 // eight plain bytes
			continue
		}
		if !special[d.s[d.i]] {
			d.i++
			continue
		}
		switch b := d.s[d.i]; {
		case b == '"':
			d.i++
			return d.s[start : d.i-1], true
		case b == '\\':
			return d.unescape(start)
		default: // a control character
			return "", false
		}
	}
	return "", false
}

// special marks the bytes that end a run of plain string content.
var special = func() (t [256]bool) {
	for b := range 0x20 {
		t[b] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// load64 reads the first eight bytes of s, the first in the lowest bits.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasSpecial reports whether any byte of x is special: a quote, a
// backslash or a control character. Each test is exact for the word as a
// whole: below(x, n) has a high bit set if and only if some byte is below n.
func hasSpecial(x uint64) bool {
	below := func(x uint64, n uint64) uint64 { return (x - ones*n) &^ x & highs }
	return below(x, 0x20)|below(x^(ones*'"'), 1)|below(x^(ones*'\\'), 1) != 0
}

// unescape finishes a string with escapes that began at start.
func (d *cardDecoder) unescape(start int) (string, bool) {
	buf := make([]byte, 0, d.i-start+64)
	buf = append(buf, d.s[start:d.i]...)
	for d.i < len(d.s) {
		b := d.s[d.i]
		switch {
		case b == '"':
			d.i++
			return string(buf), true
		case b < 0x20:
			return "", false
		case b != '\\':
			buf = append(buf, b)
			d.i++
			continue
		}
		if d.i+1 >= len(d.s) {
			return "", false
		}
		e := d.s[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// A valid pair makes one rune; anything else is U+FFFD, as
				// encoding/json decodes it.
				if len(d.s)-d.i >= 6 && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					r2, ok := d.hex4()
					if !ok {
						return "", false
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
					} else {
						d.i = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (d *cardDecoder) hex4() (rune, bool) {
	if len(d.s)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(d.s[d.i : d.i+4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}

// int reads a JSON integer that fits an int easily; anything else (a
// fraction, an exponent, 19 digits or more) is left to encoding/json.
func (d *cardDecoder) int() (int, bool) {
	d.space()
	neg := d.i < len(d.s) && d.s[d.i] == '-'
	if neg {
		d.i++
	}
	start := d.i
	n := 0
	for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
		n = n*10 + int(d.s[d.i]-'0')
		d.i++
	}
	digits := d.i - start
	if digits == 0 || digits > 18 || (digits > 1 && d.s[start] == '0') {
		return 0, false
	}
	if d.i < len(d.s) {
		switch d.s[d.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// number reads a JSON number token, checking its grammar.
func (d *cardDecoder) number() (string, bool) {
	d.space()
	start := d.i
	digits := func() int {
		s := d.i
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
		return d.i - s
	}
	if d.i < len(d.s) && d.s[d.i] == '-' {
		d.i++
	}
	intStart := d.i
	n := digits()
	if n == 0 || (n > 1 && d.s[intStart] == '0') {
		return "", false
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return "", false
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return "", false
		}
	}
	return d.s[start:d.i], true
}
