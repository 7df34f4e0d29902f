package analyze

import (
	"regexp"
	"strings"
	"unicode/utf8"

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
	{"zero-count", regexp.MustCompile(`(?i)^(?:.*[^\w.])?(?:0|no) (?:errors?|failures?|failed|failing|warnings?)(?:\W|$)|(?i)(?:errors?|failures?|failed|warnings?)[=:] ?0(?:\D|$)`), sevInfo, 0, classNoise, blockNone, false, []string{"0", "no "}},
	{"zero-exit", regexp.MustCompile(`(?i)(?:exited with|exit code|exit status|returned) 0\.?$`), sevInfo, 0, classNoise, blockNone, false, []string{"0"}},
	{"passing-test", regexp.MustCompile(`(?i)^(?:--- )?(?:ok|pass(?:ed)?)\b|\.\.\. (?:ok|passed|skipped)$|✓|✔`), sevInfo, 0, classNoise, blockNone, false, []string{"ok", "pass", "skipped", "✓", "✔"}},
	{"deprecation", regexp.MustCompile(`(?i)deprecat`), sevInfo, 0.05, classNoise, blockNone, false, []string{"deprecat"}},

	// Language and tool formats.
	{"go-panic", regexp.MustCompile(`^panic: `), sevFatal, 0.95, classCause, blockIndented, false, nil},
	{"rust-panic", regexp.MustCompile(`^thread '[^']*' panicked at`), sevFatal, 0.92, classCause, blockIndented, false, nil},
	{"runtime-fatal", regexp.MustCompile(`^fatal error: `), sevFatal, 0.9, classCause, blockIndented, false, nil},
	{"go-test-fail", regexp.MustCompile(`^--- FAIL: `), sevError, 0.9, classCause, blockIndented, false, nil},
	{"bare-status", regexp.MustCompile(`^(?:FAIL|FAILED|ERROR)$`), sevInfo, 0, classNoise, blockNone, false, nil},
	{"go-package-fail", regexp.MustCompile(`^FAIL\t\S+\t`), sevError, 0.3, classEcho, blockNone, false, nil},
	{"go-package-build-fail", regexp.MustCompile(`^FAIL\s+\S+\s+\[(?:build|setup) failed\]`), sevError, 0.35, classEcho, blockNone, false, nil},
	{"compiler-error", regexp.MustCompile(`^(?:In file included from )?(?:[A-Za-z]:)?[^\s:]*[^\s:\d][^\s:]*:\d+(?::\d+)?:?\s*(?:fatal error|error|Error|ERROR)(?:\[\w+\])?:? `), sevError, 0.9, classCause, blockIndented, false, nil},
	{"msvc-error", regexp.MustCompile(`^\S+\(\d+(?:,\d+)?\): (?:fatal )?error \w+:`), sevError, 0.9, classCause, blockIndented, false, nil},
	{"javac-error", regexp.MustCompile(`^\[ERROR\] (?:[A-Za-z]:)?[/\\]\S+:\[\d+(?:,\d+)?\]`), sevError, 0.9, classCause, blockIndented, false, nil},
	{"kotlin-error", regexp.MustCompile(`^e: \S+\.kts?:`), sevError, 0.9, classCause, blockIndented, false, nil},
	{"rust-echo", regexp.MustCompile(`^error: (?:could not compile|aborting due to|build failed|test failed|Could not compile)`), sevError, 0.3, classEcho, blockNone, false, nil},
	{"rust-error", regexp.MustCompile(`^error(?:\[E\d{4}\])?: `), sevError, 0.88, classCause, blockIndented, true, nil},
	{"ld-undefined", regexp.MustCompile(`undefined reference to|Undefined symbols for architecture|undefined symbol: `), sevError, 0.85, classCause, blockIndented, false, []string{"undefined"}},
	{"ld-echo", regexp.MustCompile(`^(?:collect2: error: ld returned|\S+: error: linker command failed|ld: symbol\(s\) not found)`), sevError, 0.3, classEcho, blockNone, false, []string{"collect2", "linker command", "ld: "}},
	{"make-no-rule", regexp.MustCompile(`^g?make(?:\[\d+\])?: \*\*\* No rule to make target`), sevError, 0.85, classCause, blockNone, false, nil},
	{"make-echo", regexp.MustCompile(`^(?:(?:g?make|ninja|mingw32-make)(?:\[\d+\])?: \*\*\*|ninja: build stopped|FAILED: )`), sevError, 0.3, classEcho, blockNone, false, nil},
	{"lint-error", regexp.MustCompile(`^\d+:\d+\s+error\s+\S`), sevError, 0.85, classCause, blockNone, false, nil},
	{"test-status-fail", regexp.MustCompile(`\S(?:\[FAIL(?:ED)?\]|\.{3} ?(?:FAIL(?:ED)?|ERROR)|\s{2,}FAIL(?:ED)?)$`), sevError, 0.8, classCause, blockIndented, false, []string{"fail", "error"}},
	{"cargo-test-fail", regexp.MustCompile(`^test \S+ \.\.\. FAILED$`), sevError, 0.85, classCause, blockNone, false, nil},
	{"test-summary", regexp.MustCompile(`(?i)^(?:test result: FAILED|Tests:\s+\d+ failed|\d+ tests? completed, \d+ failed|FAILED \((?:failures|errors)=|FAILURES!|Tests run: \d+, Failures: \d+|\d+ examples?, \d+ failures?|=+ .*\b\d+ (?:failed|errors?)\b|\s*\d+ failing$|Failed tests:|There (?:was|were) \d+ (?:failures?|errors?):|ERRORS!$|Failures:$|failures:$)`), sevError, 0.4, classEcho, blockNone, false, nil},
	{"unittest-fail", regexp.MustCompile(`^(?:FAIL|ERROR): \w+ \([\w.]+\)`), sevError, 0.9, classCause, blockNone, false, nil},
	{"pytest-section", regexp.MustCompile(`^_{3,} (?:Test\w*|test\w*|\S+::\S+|\S+\.test\w*)(?:\[.*\])? _{3,}$`), sevError, 0.85, classCause, blockPytest, true, nil},
	{"pytest-e", regexp.MustCompile(`^E {2,}.*(?i:error|exception|assert|fail)`), sevError, 0.85, classCause, blockPrefixE, false, []string{"e "}},
	{"pytest-failed", regexp.MustCompile(`^FAILED \S+::\S+`), sevError, 0.7, classCause, blockNone, false, nil},
	{"traceback", regexp.MustCompile(`^Traceback \(most recent call last\):`), sevError, 0.8, classCause, blockTraceback, false, nil},
	{"java-exception", regexp.MustCompile(`^(?:Exception in thread "[^"]*" )?(?:[a-z][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error)(?::|$)`), sevError, 0.85, classCause, blockJava, false, nil},
	{"caused-by", regexp.MustCompile(`^Caused by: `), sevError, 0.75, classCause, blockJava, false, nil},
	{"exception", regexp.MustCompile(`^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Failure)(?::\s|$)`), sevError, 0.85, classCause, blockJava, false, nil},
	{"surefire-fail", regexp.MustCompile(`Tests run: \d+, Failures: \d+, Errors: \d+.*<<< (?:FAILURE|ERROR)!`), sevError, 0.8, classCause, blockNone, false, []string{"tests run:"}},
	{"maven-test-list", regexp.MustCompile(`^(?:\[ERROR\]\s+\S+[.:#]\w+[:(]\d+|\[ERROR\]\s+\w+\.\w+:\d+ )`), sevError, 0.75, classCause, blockNone, false, nil},
	{"maven-noise", regexp.MustCompile(`^(?:\[ERROR\]\s*$|\[ERROR\] (?:-> \[Help|Re-run Maven|For more information|To see the full stack|\[Help \d|After correcting the problems|\s*mvn <args>|Failures:|Errors:|Tests run:))`), sevError, 0.1, classNoise, blockNone, false, nil},
	{"maven-goal", regexp.MustCompile(`^\[ERROR\] Failed to execute goal`), sevError, 0.5, classEcho, blockNone, false, nil},
	{"build-failure", regexp.MustCompile(`^(?:(?:\[\w+\] )?BUILD FAILURE|FAILURE: Build failed|BUILD FAILED)`), sevError, 0.3, classEcho, blockNone, false, nil},
	{"gradle-task", regexp.MustCompile(`^> Task \S+ FAILED`), sevError, 0.45, classEcho, blockNone, false, nil},
	{"gradle-test", regexp.MustCompile(`^\S+ > .+ FAILED$`), sevError, 0.85, classCause, blockIndented, false, nil},
	{"jest-title", regexp.MustCompile(`^● (?:[^C]|C[^o]|Co[^n])`), sevError, 0.85, classCause, blockNone, false, nil},
	{"test-cross", regexp.MustCompile(`^(?:✕|✗|✖|✘|×) `), sevError, 0.8, classCause, blockNone, false, nil},
	{"rspec", regexp.MustCompile(`^Failure/Error: `), sevError, 0.85, classCause, blockIndented, false, nil},
	{"tap-not-ok", regexp.MustCompile(`^not ok \d+`), sevError, 0.8, classCause, blockIndented, false, nil},
	{"npm-echo", regexp.MustCompile(`^(?:npm (?:ERR!|error) (?:\S+@\S+ [\w:.-]+: |code |errno |syscall |path |Exit status|Failed at the|This is probably|A complete log|Tell the author|You can get|Make sure you|\s*$|\s+/|.*npm-debug\.log|.*/_logs/)|error Command failed with exit code|ELIFECYCLE|ERR_PNPM_\w+.*exit code)`), sevError, 0.25, classEcho, blockNone, false, nil},
	{"npm-error", regexp.MustCompile(`^npm (?:ERR!|error) `), sevError, 0.6, classGeneric, blockNone, false, nil},
	{"command-not-found", regexp.MustCompile(`command not found|: not found$|is not recognized as an internal or external command`), sevError, 0.85, classCause, blockNone, false, []string{"not found", "not recognized"}},
	{"k8s", regexp.MustCompile(`ImagePullBackOff|ErrImagePull|CrashLoopBackOff|OOMKilled`), sevFatal, 0.85, classCause, blockNone, false, []string{"backoff", "errimagepull", "oomkilled"}},
	{"killed", regexp.MustCompile(`(?i)exit code 137|signal: killed|^killed$|out of memory|the runner has received a shutdown signal|killed by signal`), sevFatal, 0.75, classCause, blockNone, false, []string{"137", "killed", "out of memory", "shutdown signal"}},
	{"segfault", regexp.MustCompile(`(?i)segmentation fault|core dumped|^aborted$`), sevFatal, 0.8, classCause, blockNone, false, []string{"segmentation", "core dumped", "aborted"}},
	{"timeout", regexp.MustCompile(`(?i)no output has been received in the last|exceeded the maximum (?:time|execution time)|has exceeded the maximum execution time|timed out|job's log exceeded|time limit`), sevError, 0.7, classCause, blockNone, false, []string{"no output", "exceeded", "timed out", "time limit"}},
	{"ci-echo", regexp.MustCompile(`Process completed with exit code \d+|^The command ".*" (?:failed and )?exited with \d+|^🚨 Error: The command exited with status|^(?:Error: )?Command failed with exit code|exit status \d+$|exited with code \d+|returned non-zero exit status|failed with exit code \d+`), sevError, 0.3, classEcho, blockNone, false, []string{"exit", "returned non-zero"}},
	{"cancelled", regexp.MustCompile(`(?i)the operation was cancell?ed|build was cancell?ed|job was cancell?ed|the job was not started`), sevError, 0.45, classCause, blockNone, false, []string{"cancel", "not started"}},
	{"git-fatal", regexp.MustCompile(`^fatal: `), sevFatal, 0.8, classCause, blockNone, false, nil},
	{"shell-error", regexp.MustCompile(`No such file or directory|Permission denied|Connection refused|Could not resolve host`), sevError, 0.6, classGeneric, blockNone, false, []string{"no such file", "permission denied", "connection refused", "could not resolve"}},
	{"file-location", regexp.MustCompile(`^(?:[A-Za-z]:)?[\w./\\-]+\.\w+:\d+(?::\d+)?: `), sevError, 0.55, classGeneric, blockIndented, true, nil},
	{"error-prefix", regexp.MustCompile(`^(?:\[(?:ERROR|error|Error|FATAL|fatal)\]|ERROR|Error|error|FATAL|Fatal|E/\w+)(?:[:!]| -|\s+\[|\s+\w+:)`), sevError, 0.65, classGeneric, blockIndented, false, nil},
	{"fail-prefix", regexp.MustCompile(`^(?:FAIL|FAILED|Failed|FAILURE|Failure)\b`), sevError, 0.6, classGeneric, blockIndented, false, nil},
	{"warning", regexp.MustCompile(`(?i)\bwarn(?:ing)?s?\b`), sevWarn, 0.1, classNoise, blockNone, false, []string{"warn"}},
}

// failureWords are the words that make an otherwise unknown line an error.
var failureWords = []string{"error", "errors", "fail", "failed", "failure", "failures", "failing", "fatal", "panic", "exception", "abort", "aborted"}

// rulePrefix is the literal that starts every line a rule matches, or "".
var rulePrefix = func() []string {
	p := make([]string, len(rules))
	for i, r := range rules {
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

// detect classifies a cleaned line; ok is false for lines worth nothing.
func detect(line string, mk marker) (match, bool) {
	t := strings.TrimLeft(line, " \t")
	if t == "" {
		return match{}, false
	}
	lower := strings.ToLower(t)
	for i := range rules {
		r := &rules[i]
		if r.col0 && len(t) != len(line) {
			continue
		}
		if p := rulePrefix[i]; p != "" && !strings.HasPrefix(t, p) {
			continue
		}
		if r.need != nil && !containsAny(lower, r.need) {
			continue
		}
		subject := t
		if r.name == "test-status-fail" && len(subject) > 24 {
			// The status ends the line: match its tail only.
			subject = subject[len(subject)-24:]
		}
		if r.re.MatchString(subject) {
			m := match{rule: r.name, sev: r.sev, score: r.score, class: r.class, block: r.block}
			return adjustForMarker(m, mk), true
		}
	}
	if w := failureWord(t); w != "" {
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
// -Werror, --fail-fast, errors.New).
func failureWord(t string) string {
	lower := strings.ToLower(t)
	for _, w := range failureWords {
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
