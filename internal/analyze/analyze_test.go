package analyze

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
)

// wholeLog returns a chunk holding a whole log, as the only chunk of a job.
func wholeLog(t *testing.T, content string) *contracts.LogChunk {
	t.Helper()
	n := strings.Count(content, "\n") + 1
	return &contracts.LogChunk{
		Version: contracts.Version, RequestID: "req-1", BuildID: "build-1", BuildURL: "https://ci.example/b/1", Source: "file",
		Job:       contracts.Job{ID: "job-1", Name: "test", Outcome: contracts.OutcomeFailed},
		Last:      true,
		LineStart: 1, LineEnd: n, OwnedStart: 1, OwnedEnd: n,
		Content: content,
	}
}

func lines(n int, format string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i+1)
	}
	return out
}

func TestAnalyzeCard(t *testing.T) {
	content := strings.Join(append(append(lines(20, "building step %d"),
		"\x1b_bk;t=1700000000123\x07lexer.c:212:9: \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'tokn' undeclared"),
		lines(40, "more output %d")...), "\n")
	cards := New(Config{}).Analyze(wholeLog(t, content))
	if len(cards) != 1 {
		t.Fatalf("Analyze() returned %d cards, want 1: %+v", len(cards), cards)
	}
	c := cards[0]
	ts := time.UnixMilli(1700000000123).UTC()
	want := contracts.TriageCard{
		Version:           contracts.Version,
		ID:                contracts.FindingID("req-1", "job-1", 21),
		RequestID:         "req-1",
		MessageHash:       Hash("lexer.c:<num>:<num>: error: 'tokn' undeclared"),
		Source:            "file",
		BuildID:           "build-1",
		BuildURL:          "https://ci.example/b/1",
		Job:               contracts.Job{ID: "job-1", Name: "test", Outcome: contracts.OutcomeFailed},
		Severity:          contracts.SeverityError,
		LineNumber:        21,
		EndLine:           21,
		RawMessage:        "␛_bk;t=1700000000123␇lexer.c:212:9: ␛[01;31m␛[Kerror: ␛[m␛[K'tokn' undeclared",
		Message:           "lexer.c:212:9: error: 'tokn' undeclared",
		NormalizedMessage: "lexer.c:<num>:<num>: error: 'tokn' undeclared",
		NormalizerVersion: NormalizerVersion,
		ConfidenceScore:   0.9,
		Rule:              "compiler-error",
		PreContext:        lines(20, "building step %d")[5:],
		PostContext:       lines(40, "more output %d")[:30],
		LineInChunk:       21,
		Timestamp:         &ts,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("Analyze() card mismatch (-want +got):\n%s", diff)
	}
}

func TestAnalyzeHardInputs(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		wantLines []int
		wantMsg   string // message of the first card, when set
	}{
		{"empty", "", nil, ""},
		{"only timestamp markers", "\x1b_bk;t=1700000000123\x07\n\x1b_bk;t=1700000000124\x07\x1b_bk;t=1\x07", nil, ""},
		{"progress bar", "start\nPulling: [==>   ] 41%\rPulling: [=====] 100%\rerror: layer digest mismatch\nend", []int{2}, "error: layer digest mismatch"},
		{"colour inside token", "lexer.c:212:9: \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'tokn' undeclared", []int{1}, "lexer.c:212:9: error: 'tokn' undeclared"},
		{"two buildkite markers", "\x1b_bk;t=1700000000123\x07fatal: \x1b_bk;t=1700000000999\x07repository not found", []int{1}, "fatal: repository not found"},
		{"malformed marker", "\x1b_bk;t=oops\x07fatal: repository not found", []int{1}, "fatal: repository not found"},
		{"invalid utf8", "ok\nerror: bad byte \xff\xfe here", []int{2}, "error: bad byte \uFFFD\uFFFD here"},
		{"nul bytes", "error:\x00 nul\x00 inside", []int{1}, "error: nul inside"},
		{"github actions", "2024-01-02T03:04:05.1234567Z ##[group]Run go test\n2024-01-02T03:04:05.2Z --- FAIL: TestX (0.01s)\n2024-01-02T03:04:05.3Z ##[error]Process completed with exit code 1.", []int{2, 3}, "--- FAIL: TestX (0.01s)"},
		{"zero counts", "0 errors, 0 warnings\nTests run: 5, Failures: 0, Errors: 0, Skipped: 0\nfailures=0", nil, ""},
		{"flags and names", "gcc -Werror -o x x.c\nok  \tpkg/error_test.go\n=== RUN TestErrorHandling\n--- PASS: TestErrorHandling (0.00s)", nil, ""},
		{"deprecation", "npm WARN deprecated request@2.88.2: request has been deprecated", nil, ""},
		{"long line of two-byte characters", "ok\n" + strings.Repeat("é", 800) + " Error: x", []int{2}, ""},
		{"long line of four-byte characters", "ok\n" + strings.Repeat("😀", 300) + " Error: x", []int{2}, ""},
	}
	e := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards := e.Analyze(wholeLog(t, tt.content))
			var got []int
			for _, c := range cards {
				got = append(got, c.LineNumber)
				checkTerminalSafe(t, "RawMessage", c.RawMessage)
				checkTerminalSafe(t, "Message", c.Message)
				for _, l := range append(append([]string{}, c.PreContext...), c.PostContext...) {
					checkTerminalSafe(t, "context line", l)
				}
			}
			if diff := cmp.Diff(tt.wantLines, got); diff != "" {
				t.Errorf("Analyze(%q) lines mismatch (-want +got):\n%s", tt.content, diff)
			}
			if tt.wantMsg != "" && len(cards) > 0 && cards[0].Message != tt.wantMsg {
				t.Errorf("Analyze(%q) message = %q, want %q", tt.content, cards[0].Message, tt.wantMsg)
			}
		})
	}
}

func TestAnalyzeCRLFSameHash(t *testing.T) {
	lf := "setup\nerror: could not open config.yaml\ndone"
	crlf := strings.ReplaceAll(lf, "\n", "\r\n")
	e := New(Config{})
	a, b := e.Analyze(wholeLog(t, lf)), e.Analyze(wholeLog(t, crlf))
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("Analyze() = %d and %d cards, want 1 each", len(a), len(b))
	}
	if a[0].MessageHash != b[0].MessageHash {
		t.Errorf("CRLF hash = %s, want LF hash %s", b[0].MessageHash, a[0].MessageHash)
	}
}

func TestAnalyzeHugeLine(t *testing.T) {
	huge := strings.Repeat("x", 5<<20)
	content := "start\n" + huge + " error: at the end\nerror: after the huge line\nend"
	cards := New(Config{}).Analyze(wholeLog(t, content))
	if len(cards) != 2 {
		t.Fatalf("Analyze() = %d cards, want 2", len(cards))
	}
	if c := cards[0]; !strings.HasSuffix(c.Message, "x error: at the end") || !strings.HasPrefix(c.Message, leadMark) || !strings.HasSuffix(c.RawMessage, "x error: at the end") {
		t.Errorf("card at line %d: the message does not show the error at the end of the line: %.40q…%q", c.LineNumber, c.Message, c.Message[max(0, len(c.Message)-40):])
	}
	for _, c := range cards {
		if len(c.RawMessage) > 2*defaultMaxLineBytes || len(c.Message) > 2*defaultMaxLineBytes {
			t.Errorf("card at line %d: message of %d bytes, want at most about %d", c.LineNumber, len(c.Message), defaultMaxLineBytes)
		}
		for _, l := range c.PreContext {
			if len(l) > 2*defaultMaxLineBytes {
				t.Errorf("card at line %d: context line of %d bytes", c.LineNumber, len(l))
			}
		}
	}
}

func TestAnalyzeOwnedLinesOnly(t *testing.T) {
	// Lines 101..200 of a log; this chunk owns 116..185.
	var ls []string
	for n := 101; n <= 200; n++ {
		ls = append(ls, fmt.Sprintf("error: problem number %d", n))
	}
	c := &contracts.LogChunk{
		RequestID: "r", Job: contracts.Job{ID: "j", Outcome: contracts.OutcomeFailed}, ChunkIndex: 3,
		LineStart: 101, LineEnd: 200, OwnedStart: 116, OwnedEnd: 185, OverlapBefore: 50,
		Content: strings.Join(ls, "\n"),
	}
	cards := New(Config{}).Analyze(c)
	if len(cards) != 70 {
		t.Fatalf("Analyze() = %d cards, want 70", len(cards))
	}
	first, last := cards[0], cards[len(cards)-1]
	if first.LineNumber != 116 || last.LineNumber != 185 {
		t.Errorf("Analyze() lines %d..%d, want 116..185", first.LineNumber, last.LineNumber)
	}
	if len(first.PreContext) != 15 || first.ContextNote != "" {
		t.Errorf("first card: %d lines before, note %q, want 15 and no note", len(first.PreContext), first.ContextNote)
	}
	if len(last.PostContext) != 15 || !strings.Contains(last.ContextNote, "chunk end") {
		t.Errorf("last card: %d lines after, note %q, want 15 and a note", len(last.PostContext), last.ContextNote)
	}
	if first.ChunkIndex != 3 || first.LineInChunk != 16 {
		t.Errorf("first card: chunk %d line %d, want chunk 3 line 16", first.ChunkIndex, first.LineInChunk)
	}
	if first.ID != contracts.FindingID("r", "j", 116) {
		t.Errorf("first card id = %s, want FindingID(r, j, 116)", first.ID)
	}

	// A short overlap (long lines) leaves the first owned lines short of
	// context, and the card says so.
	c.OverlapBefore, c.OwnedStart = 5, 106
	cards = New(Config{}).Analyze(c)
	if got := cards[0].ContextNote; !strings.Contains(got, "long lines") {
		t.Errorf("short overlap: note = %q, want it to mention long lines", got)
	}
}

func TestAnalyzeContextNotes(t *testing.T) {
	cards := New(Config{}).Analyze(wholeLog(t, "error: first line\nend"))
	if len(cards) != 1 {
		t.Fatalf("Analyze() = %d cards, want 1", len(cards))
	}
	if got, want := cards[0].ContextNote, "start of log; end of log"; got != want {
		t.Errorf("ContextNote = %q, want %q", got, want)
	}
}

func TestAnalyzeMultiLine(t *testing.T) {
	tests := []struct {
		name      string
		content   string
		wantLine  int
		wantEnd   int
		wantMsg   string
		wantCards int
	}{
		{"python traceback", "run\nTraceback (most recent call last):\n  File \"a.py\", line 3, in <module>\n    main()\nValueError: bad value\nafter", 2, 5, "ValueError: bad value", 1},
		{"java stack", "run\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:10)\n\tat a.B.d(B.java:20)\nCaused by: java.io.IOException: disk\n\tat x.Y.z(Y.java:1)\nafter", 2, 6, "java.lang.IllegalStateException: boom", 1},
		{"rustc with carets", "error[E0308]: mismatched types\n --> src/main.rs:2:5\n  |\n2 |     x\n  |     ^ expected\n\nnext", 1, 5, "error[E0308]: mismatched types", 1},
		{"go test failure", "=== RUN TestX\n--- FAIL: TestX (0.00s)\n    x_test.go:12: got 1, want 2\nFAIL", 2, 3, "--- FAIL: TestX (0.00s)", 1},
	}
	e := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards := e.Analyze(wholeLog(t, tt.content))
			if len(cards) == 0 {
				t.Fatalf("Analyze() = no cards")
			}
			c := cards[0]
			if c.LineNumber != tt.wantLine || c.EndLine != tt.wantEnd || c.Message != tt.wantMsg {
				t.Errorf("Analyze() first card = line %d..%d %q, want %d..%d %q", c.LineNumber, c.EndLine, c.Message, tt.wantLine, tt.wantEnd, tt.wantMsg)
			}
			if len(cards) != tt.wantCards {
				t.Errorf("Analyze() = %d cards, want %d", len(cards), tt.wantCards)
			}
		})
	}
}

func TestAnalyzeConcurrent(t *testing.T) {
	e := New(Config{})
	content := strings.Join(append(lines(100, "line %d"), "error: boom", "FAIL: test_x (mod.Case)"), "\n")
	want := e.Analyze(wholeLog(t, content))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				got := e.Analyze(wholeLog(t, content))
				if diff := cmp.Diff(want, got); diff != "" {
					errs <- diff
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for d := range errs {
		t.Errorf("concurrent Analyze() differs (-want +got):\n%s", d)
	}
}

func TestRank(t *testing.T) {
	card := func(job string, line int, rule string, conf float64, hash string) contracts.TriageCard {
		return contracts.TriageCard{Job: contracts.Job{ID: job}, LineNumber: line, EndLine: line, Rule: rule, ConfidenceScore: conf, MessageHash: hash}
	}
	cards := []contracts.TriageCard{
		card("a", 10, "keyword", 0.3, "h1"),
		card("a", 500, "compiler-error", 0.9, "h2"),
		card("a", 510, "make-echo", 0.3, "h3"),
		card("a", 520, "ci-echo", 0.3, "h4"),
		card("a", 600, "compiler-error", 0.9, "h5"),
		card("b", 500, "compiler-error", 0.9, "h2"),
	}
	Rank(cards)
	var got []string
	for _, c := range cards {
		got = append(got, fmt.Sprintf("%s:%d", c.Job.ID, c.LineNumber))
	}
	want := []string{"b:500", "a:500", "a:600", "a:10", "a:510", "a:520"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Rank() order mismatch (-want +got):\n%s", diff)
	}
}

// TestRankFirstOfKind: of many failing tests reported the same way, the first
// ranks before later ones that sit a little closer to the end of the failed
// step.
func TestRankFirstOfKind(t *testing.T) {
	card := func(line int, rule string) contracts.TriageCard {
		return contracts.TriageCard{Job: contracts.Job{ID: "a"}, LineNumber: line, EndLine: line, Rule: rule, ConfidenceScore: 0.85, MessageHash: fmt.Sprint(line)}
	}
	cards := []contracts.TriageCard{card(100, "pytest-section"), card(150, "pytest-section"), card(200, "pytest-section"), card(1000, "ci-echo")}
	Rank(cards)
	if cards[0].LineNumber != 100 {
		t.Errorf("first card at line %d, want the first failing test (line 100)", cards[0].LineNumber)
	}
}

// TestAnnouncedDetail: a status line that says ERROR and leaves the detail
// to the next line makes that line a cause.
func TestAnnouncedDetail(t *testing.T) {
	tests := []struct {
		name, content string
		want          int
	}{
		{"R CMD check step", "* checking package dependencies ... ERROR\nPackage required but not available: 'x'\n\nSee section 'The DESCRIPTION file'", 2},
		{"bare status after the step", "* checking tests ...\n  Running 'test-all.R'\n ERROR\nRunning the tests in 'tests/test-all.R' failed.\nLast 13 lines of output:", 4},
		{"rake", "rake aborted!\nDon't know how to build task 'x'", 2},
		{"phpunit list", "Time: 2 seconds\n\nThere was 1 failure:\n\n1) Acme\\CartTest::testTotal\nFailed asserting that 3 is identical to 4.", 5},
		{"mocha list", "  12 passing (3s)\n  1 failing\n\n  1) Cart totals:\n     AssertionError: expected 3 to equal 4", 4},
	}
	e := New(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range e.Analyze(wholeLog(t, tt.content)) {
				if c.LineNumber == tt.want {
					if c.Rule != "announced-error" && c.Rule != "numbered-fail" {
						t.Errorf("line %d: rule %s, want announced-error or numbered-fail", tt.want, c.Rule)
					}
					return
				}
			}
			t.Errorf("no card on line %d", tt.want)
		})
	}
}

// TestCIReport: a runner's own statement that a step failed marks where the
// job failed, while a passing test that merely names an exit code does not.
func TestCIReport(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{"Error! The 'unit' test step finished with a non-zero exit code", true},
		{"command exited with non-zero exit status", true},
		{"##[error]Process completed with exit code 2.", true},
		{"The command \"make test\" exited with 1.", true},
		{"[ RUN      ] shell functions os_system returns non-zero exit code: 49.05 ms OK", false},
		{"it reports a non-zero exit code to the caller", false},
	}
	e := New(Config{})
	for _, tt := range tests {
		var got bool
		for _, c := range e.Analyze(wholeLog(t, tt.line)) {
			got = got || isCIReport(c.Rule)
		}
		if got != tt.want {
			t.Errorf("%q: CI report = %v, want %v", tt.line, got, tt.want)
		}
	}
}

// TestRuleOfLine: lines of formats people meet get the rule that names them.
func TestRuleOfLine(t *testing.T) {
	tests := []struct{ line, want string }{
		{"FAIL Bug #71412 ArrayIterator reflection parameter info [ext/spl/tests/bug71412.phpt]", "phpt-fail"},
		{"FAIL: TestAdd (calc.tests.CalcTest)", "unittest-fail"},
		{"--- FAIL: TestCartTotal (0.00s)", "go-test-fail"},
		{"error[E0308]: mismatched types", "error-colon"},
		{"#12 3.456 error[E0308]: mismatched types", "error-colon"},
		{"test\tRun cargo test\t2024-01-02T03:04:05.1234567Z error[E0308]: mismatched types", "error-colon"},
		{"[03:04:05] npm ERR! code ELIFECYCLE", "npm-echo"},
		{"t/https.t ........ Connection error: Connect timeout at t/https.t line 17.", "tap-file-error"},
		{"  Parse errors: Bad plan.  You planned 1 tests but ran 0.", "test-summary"},
		{"  Non-zero exit status: 115", "test-summary"},
		{"Failure:", "minitest-fail"},
		{`The command "$TIMEOUT 35m ci/build.sh" exited with 124.`, "timeout"},
		{`The command "make" exited with 1240.`, "ci-echo"},
	}
	e := New(Config{})
	for _, tt := range tests {
		cards := e.Analyze(wholeLog(t, tt.line))
		if len(cards) != 1 || cards[0].Rule != tt.want {
			var got []string
			for _, c := range cards {
				got = append(got, c.Rule)
			}
			t.Errorf("%q: rules %v, want [%s]", tt.line, got, tt.want)
		}
	}
}

// TestDeepTracebackIsNamedByItsLastFrame: a traceback too deep to end
// inside its block is named by the last frame shown, so that different
// deep tracebacks do not share the header's hash.
func TestDeepTracebackIsNamedByItsLastFrame(t *testing.T) {
	tb := func(mod string) string {
		var b strings.Builder
		b.WriteString("start\nTraceback (most recent call last):\n")
		for k := range 20 {
			fmt.Fprintf(&b, "  File \"/app/%s%d.py\", line %d, in f%d\n    g%d()\n", mod, k, k+10, k, k)
		}
		b.WriteString("ValueError: deep")
		return b.String()
	}
	e := New(Config{})
	hashes := map[string]bool{}
	for _, mod := range []string{"billing", "search"} {
		for _, c := range e.Analyze(wholeLog(t, tb(mod))) {
			if c.Rule != "traceback" {
				continue
			}
			if !strings.HasPrefix(strings.TrimSpace(c.Message), `File "/app/`+mod) {
				t.Errorf("deep traceback named %q, want its last frame shown", c.Message)
			}
			hashes[c.MessageHash] = true
		}
	}
	if len(hashes) != 2 {
		t.Errorf("two different deep tracebacks share a hash: %v", hashes)
	}
}
