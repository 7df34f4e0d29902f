package analyze

import (
	"testing"
	"time"
	"unicode/utf8"
)

func TestCleanLine(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		want   string
		ts     int64
		marker marker
	}{
		{"plain", "hello world", "hello world", 0, markerNone},
		{"empty", "", "", 0, markerNone},
		{"crlf", "error: boom\r", "error: boom", 0, markerNone},
		{"bidi controls dropped", "error: \u202egnp.exe\u202c \u2066x\u2069\u200f", "error: gnp.exe x", 0, markerNone},
		{"sgr colours", "\x1b[31merror\x1b[0m: boom", "error: boom", 0, markerNone},
		{"colour inside a token", "lexer.c:212:9: \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'tokn' undeclared", "lexer.c:212:9: error: 'tokn' undeclared", 0, markerNone},
		{"progress redraws", "Pulling: [==>   ] 41%\rPulling: [=====] 100%\rerror: layer digest mismatch", "error: layer digest mismatch", 0, markerNone},
		{"redraw then erase", "travis_fold:start:x\r\x1b[0K$ make\r\x1b[0K", "$ make", 0, markerNone},
		{"buildkite timestamp", "\x1b_bk;t=1700000000123\x07npm ERR! code 1", "npm ERR! code 1", 1700000000123, markerNone},
		{"two buildkite timestamps", "\x1b_bk;t=1700000000123\x07first \x1b_bk;t=1700000000999\x07second", "first second", 1700000000123, markerNone},
		{"malformed buildkite timestamp", "\x1b_bk;t=17000x0\x07text", "text", 0, markerNone},
		{"buildkite marker with st", "\x1b_bk;t=5\x1b\\text", "text", 5, markerNone},
		{"only timestamp markers", "\x1b_bk;t=1700000000123\x07\x1b_bk;t=1700000000124\x07", "", 1700000000123, markerNone},
		{"unterminated osc", "before\x1b]8;;http://x", "before", 0, markerNone},
		{"osc hyperlink", "\x1b]8;;http://x\x07link\x1b]8;;\x07 text", "link text", 0, markerNone},
		{"github timestamp", "2024-01-02T03:04:05.1234567Z hello", "hello", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC).UnixMilli(), markerNone},
		{"github error marker", "2024-01-02T03:04:05.1234567Z ##[error]Process completed with exit code 1.", "Process completed with exit code 1.", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC).UnixMilli(), markerError},
		{"github group", "##[group]Run make test", "Run make test", 0, markerGroup},
		{"github endgroup", "##[endgroup]", "", 0, markerEndGroup},
		{"workflow command", "::error file=a.go,line=3::bad thing", "bad thing", 0, markerError},
		{"not a timestamp", "2024-01-02 is a date", "2024-01-02 is a date", 0, markerNone},
		{"gh run view", "test\tRun make\t2024-01-02T03:04:05.1234567Z \x1b[31merror\x1b[0m: boom", "error: boom", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC).UnixMilli(), markerNone},
		{"gh run view marker", "test\tRun make\t2024-01-02T03:04:05Z ##[error]Process completed with exit code 1.", "Process completed with exit code 1.", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli(), markerError},
		{"gh run view, a job named like a prefix", "[lint] check\tRun ruff\t2024-01-02T03:04:06.0000000Z error: boom", "error: boom", time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC).UnixMilli(), markerNone},
		{"gh run view, a job named with a digit", "3.11 tests\tRun pytest\t2024-01-02T03:04:06Z error: boom", "error: boom", time.Date(2024, 1, 2, 3, 4, 6, 0, time.UTC).UnixMilli(), markerNone},
		{"buildkit in github actions", "2024-01-02T03:04:05.1234567Z #12 3.456 error[E0308]: mismatched types", "error[E0308]: mismatched types", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.UTC).UnixMilli(), markerNone},
		{"a tool's time in gh run view", "test\tRun\t2024-01-02T03:04:05Z [03:04:05] Traceback (most recent call last):", "Traceback (most recent call last):", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli(), markerNone},
		{"tabs without a timestamp", "a\tb\tc d", "a\tb\tc d", 0, markerNone},
		{"buildkit step", "#12 3.456 error[E0308]: mismatched types", "error[E0308]: mismatched types", 0, markerNone},
		{"buildkit step, no output", "#12 3.456", "", 0, markerNone},
		{"buildkit status kept", "#12 ERROR: process did not complete", "#12 ERROR: process did not complete", 0, markerNone},
		{"a comment is no step", "#12 things to do", "#12 things to do", 0, markerNone},
		{"bracketed time", "[03:04:05] Killed", "Killed", 0, markerNone},
		{"bracketed date and time", "[2024-01-02 03:04:05] Traceback (most recent call last):", "Traceback (most recent call last):", 0, markerNone},
		{"bracketed iso time", "[2024-01-02T03:04:05.123+01:00] npm ERR! code 1", "npm ERR! code 1", 0, markerNone},
		{"bracketed number is no time", "[12] error: x", "[12] error: x", 0, markerNone},
		{"bracketed time, then more", "[03:04:05]error", "[03:04:05]error", 0, markerNone},
		{"nul and c0", "a\x00b\x01c\td", "abc\td", 0, markerNone},
		{"invalid utf8", "a\xffb", "a\uFFFDb", 0, markerNone},
		{"c1 control", "a\u009bb", "ab", 0, markerNone},
		{"trailing space", "text   \t", "text", 0, markerNone},
		{"charset designation", "\x1b(Btext", "text", 0, markerNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, meta := cleanLine(nil, tt.raw)
			if string(got) != tt.want {
				t.Errorf("cleanLine(%q) = %q, want %q", tt.raw, got, tt.want)
			}
			if meta.tsMillis != tt.ts {
				t.Errorf("cleanLine(%q) time = %d, want %d", tt.raw, meta.tsMillis, tt.ts)
			}
			if meta.marker != tt.marker {
				t.Errorf("cleanLine(%q) marker = %d, want %d", tt.raw, meta.marker, tt.marker)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "abc", "abc"},
		{"escape", "\x1b[31mred", "␛[31mred"},
		{"bell and nul", "a\x07\x00", "a␇␀"},
		{"tab kept", "a\tb", "a\tb"},
		{"cr shown", "a\rb", "a␍b"},
		{"del", "a\x7f", "a␡"},
		{"c1", "a\u009b", "a\uFFFD"},
		{"bidi override", "a\u202egnp.exe\u202c", "a\uFFFDgnp.exe\uFFFD"},
		{"invalid", "a\xff", "a\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(showControls(nil, []byte(tt.in))); got != tt.want {
				t.Errorf("showControls(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// checkTerminalSafe fails when s could act on a terminal.
func checkTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s = %q, not valid UTF-8", what, s)
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r <= 0x9f {
			t.Errorf("%s = %q, holds control character %U", what, s, r)
			return
		}
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{
		"", "\x1b[31merror\x1b[0m", "a\rb\r", "\x1b_bk;t=1\x07x", "\x1b", "\x1b[", "\x1b_", "\xff\xfe",
		"2024-01-02T03:04:05.1234567Z ##[error]x", "::error::", "##[group]", "\x1b]8;;\x1b\\",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, _ := cleanLine(nil, string(raw))
		checkTerminalSafe(t, "cleanLine", string(got))
		checkTerminalSafe(t, "sanitize", string(showControls(nil, raw)))
		again, _ := cleanLine(nil, string(got))
		if len(again) > len(got) {
			t.Errorf("cleanLine(cleanLine(%q)) = %q grew from %q", raw, again, got)
		}
	})
}

func TestPrintableEnd(t *testing.T) {
	for c := range 256 {
		for _, pos := range []int{0, 3, 7, 8, 9, 15, 16} {
			b := []byte("xxxxxxxxxxxxxxxxxxxx")
			b[pos] = byte(c)
			want := 20
			if c < 0x20 || c >= 0x7f {
				want = pos
			}
			if got := printableEnd(b, 0); got != want {
				t.Errorf("printableEnd(%q, 0) = %d, want %d", b, got, want)
			}
			if got := printableEnd(string(b), 0); got != want {
				t.Errorf("printableEnd(%q, 0) = %d, want %d", b, got, want)
			}
		}
	}
}
