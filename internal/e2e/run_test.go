// Package e2e runs the built destill binary as a user would.
package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds destill once per test process.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "destill-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "destill")
		cmd := exec.Command("go", "build", "-o", binPath, "../../cmd/destill")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build destill: %v", buildErr)
	}
	return binPath
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, stdin []byte, env []string, args ...string) result {
	t.Helper()
	return runIn(t, "", stdin, env, args...)
}

// runIn runs destill in dir (the test's directory when ""), as a user who
// cd'ed there would.
func runIn(t *testing.T, dir string, stdin []byte, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %v in %q: %v", args, dir, err)
	}
	return result{out.String(), errb.String(), code}
}

func fixture(name string) string { return filepath.Join("..", "..", "testdata", "logs", name) }

type card struct {
	ID          string   `json:"id"`
	JobName     string   `json:"job_name"`
	LineNumber  int      `json:"line_number"`
	Severity    string   `json:"severity"`
	Message     string   `json:"message"`
	RawMessage  string   `json:"raw_message"`
	MessageHash string   `json:"message_hash"`
	Recurrence  int      `json:"recurrence"`
	Jobs        []string `json:"jobs"`
	PreContext  []string `json:"pre_context"`
	PostContext []string `json:"post_context"`
}

func parseJSONL(t *testing.T, s string) []card {
	t.Helper()
	var cards []card
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var c card
		if err := json.Unmarshal([]byte(l), &c); err != nil {
			t.Fatalf("jsonl line %q: %v", l, err)
		}
		cards = append(cards, c)
	}
	return cards
}

func TestRunRealLogs(t *testing.T) {
	for _, tc := range []struct {
		log      string
		wantLine int // a labelled failure line that must rank first
	}{
		{"bugswarm-python-109787645.log", 245},
	} {
		t.Run(tc.log, func(t *testing.T) {
			r := run(t, nil, nil, "run", "--format", "jsonl", fixture(tc.log))
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			cards := parseJSONL(t, r.stdout)
			if len(cards) == 0 {
				t.Fatal("no cards")
			}
			if cards[0].LineNumber != tc.wantLine {
				t.Errorf("first card at line %d (%q), want %d", cards[0].LineNumber, cards[0].Message, tc.wantLine)
			}
			hashes := map[string]bool{}
			for _, c := range cards {
				if hashes[c.MessageHash] {
					t.Errorf("hash %s appears in two groups", c.MessageHash)
				}
				hashes[c.MessageHash] = true
				if c.Recurrence < 1 || len(c.Jobs) != 1 {
					t.Errorf("card %d: recurrence %d, jobs %v; want >= 1 and one job", c.LineNumber, c.Recurrence, c.Jobs)
				}
			}
		})
	}
}

func TestRunFormatsAgree(t *testing.T) {
	logs := []string{fixture("cidiff-metamutator-1765.log.gz"), fixture("bugswarm-jest-2545414624.log.gz")}
	args := append([]string{"run", "--request-id", "fixed"}, logs...)
	jl := run(t, nil, nil, append(append([]string{}, args...), "--format", "jsonl")...)
	js := run(t, nil, nil, append(append([]string{}, args...), "--format", "json")...)
	txt := run(t, nil, nil, append(append([]string{}, args...), "--limit", "0")...)
	for _, r := range []result{jl, js, txt} {
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	var arr []card
	if err := json.Unmarshal([]byte(js.stdout), &arr); err != nil {
		t.Fatalf("json output: %v", err)
	}
	lines := parseJSONL(t, jl.stdout)
	if len(arr) != len(lines) {
		t.Fatalf("json has %d cards, jsonl %d", len(arr), len(lines))
	}
	for i := range arr {
		if arr[i].ID != lines[i].ID {
			t.Errorf("card %d: json id %s, jsonl id %s", i, arr[i].ID, lines[i].ID)
		}
	}
	if n := strings.Count(txt.stdout, "\n#") + 1; n != len(arr) {
		t.Errorf("text shows %d cards, want %d", n, len(arr))
	}
}

func TestRunStdinAndGzipSameAsFile(t *testing.T) {
	raw, err := os.ReadFile(fixture("bugswarm-python-109787645.log"))
	if err != nil {
		t.Fatal(err)
	}
	a := run(t, nil, nil, "run", "--format", "jsonl", fixture("bugswarm-python-109787645.log"))
	b := run(t, raw, nil, "run", "--format", "jsonl", "-")
	ca, cb := parseJSONL(t, a.stdout), parseJSONL(t, b.stdout)
	if len(ca) != len(cb) || len(ca) == 0 {
		t.Fatalf("file gave %d cards, stdin %d", len(ca), len(cb))
	}
	for i := range ca {
		if ca[i].LineNumber != cb[i].LineNumber || ca[i].MessageHash != cb[i].MessageHash {
			t.Errorf("card %d: file %d/%s, stdin %d/%s", i, ca[i].LineNumber, ca[i].MessageHash, cb[i].LineNumber, cb[i].MessageHash)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	huge := append(bytes.Repeat([]byte("x"), 5<<20), []byte("\nerror: layer digest mismatch\n")...)
	binary := make([]byte, 1<<20)
	for i := range binary {
		binary[i] = byte(i * 7919 % 251)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for i := range 20000 {
		fmt.Fprintf(zw, "step %d: compiling module %d of the build\n", i, i*7)
		if i%1000 == 999 {
			fmt.Fprintf(zw, "error: module %d failed to compile\n", i)
		}
	}
	zw.Close()
	truncated := gz.Bytes()[:gz.Len()/2]
	attack := []byte("step 1\n\x1b]0;pwned title\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J\x1b[H\x1bP+q\x1b\\error: \x1b[31mbuild failed\x1b[0m \x9b31m\n")
	crlf := write("crlf.log", []byte("compile\r\nerror: cannot find symbol Foo\r\ndone\r\n"))
	lf := write("lf.log", []byte("compile\nerror: cannot find symbol Foo\ndone\n"))

	tests := []struct {
		name     string
		args     []string
		wantCode int
		check    func(t *testing.T, r result)
	}{
		{"empty file", []string{"--format", "jsonl", write("empty.log", nil)}, 0, func(t *testing.T, r result) {
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("stdout = %q, want no cards", r.stdout)
			}
		}},
		{"only timestamp markers", []string{"--format", "json", write("markers.log", bytes.Repeat([]byte("\x1b_bk;t=1700000000000\x07\n"), 100))}, 0, func(t *testing.T, r result) {
			if strings.TrimSpace(r.stdout) != "[]" {
				t.Errorf("stdout = %q, want []", r.stdout)
			}
		}},
		{"5 MB line then an error", []string{"--format", "jsonl", write("huge.log", huge)}, 0, func(t *testing.T, r result) {
			cards := parseJSONL(t, r.stdout)
			if len(cards) == 0 || cards[0].LineNumber != 2 {
				t.Errorf("cards = %+v, want the error on line 2 first", cards)
			}
		}},
		{"binary file", []string{"--format", "json", write("bin.log", binary)}, 1, func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "binary data, not a text log") {
				t.Errorf("stderr = %q, want it to say the file is not a text log", r.stderr)
			}
		}},
		{"a request id that is not one", []string{"--request-id", "evil\x1b]0;pwned\x07", lf}, 2, func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "--request-id: request id has a character other than") || strings.ContainsRune(r.stderr, 0x1b) {
				t.Errorf("stderr = %q, want it to say the id is not one, without controls", r.stderr)
			}
		}},
		{"an empty request id", []string{"--request-id", "", lf}, 2, func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "--request-id: request id is empty") {
				t.Errorf("stderr = %q, want it to say the id is empty", r.stderr)
			}
		}},
		{"escape sequences in the file name", []string{"--format", "jsonl", write("evil\x1b]0;pwned\x07\x1b[2J.log", []byte("error: boom\n"))}, 0, func(t *testing.T, r result) {
			cards := parseJSONL(t, r.stdout)
			if want := filepath.Join(dir, "evil.log"); len(cards) != 1 || cards[0].JobName != want {
				t.Errorf("cards = %+v, want one whose job_name is %q", cards, want)
			}
			if strings.Contains(r.stdout, `\u001b`) || strings.Contains(r.stdout, `\u0007`) {
				t.Errorf("jsonl output carries control characters: %s", r.stdout)
			}
		}},
		{"a stray NUL in the first 8 KiB", []string{"--format", "jsonl", write("nul.log", []byte("step 1\nstep 2\nx\x00\nerror: boom\n"))}, 0, func(t *testing.T, r result) {
			if cards := parseJSONL(t, r.stdout); len(cards) != 1 || cards[0].Message != "error: boom" {
				t.Errorf("cards = %+v, want the error on line 4", cards)
			}
		}},
		{"truncated gzip", []string{"--format", "jsonl", write("cut.log.gz", truncated)}, 3, func(t *testing.T, r result) {
			if len(parseJSONL(t, r.stdout)) == 0 {
				t.Errorf("no cards from the part that was read")
			}
			if !strings.Contains(r.stderr, "unexpected EOF") || !strings.Contains(r.stderr, "1 of 1 job logs could not be read in full") {
				t.Errorf("stderr = %q, want the read error and that the results are partial", r.stderr)
			}
		}},
		{"terminal attack, text output", []string{"--limit", "0", write("attack.log", attack)}, 0, func(t *testing.T, r result) {
			if strings.IndexByte(r.stdout, 0x1b) >= 0 || strings.IndexByte(r.stdout, 0x07) >= 0 || strings.Contains(r.stdout, "\u009b") {
				t.Errorf("text output carries control sequences: %q", r.stdout)
			}
			if !strings.Contains(r.stdout, "build failed") {
				t.Errorf("text output lacks the error: %q", r.stdout)
			}
		}},
		{"missing file", []string{"nope.log"}, 2, func(t *testing.T, r result) {
			if !strings.Contains(r.stderr, "nope.log") {
				t.Errorf("stderr = %q, want it to name the file", r.stderr)
			}
		}},
		{"a directory", []string{dir}, 2, nil},
		{"unsupported URL", []string{"https://example.com/builds/1"}, 2, nil},
		{"bad format", []string{"--format", "xml", lf}, 2, nil},
		{"no arguments", nil, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, nil, nil, append([]string{"run"}, tc.args...)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit = %d, want %d; stderr: %s", r.code, tc.wantCode, r.stderr)
			}
			if tc.wantCode != 0 && !strings.HasPrefix(r.stderr, "destill: ") {
				t.Errorf("stderr = %q, want a destill: message", r.stderr)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}

	t.Run("CRLF hashes like LF", func(t *testing.T) {
		a := parseJSONL(t, run(t, nil, nil, "run", "--format", "jsonl", crlf).stdout)
		b := parseJSONL(t, run(t, nil, nil, "run", "--format", "jsonl", lf).stdout)
		if len(a) != 1 || len(b) != 1 || a[0].MessageHash != b[0].MessageHash || a[0].Message != b[0].Message {
			t.Errorf("CRLF cards %+v, LF cards %+v: want one card each with the same hash and message", a, b)
		}
	})
}

// TestRunExitStatusNamesTheSignal checks that a run ended by SIGTERM or
// SIGINT exits 128 plus the signal's number, as shells report it, and that
// an unknown command is a usage error.
func TestRunExitStatusNamesTheSignal(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		says string
	}{{syscall.SIGTERM, 143, "destill: terminated"}, {syscall.SIGINT, 130, "destill: interrupted"}} {
		// A log on stdin that never ends keeps the run going.
		cmd := exec.Command(binary(t), "run", "--format", "jsonl", "-")
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(stdin, "error: first line")
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(tc.sig)
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case err = <-waited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-waited
			t.Fatalf("run still going 20s after %v", tc.sig)
		}
		stdin.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(errb.String(), tc.says) {
			t.Errorf("after %v: %v, stderr %q; want exit %d saying %q", tc.sig, err, errb.String(), tc.code, tc.says)
		}
	}
	if r := run(t, nil, nil, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q; want 2 naming it", r.code, r.stderr)
	}
}

// TestReadmeSample: the output README.md shows under its first command is
// what that command prints.
func TestReadmeSample(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\\./bin/destill (run [^\\n#]*?)\\s+#[^\\n]*\\n.*?```\\n\\s*```\\n(.*?)```\\n").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no ./bin/destill run command followed by its output")
	}
	r := runIn(t, filepath.Join("..", ".."), nil, nil, strings.Fields(string(m[1]))...)
	if r.code != 0 {
		t.Fatalf("destill %s: exit %d, stderr %s", m[1], r.code, r.stderr)
	}
	if diff := cmp.Diff(string(m[2]), r.stdout); diff != "" {
		t.Errorf("README.md's sample differs from what destill %s prints (-readme +printed):\n%s", m[1], diff)
	}
}
