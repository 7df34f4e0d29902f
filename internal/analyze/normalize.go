package analyze

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// NormalizerVersion is the version of Normalize's rules. It starts the hash
// input, so a rule change yields new hashes instead of silently merging or
// splitting the history of a message.
const NormalizerVersion = 1

// Placeholders that replace what varies between runs.
const (
	phNum  = "<num>"
	phHex  = "<hex>"
	phUUID = "<uuid>"
	phTime = "<ts>"
	phIP   = "<ip>"
	phTmp  = "<tmp>"
	phHost = "<host>"
	phSize = "<size>"
	phName = "<name>"
	phID   = "<id>"
	phPath = "<path>"
)

// Normalize masks what varies between runs of the same error: dates and
// times, durations and counters, hex ids and addresses, UUIDs, IP addresses
// and ports, temporary directory names and process ids. It keeps what
// identifies the error: words, and codes whose digits follow letters
// (E0308, x86, piece0). White space runs become one space.
//
// Normalize is idempotent: Normalize(Normalize(s)) == Normalize(s).
func Normalize(message string) string {
	s := message
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == '\t' {
			space = true
			i++
			continue
		}
		if space {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			space = false
		}
		// A token starts after a non-alphanumeric byte of the output, except
		// that a dot after a word continues it (v12.3.1, libfoo.so.6).
		// Looking at the output, not the input, keeps Normalize idempotent.
		n := len(b)
		atBoundary := n == 0 || !isAlnum(b[n-1]) && !(b[n-1] == '.' && n >= 2 && isAlnum(b[n-2]))
		if atBoundary && isLetter(c) && (n == 0 || !isWordJoin(b[n-1])) {
			// A word of letters that ends the message or is followed by
			// neither a digit nor a joiner is no host, date, hex id, UUID or
			// time: it is kept as it is, at once.
			e := i + 1
			for e < len(s) && isLetter(s[e]) {
				e++
			}
			if (e == len(s) || !isAlnum(s[e]) && !isWordJoin(s[e])) && userValueLen(b, s[i:]) == 0 &&
				(dateNameLens[c|0x20-'a']>>min(e-i, 63)&1 == 0 || namedDateLen(s[i:]) == 0) {
				b = append(b, s[i:e]...)
				i = e
				continue
			}
		}
		if atBoundary && c == '-' && i+1 < len(s) && isDigit(s[i+1]) {
			// A sign belongs to its number.
			if k, ph := maskAt(s, i+1); k > 0 && ph == phNum {
				b = append(b, ph...)
				i += 1 + k
				continue
			}
		}
		if atBoundary && isDigit(c) && (codePrefix(b) || statusPrefix(b)) {
			// The number of an error code: ORA-00942, CVE-2021-44228.
			for i < len(s) && isDigit(s[i]) {
				b = append(b, s[i])
				i++
			}
			continue
		}
		if atBoundary {
			if k := userValueLen(b, s[i:]); k > 0 {
				b = append(b, phName...)
				i += k
				continue
			}
		}
		if atBoundary && isAlnum(c) && (n == 0 || !isWordJoin(b[n-1])) {
			// Where a whole word starts (not inside x-y_z.w): host names
			// and dates written with month names.
			if k := hostLen(s[i:]); k > 0 {
				b = append(b, phHost...)
				i += k
				continue
			}
			if k := namedDateLen(s[i:]); k > 0 {
				b = append(b, phTime...)
				i += k
				continue
			}
		}
		if atBoundary {
			if k, ph := maskAt(s, i); k > 0 {
				b = append(b, ph...)
				i += k
				continue
			}
		}
		if c == '/' {
			if k := tempDir(s[i:]); k > 0 {
				b = append(b, s[i:i+k]...)
				i += k
				end := i
				for end < len(s) && !isPathEnd(s[end]) {
					end++
				}
				if end > i {
					b = append(b, phTmp...)
					i = end
				}
				continue
			}
		}
		b = append(b, c)
		i++
	}
	return compound(string(b))
}

// Hash returns the hex SHA-256 of the normalizer version and a normalized
// message: equal for the same message under the same rules.
func Hash(normalized string) string {
	// The input of a short message is built on the stack.
	var in [256]byte
	sum := sha256.Sum256(append(append(in[:0], hashPrefix...), normalized...))
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}

// hashPrefix is what hashInput puts before the message.
var hashPrefix = hashInput("")

// hashInput is what Hash digests: the normalizer version, then the message.
func hashInput(normalized string) string {
	return "destill-normalizer/v" + strconv.Itoa(NormalizerVersion) + "\n" + normalized
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isPathEnd(c byte) bool {
	return c == '/' || c == ' ' || c == '\t' || c == '"' || c == '\'' || c == ':' || c == ')' || c == ']' || c == ',' || c == '`'
}

// tempDir returns the length of a temporary directory prefix at s ("/tmp/",
// "/var/folders/xx/yy/T/", "/private/var/folders/…") whose next component
// is a generated name.
func tempDir(s string) int {
	for _, p := range [...]string{"/tmp/", "/var/tmp/", "/private/tmp/", "/dev/shm/"} {
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	for _, p := range [...]string{"/var/folders/", "/private/var/folders/"} {
		if strings.HasPrefix(s, p) {
			// /var/folders/<2>/<random>/T/
			n := len(p)
			for k := 0; k < 2; k++ {
				for n < len(s) && !isPathEnd(s[n]) {
					n++
				}
				if n < len(s) && s[n] == '/' {
					n++
				}
			}
			if strings.HasPrefix(s[n:], "T/") {
				n += 2
			}
			return n
		}
	}
	return 0
}

// maskAt tries the maskers at position i, which starts a token, and returns
// how many bytes they consumed and the placeholder.
func maskAt(s string, i int) (int, string) {
	c := s[i]
	if !isHex(c) {
		return 0, ""
	}
	r := s[i:]
	if n := uuidLen(r); n > 0 {
		return n, phUUID
	}
	if n := timeLen(r); n > 0 {
		return n, phTime
	}
	if n := ipLen(r); n > 0 {
		return n, phIP
	}
	if n := sizeLen(r); n > 0 {
		return n, phSize
	}
	// The alphanumeric token starting here.
	end := 0
	for end < len(r) && isAlnum(r[end]) {
		end++
	}
	tok := r[:end]
	if len(tok) > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X') && allHex(tok[2:]) {
		return end, phHex
	}
	if len(tok) >= 7 && allHex(tok) && hasDigit(tok) && hasHexLetter(tok) {
		return end, phHex
	}
	if !isDigit(c) {
		return 0, ""
	}
	// A token that starts with a digit: mask every digit run in it, so
	// that 12ms, 1m30s and 3rd keep only their letters. Decimal points
	// between digits belong to the number.
	var b strings.Builder
	j := 0
	for j < end {
		if isDigit(r[j]) {
			for j < len(r) && (isDigit(r[j]) || (r[j] == '.' || r[j] == ',') && j+1 < len(r) && isDigit(r[j+1]) && j > 0 && isDigit(r[j-1])) {
				j++
			}
			b.WriteString(phNum)
			if j > end {
				end = j
				for end < len(r) && isAlnum(r[end]) {
					end++
				}
			}
			continue
		}
		b.WriteByte(r[j])
		j++
	}
	return end, b.String()
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func hasDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			return true
		}
	}
	return false
}

func hasHexLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return true
		}
	}
	return false
}

// uuidLen matches 8-4-4-4-12 hex digits.
func uuidLen(s string) int {
	groups := [...]int{8, 4, 4, 4, 12}
	n := 0
	for g, size := range groups {
		if g > 0 {
			if n >= len(s) || s[n] != '-' {
				return 0
			}
			n++
		}
		for k := 0; k < size; k++ {
			if n >= len(s) || !isHex(s[n]) {
				return 0
			}
			n++
		}
	}
	if n < len(s) && isAlnum(s[n]) {
		return 0
	}
	return n
}

func digits(s string, n, max int) int {
	k := 0
	for n+k < len(s) && k < max && isDigit(s[n+k]) {
		k++
	}
	return k
}

// timeLen matches a date (2024-01-02, 2024/01/02), optionally followed by a
// time, or a time of day (03:04:05, 03:04:05.123) with an optional zone.
func timeLen(s string) int {
	n := 0
	if digits(s, 0, 4) == 4 && len(s) >= 10 && (s[4] == '-' || s[4] == '/') && digits(s, 5, 2) == 2 && s[7] == s[4] && digits(s, 8, 2) == 2 {
		n = 10
		if n+1 < len(s) && (s[n] == 'T' || s[n] == ' ' || s[n] == '_') && isDigit(s[n+1]) {
			if m := clockLen(s[n+1:]); m > 0 {
				n += 1 + m
			}
		}
	} else if m := clockLen(s); m > 0 {
		n = m
	} else {
		return 0
	}
	// Zone: Z, +01:00, -0700.
	if n < len(s) && s[n] == 'Z' && (n+1 == len(s) || !isAlnum(s[n+1])) {
		n++
	} else if n < len(s) && (s[n] == '+' || s[n] == '-') && digits(s, n+1, 4) >= 2 {
		k := digits(s, n+1, 4)
		if k == 2 && n+3 < len(s) && s[n+3] == ':' && digits(s, n+4, 2) == 2 {
			n += 6
		} else if k == 4 {
			n += 5
		}
	}
	if n < len(s) && isAlnum(s[n]) {
		return 0
	}
	return n
}

// clockLen matches h:mm:ss or hh:mm:ss with optional fractional seconds, or
// hh:mm followed by a non-digit.
func clockLen(s string) int {
	h := digits(s, 0, 2)
	if h == 0 || h >= len(s) || s[h] != ':' || digits(s, h+1, 2) != 2 {
		return 0
	}
	n := h + 3
	if n < len(s) && s[n] == ':' && digits(s, n+1, 2) == 2 {
		n += 3
		if n+1 < len(s) && (s[n] == '.' || s[n] == ',') && isDigit(s[n+1]) {
			n++
			for n < len(s) && isDigit(s[n]) {
				n++
			}
		}
		return n
	}
	if h != 2 || (n < len(s) && (isDigit(s[n]) || s[n] == ':')) {
		return 0
	}
	return n
}

// ipLen matches an IPv4 address with an optional port.
func ipLen(s string) int {
	n := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if n >= len(s) || s[n] != '.' {
				return 0
			}
			n++
		}
		k := digits(s, n, 3)
		if k == 0 {
			return 0
		}
		n += k
	}
	if n < len(s) && (isDigit(s[n]) || s[n] == '.' && n+1 < len(s) && isDigit(s[n+1])) {
		return 0
	}
	if n+1 < len(s) && s[n] == ':' && isDigit(s[n+1]) {
		n++
		for n < len(s) && isDigit(s[n]) {
			n++
		}
	}
	return n
}

// hostLen matches a fully qualified host name (ci-42.eu-west.example.com,
// 220-135-151-1.hinet-ip.hinet.net): at least three labels of letters,
// digits and hyphens, the last a common top-level domain. Three labels
// spare names such as github.com that say which service failed; a first
// label that is itself a top-level domain (org.apache.commons.io) makes it
// a package name, not a host.
func hostLen(s string) int {
	n, labels := 0, 0
	lastStart := 0
	for {
		start := n
		for n < len(s) && (isAlnum(s[n]) || s[n] == '-') {
			n++
		}
		if n == start {
			return 0
		}
		labels++
		lastStart = start
		if n+1 < len(s) && s[n] == '.' && isAlnum(s[n+1]) {
			n++
			continue
		}
		break
	}
	if labels < 3 || n < len(s) && (s[n] == '_' || s[n] == '$' || s[n] == '<') {
		return 0
	}
	first := s[:strings.IndexByte(s, '.')]
	if isTLD(first) {
		return 0
	}
	last := s[lastStart:n]
	if isTLD(last) {
		return n
	}
	// A country's second level: example.com.mx, example.co.jp.
	if len(last) == 2 && isLetter(last[0]) && isLetter(last[1]) {
		prev := s[:lastStart-1]
		prev = prev[strings.LastIndexByte(prev, '.')+1:]
		switch strings.ToLower(prev) {
		case "com", "net", "org", "co", "ac", "gov", "edu", "ne", "or":
			return n
		}
	}
	return 0
}

// tlds are top-level domains that end host names in logs, leaving out
// those that are also common file extensions (.sh, .py, .pl, .rs, .in).
var tlds = map[string]bool{
	"com": true, "net": true, "org": true, "io": true, "edu": true, "gov": true,
	"mil": true, "info": true, "biz": true, "dev": true, "cloud": true,
	"local": true, "internal": true, "lan": true, "localdomain": true,
	"arpa": true, "co": true, "me": true, "eu": true, "us": true, "uk": true,
	"de": true, "fr": true, "nl": true, "at": true, "ch": true, "it": true,
	"es": true, "se": true, "no": true, "fi": true, "dk": true, "be": true,
	"cz": true, "ru": true, "cn": true, "jp": true, "kr": true, "tw": true,
	"au": true, "ca": true, "br": true,
}

func isTLD(label string) bool {
	if len(label) < 2 || len(label) > 11 {
		return false
	}
	var buf [11]byte
	for i := 0; i < len(label); i++ {
		c := label[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return tlds[string(buf[:len(label)])]
}

// isWordJoin reports whether c joins the parts of one word (x86_64,
// lns-vlq-45, v1.2), so that what follows it is not where a word starts.
func isWordJoin(c byte) bool { return c == '-' || c == '_' || c == '.' }

func spaces(s string, n int) int {
	k := 0
	for n+k < len(s) && (s[n+k] == ' ' || s[n+k] == '\t') {
		k++
	}
	return k
}

// nameLen returns the length of the word at s if it is one of names, or
// one of them followed by a dot (Sept.), case-insensitively.
func nameLen(s string, names *[26][]string) int {
	if len(s) < 3 || !isLetter(s[0]) {
		return 0
	}
	for _, w := range names[s[0]&^0x20-'A'] {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) {
			n := len(w)
			if n < len(s) && s[n] == '.' {
				n++
			}
			if n < len(s) && isAlnum(s[n]) {
				continue
			}
			return n
		}
	}
	return 0
}

var (
	weekdays = byInitial("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
	months   = byInitial("January", "February", "March", "April", "June", "July", "August", "September", "October", "November", "December", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
)

// byInitial indexes capitalised names by their first letter, longest
// first within a letter as given.
func byInitial(names ...string) *[26][]string {
	var t [26][]string
	for _, w := range names {
		t[w[0]-'A'] = append(t[w[0]-'A'], w)
	}
	return &t
}

// namedDateLen matches a date written with a month name, as ctime, syslog,
// RFC 1123 and people write them: "Fri Jun 17 20:55:07 2005", "Jun 14
// 15:16:01", "Mon, 02 Jan 2006 15:04:05 -0700", "Jan 2, 2006". A month and
// day alone (Jun 17) are not enough: a time or a year must follow.
// dateNameLens has, for each initial, bit n set when a weekday or month
// name of n letters starts with it: a word of letters can start a named
// date only then.
var dateNameLens = func() (lens [26]uint64) {
	for _, names := range []*[26][]string{weekdays, months} {
		for k, list := range names {
			for _, w := range list {
				lens[k] |= 1 << len(w)
			}
		}
	}
	return lens
}()

func namedDateLen(s string) int {
	n := 0
	if w := nameLen(s, weekdays); w > 0 {
		n = w
		if n < len(s) && s[n] == ',' {
			n++
		}
		k := spaces(s, n)
		if k == 0 {
			return 0
		}
		n += k
	}
	if m := nameLen(s[n:], months); m > 0 {
		n += m
		k := spaces(s, n)
		d := digits(s, n+k, 2)
		if k == 0 || d == 0 {
			return 0
		}
		n += k + d
		if n < len(s) && s[n] == ',' {
			n++
		}
	} else if d := digits(s, n, 2); d > 0 {
		n += d
		k := spaces(s, n)
		m := nameLen(s[n+k:], months)
		if k == 0 || m == 0 {
			return 0
		}
		n += k + m
	} else {
		return 0
	}
	if n < len(s) && isAlnum(s[n]) {
		return 0
	}
	// Then a time, a zone and a year, in any of the usual orders.
	tail, clock := 0, false
	for part := 0; part < 3; part++ {
		k := spaces(s, n)
		if k == 0 {
			break
		}
		r := s[n+k:]
		m := 0
		if c := clockLen(r); c > 0 && !clock {
			m, clock = c, true
		} else if digits(r, 0, 5) == 4 {
			m = 4
		} else if clock {
			m = zoneLen(r)
		}
		if m == 0 || m < len(r) && (isAlnum(r[m]) || r[m] == ':' && m+1 < len(r) && isDigit(r[m+1])) {
			break
		}
		n += k + m
		tail++
	}
	if tail == 0 {
		return 0
	}
	return n
}

// zoneLen matches a time zone after a time: UTC, GMT, PST, CEST, +0200.
func zoneLen(s string) int {
	if len(s) >= 5 && (s[0] == '+' || s[0] == '-') && digits(s, 1, 4) == 4 {
		return 5
	}
	k := 0
	for k < len(s) && k < 5 && s[k] >= 'A' && s[k] <= 'Z' {
		k++
	}
	if k >= 3 && k <= 4 && (s[k-1] == 'T' || s[:k] == "UTC") {
		return k
	}
	return 0
}

// sizeLen matches an amount of data: 12 KB, 3.5MiB, 512 bytes.
func sizeLen(s string) int {
	n := digits(s, 0, 20)
	if n == 0 {
		return 0
	}
	if n+1 < len(s) && s[n] == '.' && isDigit(s[n+1]) {
		n++
		n += digits(s, n, 20)
	}
	if n < len(s) && s[n] == ' ' {
		n++
	}
	for _, u := range [...]string{"bytes", "KiB", "MiB", "GiB", "KB", "MB", "GB", "kB", "B"} {
		if strings.HasPrefix(s[n:], u) && (n+len(u) == len(s) || !isAlnum(s[n+len(u)])) {
			return n + len(u)
		}
	}
	return 0
}

// codePrefix reports whether out ends with the prefix of an error code:
// two to five capital letters that start a word, and a hyphen (ORA-, CVE-).
// statusKeys end the text before a number that says how a process or a
// request ended: exit status 1 and exit status 137 (killed) are different
// failures, as are HTTP 404 and 500.
var statusKeys = []string{"exit status ", "exit status: ", "exit code ", "exit code: ", "exit code=", "exited with ",
	"exited with code ", "exited with status ", "returned non-zero exit status ", "status code ", "status code: ",
	"http status ", "signal "}

// statusPrefix reports whether out ends with one of statusKeys (any case).
func statusPrefix(out []byte) bool {
	n := len(out)
	if n < 5 || out[n-1] != ' ' && out[n-1] != ':' && out[n-1] != '=' {
		return false
	}
	for _, k := range statusKeys {
		if n >= len(k) && strings.EqualFold(string(out[n-len(k):]), k) {
			return true
		}
	}
	return false
}

func codePrefix(out []byte) bool {
	n := len(out)
	if n < 3 || out[n-1] != '-' {
		return false
	}
	k := 0
	for k < 6 && n-2-k >= 0 && out[n-2-k] >= 'A' && out[n-2-k] <= 'Z' {
		k++
	}
	return k >= 2 && k <= 5 && (n-2-k < 0 || !isAlnum(out[n-2-k]) && !isWordJoin(out[n-2-k]))
}

// userValueLen matches the name after "user " or "user=" (and rhost=,
// "password for "), which
// varies between runs, when out ends with that key.
func userValueLen(out []byte, s string) int {
	if len(out) < 5 || out[len(out)-1] != ' ' && out[len(out)-1] != '=' {
		return 0
	}
	if !(bytes.HasSuffix(out, []byte("user ")) || bytes.HasSuffix(out, []byte("user=")) || bytes.HasSuffix(out, []byte("rhost=")) || bytes.HasSuffix(out, []byte("password for "))) {
		return 0
	}
	if strings.HasPrefix(s, phName) {
		return len(phName)
	}
	n := 0
	for n < len(s) && s[n] != ' ' && s[n] != '\t' && s[n] != ':' && s[n] != ')' && s[n] != ']' && s[n] != ',' && s[n] != ';' && s[n] != '\'' && s[n] != '"' {
		n++
	}
	return n
}

// placeholders lists every placeholder Normalize writes.
var placeholders = [...]string{phNum, phHex, phUUID, phTime, phIP, phTmp, phHost, phSize, phName, phID, phPath}

// placeholderAt returns the length of the placeholder at s, or 0.
func placeholderAt(s string) int {
	if len(s) < 4 || s[0] != '<' {
		return 0
	}
	for _, p := range placeholders {
		if strings.HasPrefix(s, p) {
			return len(p)
		}
	}
	return 0
}

// isIDByte reports whether c can be part of a generated name such as
// attempt_1445_0020_m_000000_0 or foo~31bf3856ad364e35~amd64~~6.1.1.2.
func isIDByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-' || c == '~' || c == '.'
}

// compound masks, in a message whose values are already masked, what is
// made of several of them:
//   - a generated name, one word that holds a placeholder and whose parts
//     (split at _ - ~ .) after the first include two with digits
//     (rdd_<num>_<num>, broadcast_<num>_piece0, attempt_<num>_<num>_m_<num>),
//     becomes <id>; names with one number (test_case_<num>, x86_<num>) stay;
//   - an absolute path that names a runtime object, its last component
//     holding a placeholder and no file extension (/data/current/subdir27/
//     blk_<num>), becomes <path>; source files (/src/v2/x.go) stay;
//   - a run of equal masked words (a list of ids: blk_<num> blk_<num> …,
//     @<hex> @<hex> …) becomes one, so lists of any length agree.
func compound(s string) string {
	if strings.IndexByte(s, '<') < 0 {
		return s
	}
	s = generatedNames(s)
	s = runtimePaths(s)
	return collapseRuns(s)
}

func generatedNames(s string) string {
	// b holds the output once it differs from s: s[:done] is copied to it
	// at the first change.
	var b strings.Builder
	changed, done := false, 0
	for i := 0; i < len(s); {
		// A word starts where the previous byte cannot be part of it.
		if !(isIDByte(s[i]) || placeholderAt(s[i:]) > 0) || i > 0 && (isIDByte(s[i-1]) || s[i-1] == '>') {
			i++
			continue
		}
		end, ph, numbered, part, head := i, 0, 0, false, true
		for end < len(s) {
			if k := placeholderAt(s[end:]); k > 0 {
				if !part && !head {
					numbered++
				}
				ph++
				part = true
				end += k
				continue
			}
			c := s[end]
			if !isIDByte(c) {
				break
			}
			if isAlnum(c) {
				if isDigit(c) && !part && !head {
					numbered++
					part = true
				}
			} else {
				part, head = false, false
			}
			end++
		}
		// Trailing sentence dots and hyphens are not part of the name.
		for end > i && (s[end-1] == '.' || s[end-1] == '-') {
			end--
		}
		if ph > 0 && numbered >= 2 && !(ph == 1 && end-i == placeholderAt(s[i:])) {
			if !changed {
				b.Grow(len(s))
				changed = true
			}
			b.WriteString(s[done:i])
			b.WriteString(phID)
			done = end
		}
		if end == i {
			end++
		}
		i = end
	}
	if !changed {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// isPathByte reports whether c can be part of a path in running text.
func isPathByte(c byte) bool {
	return !(c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '`' || c == ':' || c == ',' || c == ';' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' || c == '=')
}

func runtimePaths(s string) string {
	if strings.IndexByte(s, '/') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); {
		if s[i] != '/' || i > 0 && isPathByte(s[i-1]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		end := i
		for end < len(s) && isPathByte(s[end]) {
			end++
		}
		for end > i && s[end-1] == '.' {
			end--
		}
		p := s[i:end]
		last := p[strings.LastIndexByte(p, '/')+1:]
		if strings.Count(p, "/") >= 2 && strings.Contains(last, "<") && placeholderIn(last) && !hasExtension(last) && p != phPath {
			b.WriteString(phPath)
			changed = true
		} else {
			b.WriteString(p)
		}
		if end == i {
			b.WriteByte(s[i])
			end++
		}
		i = end
	}
	if !changed {
		return s
	}
	return b.String()
}

func placeholderIn(s string) bool {
	for i := strings.IndexByte(s, '<'); i >= 0 && i < len(s); i++ {
		if placeholderAt(s[i:]) > 0 {
			return true
		}
	}
	return false
}

// hasExtension reports whether a file name ends in a dot and letters (x.go,
// Makefile.am), as source files do.
func hasExtension(name string) bool {
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return false
	}
	for i := dot + 1; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) && i > dot+1) {
			return false
		}
	}
	return true
}

// collapseRuns replaces a run of space-separated words that are equal but
// for brackets and commas around them, and hold a placeholder, with one.
func collapseRuns(s string) string {
	if !hasRun(s) {
		return s
	}
	words := strings.Split(s, " ")
	out := words[:0]
	for i := 0; i < len(words); {
		w := words[i]
		core := trimList(w)
		j := i + 1
		if placeholderIn(core) {
			for j < len(words) && trimList(words[j]) == core {
				j++
			}
		}
		if j > i+1 {
			// Keep the opening of the first and the closing of the last.
			first, last := words[i], words[j-1]
			lead := first[:strings.Index(first, core)]
			trail := last[strings.Index(last, core)+len(core):]
			w = lead + core + trail
		}
		out = append(out, w)
		i = j
	}
	return strings.Join(out, " ")
}

// hasRun reports whether two neighbouring words of s are equal for
// collapseRuns, without allocating.
func hasRun(s string) bool {
	prev := ""
	for len(s) > 0 {
		w, rest, _ := strings.Cut(s, " ")
		core := trimList(w)
		if core == prev && placeholderIn(core) {
			return true
		}
		prev, s = core, rest
	}
	return false
}

// trimList trims what separates and encloses the items of a list.
func trimList(w string) string {
	return strings.TrimRight(strings.TrimLeft(w, "([{"), ",;)]}")
}
