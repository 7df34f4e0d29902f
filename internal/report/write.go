package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/sanitize"
)

// WriteJSON writes the findings as one JSON array.
func WriteJSON(w io.Writer, fs []Finding) error {
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(fs)
}

// WriteJSONL writes one finding a line, best first.
func WriteJSONL(w io.Writer, fs []Finding) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for i := range fs {
		if err := enc.Encode(&fs[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// TextOptions tunes WriteText.
type TextOptions struct {
	// Color renders severities in colour (ANSI SGR only).
	Color bool
	// Limit caps the findings shown; 0 shows all.
	Limit int
	// Context is how many lines before and after to show; default 3.
	Context int
	// Width truncates long lines; default 160.
	Width int
}

// WriteText writes the findings compactly for people.
func WriteText(w io.Writer, fs []Finding, opt TextOptions) error {
	if opt.Context == 0 {
		opt.Context = 3
	}
	if opt.Width == 0 {
		opt.Width = 160
	}
	bw := bufio.NewWriter(w)
	if len(fs) == 0 {
		fmt.Fprintln(bw, "No findings: no line in the logs looks like the cause of a failure.")
		return bw.Flush()
	}
	shown := fs
	if opt.Limit > 0 && len(shown) > opt.Limit {
		shown = shown[:opt.Limit]
	}
	for i, f := range shown {
		if i > 0 {
			fmt.Fprintln(bw)
		}
		sev := fmt.Sprintf("%-5s", f.Severity)
		if opt.Color {
			sev = colorOf(f.Severity) + sev + "\x1b[0m"
		}
		job := f.Job.Name
		if job == "" {
			job = f.Job.ID
		}
		fmt.Fprintf(bw, "#%d %s %.2f  %s:%d", i+1, sev, f.ConfidenceScore, Sanitize(job), f.LineNumber)
		if f.EndLine > f.LineNumber {
			fmt.Fprintf(bw, "-%d", f.EndLine)
		}
		if f.Recurrence > 1 {
			fmt.Fprintf(bw, "  ×%d", f.Recurrence)
			if len(f.Jobs) > 1 {
				fmt.Fprintf(bw, " in %d jobs", len(f.Jobs))
			}
		}
		fmt.Fprintf(bw, "  [%s]\n", shortHash(f.MessageHash))
		msg := clip(strings.TrimSpace(Sanitize(f.Message)), opt.Width)
		if opt.Color {
			msg = "\x1b[1m" + msg + "\x1b[0m"
		}
		fmt.Fprintf(bw, "  %s\n", msg)
		pre := f.PreContext
		if len(pre) > opt.Context {
			pre = pre[len(pre)-opt.Context:]
		}
		for k, l := range pre {
			writeLine(bw, " ", f.LineNumber-len(pre)+k, l, opt.Width)
		}
		anchor := AnchorText(f.TriageCard)
		writeLine(bw, ">", f.LineNumber, anchor, opt.Width)
		post := f.PostContext
		if len(post) > opt.Context {
			post = post[:opt.Context]
		}
		for k, l := range post {
			writeLine(bw, " ", f.LineNumber+1+k, l, opt.Width)
		}
		if k := keyLine(f.TriageCard, anchor); k >= len(post) {
			// The line that names the error lies further into the
			// finding (a traceback's last line): show it too.
			if k > len(post) {
				fmt.Fprintf(bw, "  %6s ┆\n", "")
			}
			writeLine(bw, ">", f.LineNumber+1+k, f.PostContext[k], opt.Width)
		}
		if f.ContextNote != "" && len(f.PostContext) <= opt.Context {
			fmt.Fprintf(bw, "  (%s)\n", Sanitize(f.ContextNote))
		}
	}
	if len(shown) < len(fs) {
		fmt.Fprintf(bw, "\n… %d more findings (--limit 0 shows all, --format json gives everything)\n", len(fs)-len(shown))
	}
	return bw.Flush()
}

// writeLine writes one numbered log line of a card, marked when mark is
// ">".
func writeLine(w io.Writer, mark string, n int, text string, width int) {
	text = clip(Sanitize(text), width)
	if text == "" {
		fmt.Fprintf(w, "%s %6d │\n", mark, n)
		return
	}
	fmt.Fprintf(w, "%s %6d │ %s\n", mark, n, text)
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func colorOf(s contracts.Severity) string {
	switch s {
	case contracts.SeverityFatal:
		return "\x1b[1;35m"
	case contracts.SeverityError:
		return "\x1b[1;31m"
	case contracts.SeverityWarn:
		return "\x1b[33m"
	default:
		return "\x1b[36m"
	}
}

func clip(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// Sanitize makes text from a log safe to print on a terminal: escape
// sequences and control characters are dropped, tabs become spaces (see
// package sanitize).
func Sanitize(s string) string { return sanitize.String(s) }

// keyLine is the index in c.PostContext of the line that names the error,
// when that is not the card's own line (anchor, its text) but a later line
// of its finding; -1 otherwise.
func keyLine(c contracts.TriageCard, anchor string) int {
	if c.EndLine <= c.LineNumber {
		return -1
	}
	msg := strings.TrimSpace(c.Message)
	if msg == strings.TrimSpace(anchor) {
		return -1
	}
	for k, l := range c.PostContext {
		if k >= c.EndLine-c.LineNumber {
			break
		}
		if strings.TrimSpace(l) == msg {
			return k
		}
	}
	return -1
}

// AnchorText is the cleaned text of a card's own line. Message is the line
// that names the error, which for a multi-line finding (a traceback) can be
// a later line; then the anchor's own line is cleaned from RawMessage.
func AnchorText(c contracts.TriageCard) string {
	if c.EndLine <= c.LineNumber {
		return c.Message
	}
	return analyze.CleanRaw(c.RawMessage)
}
