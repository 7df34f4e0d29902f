package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/tui/findings"
)

// osc52 is the sequence that asks the terminal to put text on the system
// clipboard. It travels with the output, so it works over SSH, and tmux
// passes it on (set-clipboard on|external).
func osc52(text string) string {
	return "\x1b]52;c;" + base64.StdEncoding.EncodeToString([]byte(text)) + "\a"
}

func (m *model) writeClipboard(what, text string) tea.Cmd {
	w := m.clip
	if w == nil {
		return func() tea.Msg { return flashMsg("no terminal to copy through") }
	}
	return func() tea.Msg {
		if _, err := io.WriteString(w, osc52(text)); err != nil {
			return flashMsg("copy failed: " + err.Error())
		}
		return flashMsg(fmt.Sprintf("copied %s to the clipboard (OSC 52, %d bytes)", what, len(text)))
	}
}

func (m *model) copyMessage() tea.Cmd {
	c, ok := m.selected()
	if !ok {
		m.flash = "no card selected"
		return nil
	}
	return m.writeClipboard("message", c.Message)
}

func (m *model) copyCard() tea.Cmd {
	c, ok := m.selected()
	if !ok {
		m.flash = "no card selected"
		return nil
	}
	return m.writeClipboard("card", cardText(c))
}

// cardText is a card as plain text, for the clipboard. Its strings are the
// sanitized ones: pasting it into a terminal is harmless.
func cardText(c *findings.Card) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (confidence %.2f", c.Raw.Severity, c.Raw.ConfidenceScore)
	if n := c.Recurrence(); n > 1 {
		fmt.Fprintf(&b, ", ×%d", n)
	}
	fmt.Fprintf(&b, ") job %s, line %d, hash %s\n", c.JobName, c.Raw.LineNumber, c.Hash)
	fmt.Fprintf(&b, "%s\n", c.Message)
	if c.JobURL != "" {
		fmt.Fprintf(&b, "%s\n", c.JobURL)
	}
	if c.History != nil {
		fmt.Fprintf(&b, "history: %s\n", c.History)
	}
	if c.ContextNote != "" {
		fmt.Fprintf(&b, "note: %s\n", c.ContextNote)
	}
	b.WriteByte('\n')
	writeContext(&b, c, "")
	return b.String()
}

// writeContext writes the card's log lines with line numbers, the finding's
// own lines marked with '>'.
func writeContext(b *strings.Builder, c *findings.Card, indent string) {
	last := c.Raw.LineNumber + len(c.Post)
	digits := len(strconv.Itoa(max(last, 1)))
	first := c.Raw.LineNumber - len(c.Pre)
	line := func(n int, text string, hit bool) {
		mark := " "
		if hit {
			mark = ">"
		}
		fmt.Fprintf(b, "%s%s %*d | %s\n", indent, mark, digits, n, text)
	}
	for i, l := range c.Pre {
		line(first+i, l, false)
	}
	line(c.Raw.LineNumber, c.Line, true)
	extra := c.Raw.EndLine - c.Raw.LineNumber
	for i, l := range c.Post {
		line(c.Raw.LineNumber+1+i, l, i < extra)
	}
}

// lineURL is the job's page at the card's line where the CI system has line
// anchors (Buildkite: <build>#<job-id>/<line>[-<end>]); otherwise the job's
// page. It returns "" for a job without an http(s) page.
func lineURL(c contracts.TriageCard) string {
	if sanitize.String(c.Job.URL) != c.Job.URL {
		return ""
	}
	u, err := url.Parse(c.Job.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	if strings.HasSuffix(u.Host, "buildkite.com") && c.Job.ID != "" && c.LineNumber > 0 && safeFragment(c.Job.ID) {
		frag := c.Job.ID + "/" + strconv.Itoa(c.LineNumber)
		if c.EndLine > c.LineNumber {
			frag += "-" + strconv.Itoa(c.EndLine)
		}
		u.Fragment = frag
	}
	return u.String()
}

// safeFragment reports whether a job id can go into a URL fragment as it is.
func safeFragment(id string) bool {
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (m *model) browse() tea.Cmd {
	c, ok := m.selected()
	if !ok {
		m.flash = "no card selected"
		return nil
	}
	target := lineURL(c.Raw)
	if target == "" {
		m.flash = fmt.Sprintf("job %s has no web page (line %d)", c.JobName, c.Raw.LineNumber)
		return nil
	}
	open := m.opts.OpenURL
	if open == nil {
		open = openBrowser
	}
	ctx := m.ctx
	line := c.Raw.LineNumber
	return func() tea.Msg {
		if err := open(ctx, target); err != nil {
			return flashMsg("could not open the browser: " + err.Error())
		}
		return flashMsg(fmt.Sprintf("opened %s (line %d)", target, line))
	}
}

// openBrowser starts the desktop's URL opener without waiting for the
// browser, its output kept off the terminal.
func openBrowser(_ context.Context, target string) error {
	name, args := "xdg-open", []string{target}
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", target}
	}
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

type exportFormat int

const (
	formatJSON exportFormat = iota
	formatMarkdown
)

// exportDoc is the JSON export of the current view.
type exportDoc struct {
	Title      string      `json:"title,omitempty"`
	ExportedAt time.Time   `json:"exported_at"`
	View       exportView  `json:"view"`
	Rows       []exportRow `json:"rows"`
}

type exportView struct {
	Grouped     bool   `json:"grouped"`
	Sort        string `json:"sort"`
	JobID       string `json:"job_id,omitempty"`
	MinSeverity string `json:"min_severity,omitempty"`
	Search      string `json:"search,omitempty"`
}

type exportRow struct {
	// Rank is the row's place in rank order, the order of `destill run
	// --format json` (grouped) or of every occurrence; the rows follow the
	// view's sort.
	Rank int `json:"rank"`
	// Count is how many cards the row stands for in the view.
	Count int `json:"count"`
	// Recurrence is how many cards of the request share the hash.
	Recurrence int                  `json:"recurrence"`
	Jobs       []string             `json:"jobs"`
	Card       contracts.TriageCard `json:"card"`
}

func (m *model) export(f exportFormat) tea.Cmd {
	rows := append([]findings.Row(nil), m.list.Rows()...)
	q := m.query
	now := m.opts.Now()
	dir := m.opts.ExportDir
	title := m.opts.Title
	return func() tea.Msg {
		ext, data, err := "json", []byte(nil), error(nil)
		if f == formatJSON {
			data, err = exportJSON(title, now, q, rows)
		} else {
			ext, data = "md", exportMarkdown(title, now, q, rows)
		}
		if err != nil {
			return flashMsg("export failed: " + err.Error())
		}
		name := filepath.Join(dir, "destill-"+now.Format("20060102-150405")+"."+ext)
		if abs, err := filepath.Abs(name); err == nil {
			name = abs
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			return flashMsg("export failed: " + err.Error())
		}
		return flashMsg(fmt.Sprintf("exported %d rows to %s", len(rows), name))
	}
}

func viewOf(q findings.Query) exportView {
	v := exportView{Grouped: q.Grouped, Sort: q.Sort.String(), JobID: q.JobID, Search: q.Search}
	if q.MinSeverity > contracts.SeverityUnknown {
		v.MinSeverity = q.MinSeverity.String()
	}
	return v
}

func exportJSON(title string, now time.Time, q findings.Query, rows []findings.Row) ([]byte, error) {
	doc := exportDoc{Title: title, ExportedAt: now.UTC(), View: viewOf(q), Rows: make([]exportRow, 0, len(rows))}
	for _, r := range rows {
		doc.Rows = append(doc.Rows, exportRow{Rank: r.Rank, Count: r.Count, Recurrence: r.Card.Recurrence(), Jobs: r.Card.Jobs(), Card: r.Card.Raw})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// exportMarkdown writes the view as Markdown. Log text is the sanitized
// text, in indented code blocks so no backtick in a log can end them.
func exportMarkdown(title string, now time.Time, q findings.Query, rows []findings.Row) []byte {
	var b strings.Builder
	b.WriteString("# destill triage")
	if title != "" {
		b.WriteString(": " + mdEscape(sanitize.String(title)))
	}
	b.WriteString("\n\n")
	v := viewOf(q)
	fmt.Fprintf(&b, "Exported %s. View: grouped=%t, sort=%s", now.UTC().Format(time.RFC3339), v.Grouped, v.Sort)
	if v.JobID != "" {
		fmt.Fprintf(&b, ", job=%s", mdEscape(sanitize.String(v.JobID)))
	}
	if v.MinSeverity != "" {
		fmt.Fprintf(&b, ", severity≥%s", v.MinSeverity)
	}
	if v.Search != "" {
		fmt.Fprintf(&b, ", search=%s", mdEscape(sanitize.String(v.Search)))
	}
	fmt.Fprintf(&b, ". %d rows.\n", len(rows))
	for i, r := range rows {
		c := r.Card
		fmt.Fprintf(&b, "\n## %d. %s: %s\n\n", i+1, c.Raw.Severity, mdEscape(c.Message))
		if q.Sort != findings.ByRank {
			fmt.Fprintf(&b, "- rank: #%d\n", r.Rank)
		}
		fmt.Fprintf(&b, "- confidence: %.2f\n", c.Raw.ConfidenceScore)
		fmt.Fprintf(&b, "- job: %s, line %d\n", mdEscape(c.JobName), c.Raw.LineNumber)
		if n := c.Recurrence(); n > 1 {
			fmt.Fprintf(&b, "- recurrence: %d in %s\n", n, mdEscape(strings.Join(c.Jobs(), ", ")))
		}
		fmt.Fprintf(&b, "- hash: `%s`\n", strings.ReplaceAll(c.Hash, "`", ""))
		if u := lineURL(c.Raw); u != "" {
			fmt.Fprintf(&b, "- link: <%s>\n", u)
		}
		if c.History != nil {
			fmt.Fprintf(&b, "- history: %s\n", mdEscape(c.History.String()))
		}
		if c.ContextNote != "" {
			fmt.Fprintf(&b, "- note: %s\n", mdEscape(c.ContextNote))
		}
		b.WriteString("\n")
		writeContext(&b, c, "    ")
	}
	return []byte(b.String())
}

var mdEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`, "#", `\#`, "|", `\|`)

func mdEscape(s string) string { return mdEscaper.Replace(s) }
