package analyze

import (
	"regexp"
	"strings"
)

// extendBlock returns the last line of the finding that starts at line i
// and the line whose text best names the error. Blocks span at most
// maxBlockLines lines after their first, so that the lines a finding
// depends on are in its context window.
func extendBlock(lines *chunkLines, i int, kind blockKind) (end, key int) {
	end, key = i, i
	limit := min(lines.n()-1, i+maxBlockLines)
	switch kind {
	case blockIndented, blockJava:
		blanks := 0
		for j := i + 1; j <= limit; j++ {
			t := lines.clean(j).text
			if strings.TrimSpace(t) == "" {
				blanks++
				if blanks > 1 {
					break
				}
				continue
			}
			if !continuation(t, kind) {
				break
			}
			blanks = 0
			end = j
		}
	case blockTraceback:
		// The first unindented line names the exception. A traceback
		// too deep to end in the block is named by its last frame
		// shown ("File …, line N, in f"): the header alone would group
		// every such traceback.
		frame := -1
		for j := i + 1; j <= limit; j++ {
			t := lines.clean(j).text
			if t == "" {
				continue
			}
			if t[0] == ' ' || t[0] == '\t' {
				end = j
				if strings.HasPrefix(strings.TrimLeft(t, " \t"), "File \"") {
					frame = j
				}
				continue
			}
			end, key, frame = j, j, -1
			break
		}
		if key == i && frame >= 0 {
			key = frame
		}
	case blockPytest:
		// The section runs to the next section or summary line; its first
		// "E " line names the error.
		for j := i + 1; j <= limit; j++ {
			t := lines.clean(j).text
			if strings.HasPrefix(t, "___") || strings.HasPrefix(t, "===") {
				break
			}
			if key == i && strings.HasPrefix(t, "E ") {
				key = j
			}
			if t != "" {
				end = j
			}
		}
	case blockPrefixE:
		for j := i + 1; j <= limit; j++ {
			t := lines.clean(j).text
			if !strings.HasPrefix(t, "E ") && t != "E" {
				break
			}
			end = j
		}
	}
	return end, key
}

// continuation reports whether t continues a multi-line finding: indented
// detail, a compiler's gutter and caret lines, or a stack frame.
func continuation(t string, kind blockKind) bool {
	if t[0] == ' ' || t[0] == '\t' {
		return true
	}
	if kind == blockJava {
		return strings.HasPrefix(t, "Caused by: ") || strings.HasPrefix(t, "at ")
	}
	switch {
	case t[0] == '|' || t[0] == '^' || t[0] == '~':
		return true
	case strings.HasPrefix(t, "-->") || strings.HasPrefix(t, "= "):
		return true
	}
	// "12 |  code" gutter lines.
	k := 0
	for k < len(t) && isDigit(t[k]) {
		k++
	}
	return k > 0 && k+1 < len(t) && t[k] == ' ' && t[k+1] == '|'
}

// announce decides line i from the line before it when that line announces
// an error whose detail line i gives: "rake aborted!" then the reason, R CMD
// check's "* checking package dependencies ... ERROR" then what is wrong,
// or a bare "ERROR" status after the name of the step that failed. Such a
// line becomes a cause unless it is one already; m and ok are what the
// rules say about it.
func announce(lines *chunkLines, i int, m match, ok bool) (match, bool) {
	if ok && m.class == classCause || i == 0 {
		return m, ok
	}
	if firstListed(lines, i) {
		return match{rule: "numbered-fail", sev: sevError, score: 0.85, class: classCause}, true
	}
	if !ok && announced(lines, i) || announcedStatus(lines, i) {
		return match{rule: "announced-error", sev: sevError, score: 0.85, class: classCause}, true
	}
	return m, ok
}

// firstListed reports whether line i is the first item ("1) …") of a list
// of failures that the line before it, or the one before a blank line,
// announces: PHPUnit's "There were 2 errors:", mocha's "3 failing".
func firstListed(lines *chunkLines, i int) bool {
	if !strings.Contains(lines.raw(i), "1) ") {
		return false
	}
	cur := strings.TrimSpace(lines.clean(i).text)
	if !strings.HasPrefix(cur, "1) ") || len(cur) == len("1) ") {
		return false
	}
	j := i - 1
	if j > 0 && blankLine(lines, j) {
		j--
	}
	return listHeaderLine(lines, j)
}

// listHeaderLine reports whether line i announces a list of failures.
func listHeaderLine(lines *chunkLines, i int) bool {
	t := strings.TrimSpace(lines.clean(i).text)
	if !strings.HasSuffix(t, ":") && !strings.HasSuffix(t, "failing") {
		return false
	}
	return listHeader.MatchString(t)
}

var listHeader = regexp.MustCompile(`^(?:There (?:was|were) \d+ (?:failures?|errors?):|\d+ failing)$`)

// blankLine reports whether line i holds nothing once cleaned.
func blankLine(lines *chunkLines, i int) bool {
	return strings.TrimSpace(lines.clean(i).text) == ""
}

// announcedStatus reports whether the line before i is a status of ERROR
// that leaves the detail to line i.
func announcedStatus(lines *chunkLines, i int) bool {
	if !strings.Contains(lines.raw(i-1), "ERROR") {
		return false
	}
	prev := strings.TrimSpace(lines.clean(i - 1).text)
	if prev != "ERROR" && !(strings.HasPrefix(prev, "* ") && strings.HasSuffix(prev, " ... ERROR")) {
		return false
	}
	cur := strings.TrimSpace(lines.clean(i).text)
	if cur == "" || strings.HasPrefix(cur, "* ") || cur == "ERROR" {
		return false
	}
	return true
}
