// Package detail is the detail pane of one triage card: what it is (severity,
// confidence, recurrence, job, line, hash, message when it is not the
// card's own line, history across builds, context note) above the log around
// it, the lines before, the finding's own line(s) highlighted and the lines
// after, each with its line number. Long lines wrap, or scroll sideways when
// wrapping is off.
package detail

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/destill-ci/destill/internal/tui/findings"
	"github.com/destill-ci/destill/internal/tui/theme"
)

// Model is the detail pane. Its text comes from a findings.Card, whose
// strings are already sanitized.
type Model struct {
	Theme *theme.Theme
	// Search is highlighted in the log lines when not empty.
	Search string

	card          *findings.Card
	wrap          bool
	width, height int
	yoff, xoff    int

	head  []string // header lines, fixed at the top
	body  []string // log lines drawn for the current width, wrap and xoff
	hit   int      // index in body of the finding's first line
	lines []logLine
}

type logLine struct {
	n    int
	text string
	hit  bool
}

// New returns an empty pane that wraps long lines.
func New(th *theme.Theme) Model { return Model{Theme: th, wrap: true} }

// Card is the card shown, or nil.
func (m *Model) Card() *findings.Card { return m.card }

// SetCard shows c, scrolled so that its line is in view.
func (m *Model) SetCard(c *findings.Card) {
	if c == m.card {
		return
	}
	m.card = c
	m.xoff = 0
	m.lines = m.lines[:0]
	if c != nil {
		first := c.Raw.LineNumber - len(c.Pre)
		for i, l := range c.Pre {
			m.lines = append(m.lines, logLine{n: first + i, text: l})
		}
		m.lines = append(m.lines, logLine{n: c.Raw.LineNumber, text: c.Line, hit: true})
		extra := c.Raw.EndLine - c.Raw.LineNumber
		for i, l := range c.Post {
			m.lines = append(m.lines, logLine{n: c.Raw.LineNumber + 1 + i, text: l, hit: i < extra})
		}
	}
	m.render()
	m.centre()
}

// Refresh redraws the current card (after its recurrence changed).
func (m *Model) Refresh() { m.render() }

// SetSize sets the area the pane draws in.
func (m *Model) SetSize(width, height int) {
	if width == m.width && height == m.height {
		return
	}
	m.width, m.height = width, height
	m.render()
	m.centre()
}

// Wrap reports whether long lines wrap.
func (m *Model) Wrap() bool { return m.wrap }

// ToggleWrap switches between wrapping long lines and scrolling sideways.
func (m *Model) ToggleWrap() {
	m.wrap = !m.wrap
	m.xoff = 0
	m.render()
	m.centre()
}

// ScrollDown and ScrollUp move the log by n lines.
func (m *Model) ScrollDown(n int) { m.setY(m.yoff + n) }
func (m *Model) ScrollUp(n int)   { m.setY(m.yoff - n) }

// Top and Bottom scroll to the first and last log lines.
func (m *Model) Top()    { m.setY(0) }
func (m *Model) Bottom() { m.setY(len(m.body)) }

// ScrollRight and ScrollLeft move the log sideways by n cells when lines do
// not wrap.
func (m *Model) ScrollRight(n int) {
	if !m.wrap {
		m.xoff += n
		m.render()
	}
}

func (m *Model) ScrollLeft(n int) {
	if !m.wrap {
		m.xoff = max(0, m.xoff-n)
		m.render()
	}
}

// BodyHeight is the number of log lines visible at once.
func (m *Model) BodyHeight() int { return max(1, m.height-len(m.head)) }

func (m *Model) setY(y int) {
	m.yoff = max(0, min(y, len(m.body)-m.BodyHeight()))
}

// centre puts the finding's line a third of the way down the log area.
func (m *Model) centre() { m.setY(max(0, m.hit) - m.BodyHeight()/3) }

func (m *Model) render() {
	m.head = m.head[:0]
	m.body = m.body[:0]
	c := m.card
	if c == nil || m.width <= 0 {
		return
	}
	th := m.Theme
	w := m.width

	// Header.
	sev := th.Severity(c.Raw.Severity).Bold(true).Render(c.Raw.Severity.String())
	facts := fmt.Sprintf("  confidence %.2f", c.Raw.ConfidenceScore)
	if n := c.Recurrence(); n > 1 {
		facts += fmt.Sprintf("  ×%d in %d job%s", n, len(c.Jobs()), plural(len(c.Jobs())))
	}
	if c.Rule != "" {
		facts += "  rule " + c.Rule
	}
	m.addHead(sev + facts)
	lines := "line " + strconv.Itoa(c.Raw.LineNumber)
	if c.Raw.EndLine > c.Raw.LineNumber {
		lines += "–" + strconv.Itoa(c.Raw.EndLine)
	}
	outcome := ""
	if o := string(c.Raw.Job.Outcome); o != "" {
		outcome = " (" + o
		if c.Raw.Job.ExitStatus != nil {
			outcome += ", exit " + strconv.Itoa(*c.Raw.Job.ExitStatus)
		}
		outcome += ")"
	}
	// The job name goes last and, when the line is too narrow, loses its
	// start (a long file path keeps its file name); the hash always shows.
	lead := lines + "  " + th.Dim.Render("hash "+short(c.Hash, 16)) + "  job "
	room := w - ansi.StringWidth(lead) - ansi.StringWidth(outcome)
	m.addHead(lead + th.Bold.Render(elideStart(c.JobName, room)) + outcome)
	if c.JobURL != "" {
		m.addHead(th.Dim.Render(c.JobURL))
	}
	if c.Message != c.Line {
		// The message comes from another line than the finding's own
		// (the error a failed command reported, say).
		m.addHead("message: " + c.Message)
	}
	if h := c.History; h != nil {
		style := th.Dim
		if !h.SeenBefore {
			style = th.Flash
		}
		for _, l := range wrapWords("history: "+h.String(), m.width) {
			m.addHead(style.Render(l))
		}
	}
	if c.ContextNote != "" {
		m.addHead(th.Flash.Render("note: " + c.ContextNote))
	}
	if n := len(c.Jobs()); n > 1 {
		m.addHead(th.Dim.Render("also in: " + strings.Join(c.Jobs(), ", ")))
	}
	m.addHead(th.Rule.Render(strings.Repeat("─", w)))

	// Body.
	last := 0
	if n := len(m.lines); n > 0 {
		last = m.lines[n-1].n
	}
	digits := len(strconv.Itoa(max(last, 1)))
	textW := max(1, w-digits-3)
	m.hit = -1
	for _, l := range m.lines {
		num := fmt.Sprintf("%*d", digits, l.n)
		gutter := th.Dim.Render(num + " │ ")
		var style *lipgloss.Style
		if l.hit {
			if m.hit < 0 {
				m.hit = len(m.body)
			}
			hs := th.Severity(c.Raw.Severity).Bold(true)
			style = &hs
			gutter = hs.Render(num + " ▶ ")
		}
		var parts []string
		switch {
		case m.wrap && ansi.StringWidth(l.text) > textW:
			parts = strings.Split(ansi.Hardwrap(l.text, textW, true), "\n")
		case m.wrap:
			parts = []string{l.text}
		default:
			parts = []string{ansi.Cut(l.text, m.xoff, m.xoff+textW)}
		}
		for i, p := range parts {
			g := gutter
			if i > 0 {
				g = strings.Repeat(" ", digits) + th.Dim.Render(" ┆ ")
			}
			m.body = append(m.body, g+m.highlight(p, style))
		}
	}
}

func (m *Model) addHead(s string) {
	m.head = append(m.head, ansi.Truncate(s, m.width, "…"))
}

// highlight styles text, marking matches of the search text.
func (m *Model) highlight(text string, style *lipgloss.Style) string {
	render := func(s string) string {
		if style == nil || s == "" {
			return s
		}
		return style.Render(s)
	}
	q := strings.ToLower(m.Search)
	lower := strings.ToLower(text)
	if q == "" || m.Theme.Plain || len(lower) != len(text) {
		return render(text)
	}
	var b strings.Builder
	for {
		i := strings.Index(lower, q)
		if i < 0 {
			b.WriteString(render(text))
			return b.String()
		}
		b.WriteString(render(text[:i]))
		b.WriteString(m.Theme.Match.Render(text[i : i+len(q)]))
		text, lower = text[i+len(q):], lower[i+len(q):]
	}
}

// View draws the pane in exactly height lines of at most width cells.
func (m Model) View() string {
	if m.height <= 0 || m.width <= 0 {
		return ""
	}
	if m.card == nil {
		return strings.Repeat("\n", m.height-1)
	}
	out := make([]string, 0, m.height)
	out = append(out, m.head[:min(len(m.head), m.height)]...)
	end := min(len(m.body), m.yoff+m.BodyHeight())
	for i := m.yoff; i < end && len(out) < m.height; i++ {
		out = append(out, m.body[i])
	}
	for len(out) < m.height {
		out = append(out, "")
	}
	return strings.Join(out, "\n")
}

// wrapWords breaks s at spaces into lines of at most w cells (a longer
// word is cut when drawn).
func wrapWords(s string, w int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = word
		case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	return append(lines, line)
}

// elideStart shortens s to at most w cells by dropping its start.
func elideStart(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	if w <= 1 {
		return "…"
	}
	r := []rune(s)
	for i := range r {
		if ansi.StringWidth(string(r[i:])) <= w-1 {
			return "…" + string(r[i:])
		}
	}
	return "…"
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
