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

		// Masks: what varies between runs of one error.
		{"ctime date", "connection from 1.2.3.4 () at Fri Jun 17 20:55:07 2005", "connection from <ip> () at <ts>"},
		{"date with zone", "Date: Mon, 02 Jan 2006 15:04:05 -0700", "Date: <ts>"},
		{"syslog date", "Jun 14 15:16:01 combo sshd", "<ts> combo sshd"},
		{"unix date", "Mon Jan  2 15:04:05 UTC 2006: started", "<ts>: started"},
		{"host name without digits", "getaddrinfo for ns.marryaldkfaczcz.com [1.2.3.4] failed", "getaddrinfo for <host> [<ip>] failed"},
		{"host name and port", "proxy : MSRA-SA-41.fareast.corp.microsoft.com:8030", "proxy : <host>:<num>"},
		{"host name with address", "(dsl-static-059.96.15.66.touchtelindia.net)", "(<host>)"},
		{"country second level", "for customer-187141240-sta.uninet-ide.com.mx [", "for <host> ["},
		{"runner host", "fv-az123-456.internal.cloudapp.net refused", "<host> refused"},
		{"password for user", "Failed password for root from 1.2.3.4 port 22 ssh2", "Failed password for <name> from <ip> port <num> ssh2"},
		{"sudo user", "[sudo] password for runner:", "[sudo] password for <name>:"},
		{"generated name", "attempt_1445144423722_0020_m_000000_0 TaskAttempt", "<id> TaskAttempt"},
		{"generated name other kind", "attempt_1445144423722_0020_r_000000_0 TaskAttempt", "<id> TaskAttempt"},
		{"generated name with piece", "Block broadcast_0_piece0 stored", "Block <id> stored"},
		{"component name", "package: Package_for_KB2891804~31bf3856ad364e35~amd64~~6.1.1.2, State: 1", "package: <id>, State: <num>"},
		{"runtime path", "Deleting block blk_-16 file /mnt/data/current/subdir27/blk_-16", "Deleting block blk_<num> file <path>"},
		{"runtime path in sentence", "allocateBlock: /user/x/_temporary/_task_2008_0001_m_000990_0/part-00990.", "allocateBlock: <path>."},
		{"list of ids", "ask 1.2.3.4:50010 to delete blk_1 blk_2 blk_3", "ask <ip> to delete blk_<num>"},
		{"list of addresses", "(stack @0x7fed806eb5d @0x7fef9fb9b6d @0xff83db2f)", "(stack @<hex>)"},
		{"one address", "(stack @0x7fed806eb5d)", "(stack @<hex>)"},
		{"comma list", "ids 1, 2, 3 failed", "ids <num> failed"},

		// Non-masks: what tells one error from another.
		{"rust code", "error[E0277]: the trait bound is not satisfied", "error[E0277]: the trait bound is not satisfied"},
		{"typescript code", "error TS2345: Argument of type", "error TS2345: Argument of type"},
		{"exception class", "java.lang.IllegalStateException: closed", "java.lang.IllegalStateException: closed"},
		{"java package", "package org.apache.commons.io does not exist", "package org.apache.commons.io does not exist"},
		{"versioned package", "class org.apache.hadoop.mapreduce.v2.app.MRAppMaster", "class org.apache.hadoop.mapreduce.v2.app.MRAppMaster"},
		{"service host", "Could not resolve host: github.com", "Could not resolve host: github.com"},
		{"source file", "/home/travis/build/a/b/src/lexer2.c:12:5: error: x", "/home/travis/build/a/b/src/lexer2.c:<num>:<num>: error: x"},
		{"source file under versioned dir", "File /usr/lib/python3.8/site-packages/req/api.py, line 12", "File /usr/lib/python3.8/site-packages/req/api.py, line <num>"},
		{"test name", "--- FAIL: TestParseUTF8/case_3 (0.01s)", "--- FAIL: TestParseUTF8/case_<num> (<num>s)"},
		{"python test", "FAILED tests/test_io.py::test_read_utf8 - AssertionError", "FAILED tests/test_io.py::test_read_utf8 - AssertionError"},
		{"quoted identifier", "error: 'tokn' undeclared", "error: 'tokn' undeclared"},
		{"month word", "May not be null", "May not be null"},
		{"arch triple", "/usr/lib/x86_64-linux-gnu/libc.so", "/usr/lib/x86_<num>-linux-gnu/libc.so"},
		{"repeated words stay", "very very bad", "very very bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Normalize(tt.in); got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestNormalizeKeepsApart checks pairs that are different errors and must
// not share a hash.
func TestNormalizeKeepsApart(t *testing.T) {
	for _, p := range [][2]string{
		{"error[E0308]: mismatched types", "error[E0277]: mismatched types"},
		{"ORA-00942: table or view does not exist", "ORA-01017: table or view does not exist"},
		{"java.lang.NullPointerException", "java.lang.IllegalStateException"},
		{"--- FAIL: TestParse (0.01s)", "--- FAIL: TestFormat (0.01s)"},
		{"src/lexer.c:12: error", "src/parser.c:12: error"},
		{"Could not resolve host: github.com", "Could not resolve host: gitlab.com"},
		{"package org.junit.jupiter does not exist", "package org.hamcrest.core does not exist"},
	} {
		if a, b := Normalize(p[0]), Normalize(p[1]); a == b {
			t.Errorf("Normalize(%q) = Normalize(%q) = %q, want different", p[0], p[1], a)
		}
	}
}

func BenchmarkNormalize(b *testing.B) {
	lines := []string{
		"2019-03-08 14:13:39,543 ERROR [main] Failed to connect to 10.0.0.12:5432 after 3 attempts (12.5s)",
		"/home/runner/work/repo/repo/src/lexer.c:212:9: error: 'tokn' undeclared (first use in this function)",
		"Deleting block blk_-1608999687919862906 file /mnt/hadoop/dfs/data/current/subdir27/blk_-1608999687919862906",
		"connection from 222.33.90.199 (host8.topspot.net) at Fri Jun 17 20:55:07 2005",
		"error[E0308]: mismatched types",
	}
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		for _, l := range lines {
			Normalize(l)
		}
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
		"Fri Jun 17 20:55:07 2005", "a.b.example.com:80", "x_1_2 x_3_4", "/a/b/c_1.", "@0x1 @0x2)", "password for x",
		"Package_for_KB2~31bf3856ad364e35~amd64~~6.1.1.2", "blk_1, blk_2,", "<id> <path>",
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
