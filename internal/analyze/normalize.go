package analyze

import (
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
		if atBoundary && c == '-' && i+1 < len(s) && isDigit(s[i+1]) {
			// A sign belongs to its number.
			if k, ph := maskAt(s, i+1); k > 0 && ph == phNum {
				b = append(b, ph...)
				i += 1 + k
				continue
			}
		}
		if atBoundary {
			if k := userValueLen(b, s[i:]); k > 0 {
				b = append(b, phName...)
				i += k
				continue
			}
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
	return string(b)
}

// Hash returns the hex SHA-256 of the normalizer version and a normalized
// message: equal for the same message under the same rules.
func Hash(normalized string) string {
	sum := sha256.Sum256([]byte(hashInput(normalized)))
	return hex.EncodeToString(sum[:16])
}

// hashInput is what Hash digests: the normalizer version, then the message.
func hashInput(normalized string) string {
	return "destill-normalizer/v" + strconv.Itoa(NormalizerVersion) + "\n" + normalized
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

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
	if n := hostLen(r); n > 0 {
		return n, phHost
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

// hostLen matches a host name that holds digits, such as
// 220-135-151-1.example.net: at least three labels, none all digits, the
// last all letters.
func hostLen(s string) int {
	n, labels, digit := 0, 0, false
	lastStart := 0
	for {
		start := n
		allDigits := true
		for n < len(s) && (isAlnum(s[n]) || s[n] == '-') {
			if isDigit(s[n]) {
				digit = true
			} else {
				allDigits = false
			}
			n++
		}
		if n == start || allDigits {
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
	if labels < 3 || !digit {
		return 0
	}
	for k := lastStart; k < n; k++ {
		if !(s[k] >= 'a' && s[k] <= 'z' || s[k] >= 'A' && s[k] <= 'Z') {
			return 0
		}
	}
	return n
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

// userValueLen matches the name after "user " or "user=" (and rhost=), which
// varies between runs, when out ends with that key.
func userValueLen(out []byte, s string) int {
	o := string(out)
	if !(strings.HasSuffix(o, "user ") || strings.HasSuffix(o, "user=") || strings.HasSuffix(o, "rhost=")) {
		return 0
	}
	if strings.HasPrefix(s, phName) {
		return len(phName)
	}
	n := 0
	for n < len(s) && s[n] != ' ' && s[n] != '\t' && s[n] != ')' && s[n] != ']' && s[n] != ',' && s[n] != ';' && s[n] != '\'' && s[n] != '"' {
		n++
	}
	return n
}
