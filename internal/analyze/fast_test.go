package analyze

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFastMatchersAgree guards the byte-level matchers: on every fixture
// line, every corpus line that passes the prefilter and some hard cases,
// a rule's fast matcher agrees with its expression.
func TestFastMatchersAgree(t *testing.T) {
	var subjects []string
	add := func(raw string) {
		cleaned, _ := cleanLine(nil, raw)
		subjects = append(subjects, strings.TrimLeft(string(cleaned), " \t"))
	}
	for _, log := range fixtureLogs(t) {
		for _, l := range strings.Split(log, "\n") {
			add(l)
		}
	}
	p := newPrefilter()
	paths, _ := filepath.Glob(filepath.Join(corpusDir(), "logchunks", "logs", "*", "*", "failed", "*.log.gz"))
	for i, path := range paths {
		if i%7 != 0 {
			continue // a sample keeps the test quick
		}
		for _, l := range strings.Split(readGz(t, path), "\n") {
			if p.match([]byte(l)) {
				add(l)
			}
		}
	}
	for _, s := range []string{
		"0 errors", "No failures", "build: 0 errors, 2 warnings", "x.0 errors", "a0 errors", "0 errorsx", "errors=0", "Failures: 0", "failed: 01", "failing: 0",
		"no warning", "✖ 0 errors", "é0 errors", "0 failing", "warnings:0.",
		"exited with code 0", "exit code: 0.", "returned 0", "exited with 10", "Process completed with exit code 0.",
		"ok", "OK (3 tests)", "okay", "passed", "passes", "PASS src/a.test.js", "--- PASS: TestX", "ok€", "test_x ... ok", "x ... skipped", "✓ works",
		"** BUILD FAILED **", "** TEST FAILED ** later", "(2 failures)", "(x failures)", "Found 3 errors.", "unfound 3 errors", "logged 102 error(s)",
		"error: 2 errors generated.", "1 error generated.", "Error occurred while running", "Failing tests:", "FAILED TEST SUMMARY",
		"npm ERR! Test failed.  See above for more details.", "Error: One or more errors occurred.",
		"ERROR:", "ERROR", "[error] x", "[error]", "[Fatal] x", "[FATAL]: x", "E/Tag: x", "E/: x", "E/_x in y", "E/x", "E/x -", "Error  [x]", "Error \t foo_1: bar",
		"Error foo bar:", "ERROR in  x", "ERROR in é", "ERROR in ", "Fatal!", "FATAL -x", "fatal: x", "Errors: x", "error foo:",
		"warn", "Warnings.", "prewarn", "warned", "WARNINGS:", "warnſ", "\u212awarn", "warnings_x", "x-warn-y", "é warning", "warnin", "warnings warn", "WARN_x warn",
	} {
		add(s)
	}
	guarded := 0
	for i, f := range ruleFirst {
		if f == nil {
			continue
		}
		guarded++
		for _, s := range subjects {
			if s != "" && !f.has(s[0]) && rules[i].re.MatchString(s) {
				t.Errorf("rule %s matches %q, but its first-byte guard rejects it", rules[i].name, s)
			}
		}
	}
	if guarded < 20 {
		t.Errorf("only %d rules have a first-byte guard, want at least 20", guarded)
	}
	checked := 0
	for i := range rules {
		r := &rules[i]
		if r.re == nil || r.fn == nil {
			continue
		}
		for _, s := range subjects {
			lower := strings.ToLower(s)
			if got, want := r.fn(s, lower), r.re.MatchString(s); got != want {
				t.Errorf("rule %s: fast matcher(%q) = %v, expression = %v", r.name, s, got, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no rule has a fast matcher")
	}
}
