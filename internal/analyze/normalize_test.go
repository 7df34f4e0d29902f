package analyze

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "error: something broke", "error: something broke"},
		{"white space", "  a \t  b  ", "a b"},
		{"iso timestamp", "at 2024-01-02T03:04:05.123Z done", "at <ts> done"},
		{"date and time", "2019-03-08 14:13:39,543 ERROR x", "<ts> ERROR x"},
		{"clock", "[14:13:39] fail", "[<ts>] fail"},
		{"duration", "--- FAIL: TestX (0.01s)", "--- FAIL: TestX (<num>s)"},
		{"compound duration", "took 1m30s", "took <num>m<num>s"},
		{"line and column", "lexer.c:212:9: error: 'tokn' undeclared", "lexer.c:<num>:<num>: error: 'tokn' undeclared"},
		{"rust codes stay apart", "error[E0308]: mismatched types", "error[E0308]: mismatched types"},
		{"uuid", "job 123e4567-e89b-12d3-a456-426614174000 failed", "job <uuid> failed"},
		{"hex address", "at 0x7f9a970d3ad0 failed", "at <hex> failed"},
		{"git sha", "commit 1d2fdfb0 failed", "commit <hex> failed"},
		{"ip and port", "connect 10.0.0.1:5432 refused", "connect <ip> refused"},
		{"pid", "sshd[24200]: error", "sshd[<num>]: error"},
		{"temp dir", "open /tmp/go-build123456/b001/x.go: no such file", "open /tmp/<tmp>/b001/x.go: no such file"},
		{"mac temp dir", "/var/folders/ab/xy12z/T/tmp.123/f", "/var/folders/ab/xy12z/T/<tmp>/f"},
		{"counter", "3 failed, 12 passed", "<num> failed, <num> passed"},
		{"identifier digits stay", "x86_64 piece0 utf8", "x86_<num> piece0 utf8"},
		{"block id", "blk_-1608999687919862906 missing", "blk_<num> missing"},
		{"user name", "session opened for user cyrus by (uid=0)", "session opened for user <name> by (uid=<num>)"},
		{"host name", "from 220-135-151-1.hinet-ip.hinet.net", "from <host>"},
		{"size", "estimated size 12.5 KB, free 3 B", "estimated size <size>, free <size>"},
		{"decimal", "took 12.5 seconds", "took <num> seconds"},
		{"version", "node v12.3.1", "node v12.3.1"},
		{"bare version", "version 1.2.3", "version <num>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHash(t *testing.T) {
	a := Hash(Normalize("error[E0308]: mismatched types"))
	b := Hash(Normalize("error[E0277]: mismatched types"))
	if a == b {
		t.Errorf("Hash of E0308 and E0277 = %s for both, want different", a)
	}
	if got, want := Hash("x"), Hash("x"); got != want {
		t.Errorf("Hash(x) = %s then %s, want stable", got, want)
	}
	if got := len(Hash("")); got != 32 {
		t.Errorf("len(Hash(\"\")) = %d, want 32", got)
	}
	if !strings.Contains(hashInput("x"), "v1") {
		t.Errorf("hash input %q does not name normalizer version 1", hashInput("x"))
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"", "a", "0x", "1.2.3.4:80", "2024-01-02T03:04:05Z", "12:34", "/tmp/", "/var/folders/a/b/T/",
		"123e4567-e89b-12d3-a456-426614174000", "1m30s", "9.", "1,2", "<num>", "a1b2c3d4e5", "\xff1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Normalize(s)
		if twice := Normalize(once); twice != once {
			t.Errorf("Normalize(Normalize(%q)) = %q, want %q", s, twice, once)
		}
	})
}
