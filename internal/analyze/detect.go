package analyze

import (
	"encoding/binary"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/destill-ci/destill/contracts"
)

// blockKind says how a finding extends over the lines after its first.
type blockKind uint8

const (
	blockNone      blockKind = iota
	blockIndented            // indented lines, caret and gutter lines
	blockTraceback           // indented frames, then the exception line
	blockPrefixE             // pytest "E   " lines
	blockJava                // "at ..." frames, "Caused by:" and "... N more"
	blockPytest              // a pytest failure section, up to the next one
)

// class says what role a finding plays in explaining a failure.
type class uint8

const (
	classCause   class = iota // a specific error: the likely explanation
	classGeneric              // an error line of no known format
	classEcho                 // a line that reports a failure found elsewhere
	classNoise                // worth no card
)

// match is what the detector says about one cleaned line.
type match struct {
	rule  string
	sev   contracts.Severity
	score float64
	class class
	block blockKind
}

type rule struct {
	name  string
	re    *regexp.Regexp
	sev   contracts.Severity
	score float64
	class class
	block blockKind
	// col0 rules match only lines that are not indented.
	col0 bool
	// need, when set, lists lower-case literals of which the line must
	// hold one before the expression is tried.
	need []string
	// fn, when set, is used instead of the expression: a byte-level
	// matcher that must agree with it (a differential test checks), or the
	// only matcher when re is nil. It gets the line and its lower case.
	fn func(t, lower string) bool
}

const (
	sevFatal = contracts.SeverityFatal
	sevError = contracts.SeverityError
	sevWarn  = contracts.SeverityWarn
	sevInfo  = contracts.SeverityInfo
)

// rules are tried in order on the cleaned line with its leading white space
// removed; the first that matches decides. Each needs a prefilter keyword.
var rules = []rule{
	// Lines that name a failure word but report success or configuration.
	{"zero-count", regexp.MustCompile(`(?i)^(?:.*[^\w.])?(?:0|no) (?:errors?|failures?|failed|failing|warnings?)(?:\W|$)|(?i)(?:errors?|failures?|failed|warnings?)[=:] ?0(?:\D|$)`), sevInfo, 0, classNoise, blockNone, false, []string{"0", "no "}, zeroCount},
	{"zero-exit", regexp.MustCompile(`(?i)(?:exited with(?: code| status)?|exit code:?|exit status:?|returned|completed with exit code) 0\.?$`), sevInfo, 0, classNoise, blockNone, false, []string{"0"}, zeroExit},
	{"passing-test", regexp.MustCompile(`(?i)^(?:--- )?(?:ok|pass(?:ed)?)\b|\.\.\. (?:ok|passed|skipped)$|✓|✔`), sevInfo, 0, classNoise, blockNone, false, []string{"ok", "pass", "skipped", "✓", "✔"}, passingTest},
	{"deprecation", regexp.MustCompile(`(?i)deprecat`), sevInfo, 0.05, classNoise, blockNone, false, []string{"deprecat"}, nil},
	{"skipped-test", regexp.MustCompile(`^(?:SKIP|SKIPPED|skipped)[: ]`), sevInfo, 0, classNoise, blockNone, false, nil, nil},
	{"trace-separator", regexp.MustCompile(`^--- End of (?:inner exception )?stack trace`), sevInfo, 0, classNoise, blockNone, false, nil, nil},
	// Summaries that count or announce failures reported in detail
	// elsewhere.
	{"summary-echo", regexp.MustCompile(`(?i)one or more errors occurred|configuring incomplete, errors occurred|^failed test summary|^\*\* (?:build|test|archive) failed \*\*|^the following build commands failed|^\(\d+ failures?\)$|^failing tests:$|\bfound \d+ errors?\.?$|logged \d+ error\(s\)|^error: \d+ errors? generated|^\d+ errors? generated|^errors? occurred while|see above for more details`), sevError, 0.3, classEcho, blockNone, false, []string{"errors occurred", "failed test summary", "failed **", "build commands failed", "failure", "failing tests", "found ", "error(s)", "generated", "occurred while", "see above"}, summaryEcho},

	// Language and tool formats.
	{"sanitizer", regexp.MustCompile(`==\d+==ERROR: \w*Sanitizer\b`), sevFatal, 0.9, classCause, blockNone, false, []string{"sanitizer"}, nil},
	{"go-panic", regexp.MustCompile(`^panic: `), sevFatal, 0.95, classCause, blockIndented, false, nil, nil},
	{"rust-panic", regexp.MustCompile(`^thread '[^']*' panicked at`), sevFatal, 0.92, classCause, blockIndented, false, nil, nil},
	{"runtime-fatal", regexp.MustCompile(`^fatal error: `), sevFatal, 0.9, classCause, blockIndented, false, nil, nil},
	{"go-test-fail", regexp.MustCompile(`^--- FAIL: `), sevError, 0.9, classCause, blockIndented, false, nil, nil},
	{"bare-status", regexp.MustCompile(`^(?:FAIL|FAILED|ERROR)$`), sevInfo, 0, classNoise, blockNone, false, nil, nil},
	{"go-package-fail", regexp.MustCompile(`^FAIL\t\S+\t`), sevError, 0.3, classEcho, blockNone, false, nil, nil},
	{"go-package-build-fail", regexp.MustCompile(`^FAIL\s+\S+\s+\[(?:build|setup) failed\]`), sevError, 0.35, classEcho, blockNone, false, nil, nil},
	{"compiler-error", regexp.MustCompile(`^(?:In file included from )?(?:[A-Za-z]:)?[^\s:]*[^\s:\d][^\s:]*:\d+(?::\d+)?:?\s*(?:[A-Z]?[a-z]+ )?(?:fatal error|error|Error|ERROR)(?:\[\w+\])?:? `), sevError, 0.9, classCause, blockIndented, false, nil, nil},
	{"msvc-error", regexp.MustCompile(`^\S+\(\d+(?:,\d+)?\): (?:fatal )?error \w+:`), sevError, 0.9, classCause, blockIndented, false, nil, nil},
	{"javac-error", regexp.MustCompile(`^\[ERROR\] (?:[A-Za-z]:)?[/\\]\S+:\[\d+(?:,\d+)?\]`), sevError, 0.9, classCause, blockIndented, false, nil, nil},
	{"kotlin-error", regexp.MustCompile(`^e: \S+\.kts?:`), sevError, 0.9, classCause, blockIndented, false, nil, nil},
	{"rust-echo", regexp.MustCompile(`^error: (?:could not compile|aborting due to|build failed|test failed|Could not compile)`), sevError, 0.3, classEcho, blockNone, false, nil, nil},
	{"error-colon", regexp.MustCompile(`^error(?:\[E\d{4}\])?: `), sevError, 0.88, classCause, blockIndented, true, nil, nil},
	{"ld-undefined", regexp.MustCompile(`undefined reference to|Undefined symbols for architecture|undefined symbol: `), sevError, 0.85, classCause, blockIndented, false, []string{"undefined"}, nil},
	{"ld-echo", regexp.MustCompile(`^(?:collect2: error: ld returned|\S+: error: linker command failed|ld: symbol\(s\) not found)`), sevError, 0.3, classEcho, blockNone, false, []string{"collect2", "linker command", "ld: "}, nil},
	{"make-no-rule", regexp.MustCompile(`^g?make(?:\[\d+\])?: \*\*\* No rule to make target`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"make-echo", regexp.MustCompile(`^(?:(?:g?make|ninja|mingw32-make)(?:\[\d+\])?: \*\*\*|ninja: build stopped|FAILED: |\S+:\d+: recipe for target .* failed$)`), sevError, 0.3, classEcho, blockNone, false, nil, nil},
	{"lint-error", regexp.MustCompile(`^\d+:\d+\s+error\s+\S`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"test-status-fail", nil, sevError, 0.8, classCause, blockIndented, false, []string{"fail", "error"}, endsWithStatus},
	{"phpt-fail", regexp.MustCompile(`^FAIL .+ \[[^\]\s]+\.phpt\]$`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"tap-file-error", regexp.MustCompile(`^\S+\.t \.{2,} .*(?i:error|fail|died|exception)`), sevError, 0.8, classCause, blockNone, false, nil, nil},
	{"minitest-fail", regexp.MustCompile(`^(?:Failure|Error):$`), sevError, 0.85, classCause, blockIndented, false, nil, nil},
	{"cargo-test-fail", regexp.MustCompile(`^test \S+ \.\.\. FAILED$`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"test-summary", regexp.MustCompile(`(?i)^(?:test result: FAILED|Tests:\s+\d+ failed|\d+ tests? completed, \d+ failed|FAILED \((?:failures|errors)=|FAILURES!|Tests run: \d+, Failures: \d+|\d+ examples?, \d+ failures?|(?:\d+ \w+, )?\d+ tests?, \d+ failures?|Failed \d+/\d+ (?:test programs|subtests)|Result: FAIL$|=+ .*\b\d+ (?:failed|errors?)\b|\s*\d+ failing$|Failed tests:|There (?:was|were) \d+ (?:failures?|errors?):|ERRORS!$|Failures:$|failures:$|Parse errors: |Non-zero (?:exit|wait) status: \d+$)`), sevError, 0.4, classEcho, blockNone, false, nil, nil},
	{"numbered-fail", regexp.MustCompile(`^\d+\) (?:[\w\\]+::\w+|test .+ \([\w.]+\)$)`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"ct-failed-on-line", regexp.MustCompile(`^[\w.]+:[\w.]+ failed on line \d+$`), sevError, 0.85, classCause, blockNone, true, []string{"failed on line"}, nil},
	{"elixir-error", regexp.MustCompile(`^\*\* \([\w.]+\) `), sevError, 0.85, classCause, blockIndented, false, nil, nil},
	{"rake-aborted", regexp.MustCompile(`^rake aborted!$`), sevError, 0.3, classEcho, blockNone, false, nil, nil},
	{"cmake-error", regexp.MustCompile(`^CMake Error\b`), sevError, 0.85, classCause, blockIndented, false, nil, nil},
	{"php-error", regexp.MustCompile(`^(?:PHP )?(?:Fatal|Parse) error: `), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"unittest-fail", regexp.MustCompile(`^(?:FAIL|ERROR): \w+ \([\w.]+\)`), sevError, 0.9, classCause, blockNone, false, nil, nil},
	{"pytest-section", regexp.MustCompile(`^_{3,} (?:Test\w*|test\w*|\S+::\S+|\S+\.test\w*)(?:\[.*\])? _{3,}$`), sevError, 0.85, classCause, blockPytest, true, nil, nil},
	{"pytest-e", regexp.MustCompile(`^E {2,}.*(?i:error|exception|assert|fail)`), sevError, 0.85, classCause, blockPrefixE, false, []string{"e "}, nil},
	{"pytest-failed", regexp.MustCompile(`^FAILED \S+::\S+`), sevError, 0.7, classCause, blockNone, false, nil, nil},
	{"traceback", regexp.MustCompile(`^Traceback \(most recent call last\):`), sevError, 0.8, classCause, blockTraceback, false, nil, nil},
	{"java-exception", regexp.MustCompile(`^(?:Exception in thread "[^"]*" )?(?:[a-z][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)(?::|$)`), sevError, 0.85, classCause, blockJava, false, nil, nil},
	{"caused-by", regexp.MustCompile(`^Caused by: `), sevError, 0.75, classCause, blockJava, false, nil, nil},
	{"exception", regexp.MustCompile(`^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Failure)(?::\s|$)`), sevError, 0.85, classCause, blockJava, false, nil, nil},
	{"surefire-fail", regexp.MustCompile(`Tests run: \d+, Failures: \d+, Errors: \d+.*<<< (?:FAILURE|ERROR)!`), sevError, 0.8, classCause, blockNone, false, []string{"tests run:"}, nil},
	{"maven-test-list", regexp.MustCompile(`^(?:\[ERROR\]\s+\S+[.:#]\w+[:(]\d+|\[ERROR\]\s+\w+\.\w+:\d+ )`), sevError, 0.75, classCause, blockNone, false, nil, nil},
	{"maven-noise", regexp.MustCompile(`^(?:\[ERROR\]\s*$|\[ERROR\] (?:-> \[Help|Re-run Maven|For more information|To see the full stack|\[Help \d|After correcting the problems|\s*mvn <args>|Failures:|Errors:|Tests run:))`), sevError, 0.1, classNoise, blockNone, false, nil, nil},
	{"maven-goal", regexp.MustCompile(`^\[ERROR\] Failed to execute goal`), sevError, 0.5, classEcho, blockNone, false, nil, nil},
	{"build-failure", regexp.MustCompile(`^(?:(?:\[\w+\] )?BUILD FAILURE|FAILURE: Build failed|BUILD FAILED)`), sevError, 0.3, classEcho, blockNone, false, nil, nil},
	{"gradle-task", regexp.MustCompile(`^> Task \S+ FAILED`), sevError, 0.45, classEcho, blockNone, false, nil, nil},
	{"gradle-test", regexp.MustCompile(`^\S+ > .+ FAILED$`), sevError, 0.85, classCause, blockIndented, false, nil, nil},
	{"jest-title", regexp.MustCompile(`^● (?:[^C]|C[^o]|Co[^n])`), sevError, 0.85, classCause, blockNone, false, nil, nil},
	{"test-cross", regexp.MustCompile(`^(?:✕|✗|✖|✘|×) `), sevError, 0.8, classCause, blockNone, false, nil, nil},
	{"rspec", regexp.MustCompile(`^Failure/Error: `), sevError, 0.85, classCause, blockIndented, false, nil, nil},
	{"tap-not-ok", regexp.MustCompile(`^not ok \d+`), sevError, 0.8, classCause, blockIndented, false, nil, nil},
	{"npm-echo", regexp.MustCompile(`^(?:npm (?:ERR!|error) (?:\S+@\S+ [\w:.-]+: |code |errno |syscall |path |Exit status|Failed at the|This is probably|A complete log|Tell the author|You can get|Make sure you|This is most likely|not with npm itself|Or if that isn't|There is likely additional|Please include the following|(?:Linux|Darwin|Windows_NT) \d|argv |node v\d|npm {1,2}v\d|Test failed\.|\s*$|\s{2,}\S|\s+/|.*npm-debug\.log|.*/_logs/)|error Command failed with exit code|ELIFECYCLE|ERR_PNPM_\w+.*exit code)`), sevError, 0.25, classEcho, blockNone, false, nil, nil},
	{"npm-error", regexp.MustCompile(`^npm (?:ERR!|error) `), sevError, 0.6, classGeneric, blockNone, false, nil, nil},
	{"command-not-found", regexp.MustCompile(`command not found|: not found$|is not recognized as an internal or external command`), sevError, 0.85, classCause, blockNone, false, []string{"not found", "not recognized"}, nil},
	{"k8s", regexp.MustCompile(`ImagePullBackOff|ErrImagePull|CrashLoopBackOff|OOMKilled`), sevFatal, 0.85, classCause, blockNone, false, []string{"backoff", "errimagepull", "oomkilled"}, nil},
	{"killed", regexp.MustCompile(`(?i)exit code 137|signal: killed|^killed$|out of memory|the runner has received a shutdown signal|killed by signal`), sevFatal, 0.75, classCause, blockNone, false, []string{"137", "killed", "out of memory", "shutdown signal"}, nil},
	{"segfault", regexp.MustCompile(`(?i)segmentation fault|core dumped|^aborted$`), sevFatal, 0.8, classCause, blockNone, false, []string{"segmentation", "core dumped", "aborted"}, nil},
	{"timeout", regexp.MustCompile(`(?i)no output has been received in the last|exceeded the maximum (?:time|execution time)|has exceeded the maximum execution time|timed out|job's log exceeded|time limit|(?:exited with|exit code:?|exit status:?) 124\.?$`), sevError, 0.7, classCause, blockNone, false, []string{"no output", "exceeded", "timed out", "time limit", "124"}, nil},
	{"ci-echo", regexp.MustCompile(`Process completed with exit code \d+|^The command ".*" (?:failed and )?exited with \d+|^The command "[^"]*$|^🚨 Error: The command exited with status|^(?:Error: )?Command failed with exit code|^(?:ERROR: )?"[^"]+" exited with \d+|exit status \d+$|exited with code \d+|returned non-zero exit status|(?:exited|finished|failed|completed|terminated) with (?:a )?non-zero exit (?:code|status)|failed with exit code \d+`), sevError, 0.3, classEcho, blockNone, false, []string{"exit", "returned non-zero", "the command \""}, nil},
	{"cancelled", regexp.MustCompile(`(?i)the operation was cancell?ed|build was cancell?ed|job was cancell?ed|the job was not started`), sevError, 0.45, classCause, blockNone, false, []string{"cancel", "not started"}, nil},
	{"git-fatal", regexp.MustCompile(`^fatal: `), sevFatal, 0.8, classCause, blockNone, false, nil, nil},
	{"shell-error", regexp.MustCompile(`No such file or directory|Permission denied|Connection refused|Could not resolve host`), sevError, 0.6, classGeneric, blockNone, false, []string{"no such file", "permission denied", "connection refused", "could not resolve"}, nil},
	{"file-warning", regexp.MustCompile(`^(?:[A-Za-z]:)?[\w./\\-]+\.\w+:\d+(?::\d+)?: (?:[Ww]arning|WARNING|[Nn]ote)\b`), sevWarn, 0.1, classNoise, blockNone, true, nil, nil},
	{"file-location", regexp.MustCompile(`^(?:[A-Za-z]:)?[\w./\\-]+\.\w+:\d+(?::\d+)?: `), sevError, 0.55, classGeneric, blockIndented, true, nil, nil},
	{"error-prefix", regexp.MustCompile(`^(?:\[(?:ERROR|error|Error|FATAL|fatal)\]|ERROR|Error|error|FATAL|Fatal|E/\w+)(?:[:!]| -|\s+\[|\s+\w+:| in \S)`), sevError, 0.65, classGeneric, blockIndented, false, nil, errorPrefix},
	{"fail-prefix", regexp.MustCompile(`^(?:FAIL|FAILED|Failed|FAILURE|Failure)\b`), sevError, 0.6, classGeneric, blockIndented, false, nil, nil},
	{"warning", warningExpr, sevWarn, 0.1, classNoise, blockNone, false, []string{"warn"}, warningWord},
}

// failureWords are the words that make an otherwise unknown line an error.
var failureWords = []string{"error", "errors", "fail", "failed", "failure", "failures", "failing", "fatal", "panic", "exception", "abort", "aborted"}

// failureStems are literals of which each failure word holds one: a line
// without them has none (the literal scan looks for them with the rules').
var failureStems = []string{"error", "fail", "fatal", "panic", "exception", "abort"}

// rulePrefix is the literal that starts every line a rule matches, or "".
var rulePrefix = func() []string {
	p := make([]string, len(rules))
	for i, r := range rules {
		if r.re == nil {
			continue
		}
		src := r.re.String()
		if !strings.HasPrefix(src, "^") {
			continue
		}
		lit := strings.Builder{}
		for _, c := range src[1:] {
			if strings.ContainsRune(`\.+*?()|[]{}^$`, c) {
				break
			}
			lit.WriteRune(c)
		}
		p[i] = lit.String()
		// A quantifier applies to the last literal character.
		if rest := src[1+len(p[i]):]; rest != "" && strings.ContainsRune("*?{", rune(rest[0])) && p[i] != "" {
			_, size := utf8.DecodeLastRuneInString(p[i])
			p[i] = p[i][:len(p[i])-size]
		}
	}
	return p
}()

// ruleFirst holds, for each rule whose expression is anchored at the start
// of the line, the bytes that can start a line it matches.
var ruleFirst = func() []*byteSet {
	p := make([]*byteSet, len(rules))
	for i, r := range rules {
		if r.re == nil {
			continue
		}
		if set, ok := firstBytes(r.re.String()); ok {
			p[i] = &set
		}
	}
	return p
}()

// rulesByFirst lists by the first byte of a line, in order, the rules that
// may match it: those that its first-byte guard or literal prefix do not
// rule out.
var rulesByFirst = func() (by [256][]uint8) {
	if len(rules) > 256 {
		panic("analyze: too many rules")
	}
	for c := range 256 {
		for i, r := range rules {
			if f := ruleFirst[i]; f != nil && r.fn == nil && !f.has(byte(c)) {
				continue
			}
			if p := rulePrefix[i]; p != "" && p[0] != byte(c) {
				continue
			}
			by[c] = append(by[c], uint8(i))
		}
	}
	return by
}()

// detect classifies a cleaned line; ok is false for lines worth nothing.
func detect(line string, mk marker) (match, bool) {
	var buf []byte
	return detectBuf(line, mk, &buf, new(lineCheck))
}

// detectBuf is detect with a buffer for the lower case of the line and
// room for its line check.
func detectBuf(line string, mk marker, buf *[]byte, lc *lineCheck) (match, bool) {
	t := strings.TrimLeft(line, " \t")
	if t == "" {
		return match{}, false
	}
	lower, ascii := lowerCase(t, buf)
	*lc = checkLine(t, lower, ascii)
	for _, i := range rulesByFirst[t[0]] {
		r := &rules[i]
		if r.col0 && len(t) != len(line) {
			continue
		}
		if lc.try(int(i)) {
			m := match{rule: r.name, sev: r.sev, score: r.score, class: r.class, block: r.block}
			return adjustForMarker(m, mk), true
		}
	}
	if w := failureWord(t, lc); w != "" {
		m := match{rule: "keyword", sev: sevError, score: 0.3, class: classGeneric}
		if w == "fatal" || w == "panic" {
			m.sev = sevFatal
		}
		return adjustForMarker(m, mk), true
	}
	if mk == markerError {
		return match{rule: "ci-error-marker", sev: sevError, score: 0.6, class: classGeneric}, true
	}
	return match{}, false
}

func adjustForMarker(m match, mk marker) match {
	switch mk {
	case markerError:
		if m.class == classNoise && m.score < 0.5 {
			m.class, m.score, m.sev = classGeneric, 0.55, sevError
		} else if m.class == classGeneric {
			m.score += 0.1
		}
		m.rule += "+marker"
	case markerWarning:
		if m.sev > sevWarn {
			m.sev = sevWarn
		}
		m.score *= 0.5
	}
	return m
}

// failureWord returns the first failure word that stands as a word of its own
// in t: not part of an identifier, a file name or a flag (error_test.go,
// -Werror, --fail-fast, errors.New). c is the line check of t.
func failureWord(t string, c *lineCheck) string {
	lower := c.lower
	for k, w := range failureWords {
		if !c.holds(matchers.wordStems[k]) {
			continue
		}
		for from := 0; ; {
			i := strings.Index(lower[from:], w)
			if i < 0 {
				break
			}
			i += from
			end := i + len(w)
			from = i + 1
			if i > 0 && !wordBoundaryBefore(t, i) {
				continue
			}
			if end < len(t) && !wordBoundaryAfter(t, end) {
				continue
			}
			if quoted(t, i) {
				// A name or message inside a command line, such as
				// echo "Ignoring errors".
				continue
			}
			return w
		}
	}
	return ""
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func wordBoundaryBefore(t string, i int) bool {
	c := t[i-1]
	if isWordByte(c) {
		// CamelCase names such as TypeError end in a failure word.
		return c >= 'a' && c <= 'z' && t[i] >= 'A' && t[i] <= 'Z'
	}
	return c != '-' && c != '.' && c != '/' && c != '=' && c != '$' && c != '@' && c != '#'
}

func wordBoundaryAfter(t string, end int) bool {
	c := t[end]
	if isWordByte(c) {
		return false
	}
	if c == '.' || c == '-' || c == '/' {
		return end+1 >= len(t) || !isWordByte(t[end+1])
	}
	return c != '(' && c != '=' && c != '['
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// endsWithStatus reports whether t names a test and ends with its failed
// status: "name ... FAILED", "name  ERROR", "name [FAIL]".
func endsWithStatus(t, _ string) bool {
	word := ""
	for _, w := range [...]string{"[FAILED]", "[FAIL]", "FAILED", "FAIL", "ERROR"} {
		if strings.HasSuffix(t, w) {
			word = w
			break
		}
	}
	if word == "" {
		return false
	}
	head := t[:len(t)-len(word)]
	if word[0] == '[' {
		head = strings.TrimSuffix(head, " ")
		return head != "" && head[len(head)-1] != ' ' && head[len(head)-1] != '\t'
	}
	if h := strings.TrimRight(head, " "); strings.HasSuffix(h, "...") {
		h = strings.TrimRight(strings.TrimSuffix(h, "..."), ". ")
		return h != "" && len(head)-len(strings.TrimRight(head, " ")) <= 1
	}
	// At least two spaces or a tab between the name and the status.
	h := strings.TrimRight(head, " \t")
	gap := head[len(h):]
	return h != "" && (len(gap) >= 2 || strings.Contains(gap, "\t"))
}

// quoted reports whether byte i of t lies inside a double-quoted or
// backquoted string that closes later on the line.
func quoted(t string, i int) bool {
	var open byte
	for k := 0; k < i; k++ {
		switch c := t[k]; {
		case open == 0 && (c == '"' || c == '`'):
			open = c
		case c == open:
			open = 0
		}
	}
	return open != 0 && strings.IndexByte(t[i:], open) >= 0
}

// Fast matchers for the rules tried on most candidate lines. Each agrees
// with its rule's expression (TestFastMatchersAgree).

var countWords = [...]string{"errors", "error", "failures", "failure", "failed", "failing", "warnings", "warning"}

// zeroCount matches "0 errors", "no failures", "errors: 0", "failed=0".
func zeroCount(_, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if (c == '0' || c == 'n') && (i == 0 || !isASCIIWord(lower[i-1]) && lower[i-1] != '.') {
			rest := lower[i:]
			switch {
			case strings.HasPrefix(rest, "0 "):
				rest = rest[2:]
			case strings.HasPrefix(rest, "no "):
				rest = rest[3:]
			default:
				continue
			}
			for _, w := range countWords {
				if strings.HasPrefix(rest, w) && (len(rest) == len(w) || !isASCIIWord(rest[len(w)])) {
					return true
				}
			}
		}
	}
	for _, w := range countWords {
		if w == "failing" {
			continue
		}
		for from := 0; ; {
			i := strings.Index(lower[from:], w)
			if i < 0 {
				break
			}
			i += from
			from = i + 1
			rest := lower[i+len(w):]
			if len(rest) == 0 || rest[0] != '=' && rest[0] != ':' {
				continue
			}
			rest = rest[1:]
			rest = strings.TrimPrefix(rest, " ")
			if len(rest) > 0 && rest[0] == '0' && (len(rest) == 1 || !isDigit(rest[1])) {
				return true
			}
		}
	}
	return false
}

// zeroExit matches a report that a command exited with status 0.
func zeroExit(_, lower string) bool {
	t := strings.TrimSuffix(lower, ".")
	if !strings.HasSuffix(t, " 0") {
		return false
	}
	t = t[:len(t)-2]
	for _, p := range [...]string{"exited with", "exited with code", "exited with status", "exit code", "exit code:", "exit status", "exit status:", "returned", "completed with exit code"} {
		if strings.HasSuffix(t, p) {
			return true
		}
	}
	return false
}

// passingTest matches lines that report a test passing.
func passingTest(_, lower string) bool {
	if strings.Contains(lower, "✓") || strings.Contains(lower, "✔") {
		return true
	}
	for _, p := range [...]string{"... ok", "... passed", "... skipped"} {
		if strings.HasSuffix(lower, p) {
			return true
		}
	}
	t := strings.TrimPrefix(lower, "--- ")
	for _, p := range [...]string{"passed", "pass", "ok"} {
		if strings.HasPrefix(t, p) {
			return len(t) == len(p) || !isASCIIWord(t[len(p)])
		}
	}
	return false
}

// summaryEcho matches summaries that count or announce failures reported
// elsewhere.
func summaryEcho(_, lower string) bool {
	for _, p := range [...]string{"one or more errors occurred", "configuring incomplete, errors occurred", "see above for more details"} {
		if strings.Contains(lower, p) {
			return true
		}
	}
	for _, p := range [...]string{"failed test summary", "the following build commands failed", "errors occurred while", "error occurred while"} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	if lower == "failing tests:" {
		return true
	}
	for _, p := range [...]string{"** build failed **", "** test failed **", "** archive failed **"} {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	// (2 failures)
	if strings.HasPrefix(lower, "(") && (strings.HasSuffix(lower, " failures)") || strings.HasSuffix(lower, " failure)")) {
		n := lower[1:strings.IndexByte(lower, ' ')]
		if allDigits(n) {
			return true
		}
	}
	// found 3 errors, logged 3 error(s)
	if i := strings.LastIndex(lower, "found "); i >= 0 && (i == 0 || !isASCIIWord(lower[i-1])) {
		rest := strings.TrimSuffix(lower[i+len("found "):], ".")
		if j := strings.IndexByte(rest, ' '); j > 0 && allDigits(rest[:j]) && (rest[j+1:] == "error" || rest[j+1:] == "errors") {
			return true
		}
	}
	for from := 0; ; {
		i := strings.Index(lower[from:], "logged ")
		if i < 0 {
			break
		}
		rest := lower[from+i+len("logged "):]
		from += i + 1
		if j := strings.IndexByte(rest, ' '); j > 0 && allDigits(rest[:j]) && strings.HasPrefix(rest[j+1:], "error(s)") {
			return true
		}
	}
	// 2 errors generated, error: 1 error generated
	t := strings.TrimPrefix(lower, "error: ")
	if j := strings.IndexByte(t, ' '); j > 0 && allDigits(t[:j]) && (strings.HasPrefix(t[j+1:], "error generated") || strings.HasPrefix(t[j+1:], "errors generated")) {
		return true
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// isASCIIWord reports whether c is a byte of \w in a regular expression.
func isASCIIWord(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// lowerCase returns strings.ToLower(t), and whether t is ASCII. The lower
// case of an ASCII line with upper-case letters is written to *buf and is
// valid until its next use. It looks at eight bytes at a time.
func lowerCase(t string, buf *[]byte) (string, bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// upper has the high bit of each byte of w from 'A' to 'Z' set, when
	// w is ASCII (no carry crosses bytes then).
	upper := func(w uint64) uint64 { return (w + (0x80-'A')*ones) &^ (w + (0x7f-'Z')*ones) & highs }
	var up uint64
	i := 0
	for ; i+8 <= len(t); i += 8 {
		w := load64(t, i)
		if w&highs != 0 {
			return strings.ToLower(t), false
		}
		up |= upper(w)
	}
	for j := i; j < len(t); j++ {
		c := t[j]
		if c >= utf8.RuneSelf {
			return strings.ToLower(t), false
		}
		if c-'A' < 26 {
			up = 1
		}
	}
	if up == 0 {
		return t, true
	}
	b := slices.Grow((*buf)[:0], len(t))[:len(t)]
	i = 0
	for ; i+8 <= len(t); i += 8 {
		w := load64(t, i)
		binary.LittleEndian.PutUint64(b[i:], w|upper(w)>>2)
	}
	for ; i < len(t); i++ {
		c := t[i]
		if c-'A' < 26 {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	*buf = b
	return unsafe.String(unsafe.SliceData(b), len(b)), true
}

// errorPrefix matches a line that starts with an error or fatal status
// followed by a separator, as ERROR: or [error] - or E/Tag: do.
func errorPrefix(t, _ string) bool {
	p := 0
	switch {
	case strings.HasPrefix(t, "E/"):
		p = 2
		for p < len(t) && isASCIIWord(t[p]) {
			p++
		}
		if p == 2 {
			return false
		}
	case len(t) >= 7 && t[0] == '[' && t[6] == ']':
		switch t[1:6] {
		case "ERROR", "error", "Error", "FATAL", "fatal":
			p = 7
		default:
			return false
		}
	case len(t) >= 5:
		switch t[:5] {
		case "ERROR", "Error", "error", "FATAL", "Fatal":
			p = 5
		default:
			return false
		}
	default:
		return false
	}
	rest := t[p:]
	if rest == "" {
		return false
	}
	if rest[0] == ':' || rest[0] == '!' || strings.HasPrefix(rest, " -") {
		return true
	}
	if strings.HasPrefix(rest, " in ") && len(rest) > 4 && !isRegexpSpace(rest[4]) {
		return true
	}
	// \s+\[ or \s+\w+:
	j := 0
	for j < len(rest) && isRegexpSpace(rest[j]) {
		j++
	}
	if j == 0 || j == len(rest) {
		return false
	}
	if rest[j] == '[' {
		return true
	}
	k := j
	for k < len(rest) && isASCIIWord(rest[k]) {
		k++
	}
	return k > j && k < len(rest) && rest[k] == ':'
}

// warningExpr is the expression of the warning rule.
var warningExpr = regexp.MustCompile(`(?i)\bwarn(?:ing)?s?\b`)

// warningWord matches the word warn, warns, warning or warnings in any
// case. On a line that is not ASCII, where its lower case may not keep
// its offsets, it runs the expression.
func warningWord(t, lower string) bool {
	if !asciiString(t) {
		return warningExpr.MatchString(t)
	}
	for from := 0; ; {
		i := strings.Index(lower[from:], "warn")
		if i < 0 {
			return false
		}
		i += from
		from = i + 1
		if i > 0 && isASCIIWord(lower[i-1]) {
			continue
		}
		rest := lower[i+4:]
		for _, end := range [...]int{0, 1, 3, 4} {
			switch end {
			case 1:
				if !strings.HasPrefix(rest, "s") {
					continue
				}
			case 3:
				if !strings.HasPrefix(rest, "ing") {
					continue
				}
			case 4:
				if !strings.HasPrefix(rest, "ings") {
					continue
				}
			}
			if end == len(rest) || !isASCIIWord(rest[end]) {
				return true
			}
		}
	}
}
