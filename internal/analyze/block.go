package analyze

import "strings"

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
		for j := i + 1; j <= limit; j++ {
			t := lines.clean(j).text
			if t == "" {
				continue
			}
			if t[0] == ' ' || t[0] == '\t' {
				end = j
				continue
			}
			// The first unindented line names the exception.
			end, key = j, j
			break
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
