package sanitize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello world", "hello world"},
		{"empty", "", ""},
		{"sgr colour", "\x1b[31merror\x1b[0m: boom", "error: boom"},
		{"window title BEL", "a\x1b]0;pwned\x07b", "ab"},
		{"window title ST", "a\x1b]2;pwned\x1b\\b", "ab"},
		{"clipboard write", "x\x1b]52;c;cm0gLXJmIH4K\x07y", "xy"},
		{"hyperlink", "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"},
		{"screen clear and home", "\x1b[2J\x1b[Hgone", "gone"},
		{"cursor moves", "a\x1b[10;20Hb\x1b[3Ac\x1b[?25ld", "abcd"},
		{"DCS", "a\x1bP1$qm\x1b\\b", "ab"},
		{"APC buildkite timestamp", "\x1b_bk;t=1700000000000\x07line", "line"},
		{"PM and SOS", "a\x1b^secret\x1b\\b\x1bXsos\x1b\\c", "abc"},
		{"screen title", "a\x1bktitle\x1b\\b", "ab"},
		{"two byte escapes", "a\x1bcb\x1b7c\x1b(Bd", "abcd"},
		{"unterminated OSC swallows rest", "keep\x1b]0;title forever", "keep"},
		{"OSC cut by new escape", "a\x1b]0;t\x1b[31mb", "ab"},
		{"lone ESC at end", "abc\x1b", "abc"},
		{"C1 CSI", "a\u009b2Jb", "ab"},
		{"C1 OSC with C1 ST", "a\u009d0;t\u009cb", "ab"},
		{"C1 DCS", "a\u0090q\u009cb", "ab"},
		{"controls dropped", "a\x00b\x07c\x08d\re\x7ff\u0085g", "abcdefg"},
		{"newline becomes space", "a\nb", "a b"},
		{"tab expanded", "a\tb", "a       b"},
		{"tab at stop", "12345678\tx", "12345678        x"},
		{"tab after escape counts visible columns", "\x1b[1mab\x1b[0m\tc", "ab      c"},
		{"bidi override", "abc\u202edcba\u202c", "abcdcba"},
		{"invalid utf8", "a\xffb", "a\ufffdb"},
		{"wide runes kept", "エラー: 失敗", "エラー: 失敗"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestLinesNil(t *testing.T) {
	if got := Lines(nil); got != nil {
		t.Errorf("Lines(nil) = %q, want nil", got)
	}
	got := Lines([]string{"\x1b[2Ja", "b\x07"})
	if got[0] != "a" || got[1] != "b" {
		t.Errorf("Lines = %q, want [a b]", got)
	}
}

// checkSafe fails if s holds anything a terminal could act on.
func checkSafe(t *testing.T, in, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("String(%q) = %q: invalid UTF-8", in, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || IsBidiControl(r) {
			t.Fatalf("String(%q) = %q: holds control %U", in, s, r)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"plain", "\x1b[31mred\x1b[0m", "\x1b]0;t\x07", "\x1bP\x1b\\", "\t\ttab",
		"\u009b31m", "\x1b]52;c;AAAA\x1b\\", "\xff\xfe", "\x1b", "a\x1b[", "\x1b]8;;u\x1b\\x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := String(in)
		checkSafe(t, in, out)
		if again := String(out); again != out {
			t.Fatalf("String(String(%q)) = %q, want %q", in, again, out)
		}
		if strings.ContainsRune(out, '\t') {
			t.Fatalf("String(%q) = %q: tab not expanded", in, out)
		}
	})
}

func BenchmarkString(b *testing.B) {
	line := strings.Repeat("\x1b[31merror\x1b[0m: something failed\tat main.go:12 ", 4)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		String(line)
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "no such file", "no such file"},
		{"empty", "", ""},
		{"lines kept", "unsupported URL\ndestill reads:\n  files", "unsupported URL\ndestill reads:\n  files"},
		{"CRLF", "a\r\nb", "a\nb"},
		{"title and BEL", "open evil\x1b]0;pwned\x07.logx: no such file", "open evil.logx: no such file"},
		{"unterminated OSC ends with its line", "a\x1b]0;title\nnext line", "a\nnext line"},
		{"controls in every line", "\x1b[2Jone\n\u009b31mtwo\u202e", "one\ntwo"},
		{"trailing newline", "a\n", "a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Text(tt.in); got != tt.want {
				t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
