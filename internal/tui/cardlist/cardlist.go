// Package cardlist is the ranked list of triage cards: one row per card (or
// per message hash when grouped) with its rank, severity, confidence,
// recurrence, history, job, line and message, a cursor and a window that
// scrolls to keep it visible. Only the visible rows are drawn, so a frame
// costs the same for ten cards or ten thousand.
package cardlist

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/destill-ci/destill/internal/tui/findings"
	"github.com/destill-ci/destill/internal/tui/theme"
)

// Model is the list. The zero value is empty; give it a theme and a size.
type Model struct {
	Theme   *theme.Theme
	Grouped bool
	// Search is highlighted in messages when not empty.
	Search string

	rows          []findings.Row
	cursor        int
	offset        int
	width, height int

	// Widest rank and line numbers of the rows, and whether any row has
	// a history: the columns are sized to them.
	maxRank, maxLine, maxJob int
	history                  bool
}

// New returns an empty list drawn with th.
func New(th *theme.Theme) Model { return Model{Theme: th} }

// SetSize sets the area the list draws in, heading included.
func (m *Model) SetSize(width, height int) {
	m.width, m.height = width, height
	m.clamp()
}

// SetRows replaces the rows, keeping the cursor on the card it was on (or
// on a card of the same hash) when it is still listed.
func (m *Model) SetRows(rows []findings.Row) {
	var cur *findings.Card
	if r, ok := m.Selected(); ok {
		cur = r.Card
	}
	m.rows = rows
	m.maxRank, m.maxLine, m.maxJob, m.history = 0, 0, 0, false
	jobs := map[string]bool{}
	for _, r := range rows {
		m.maxRank = max(m.maxRank, r.Rank)
		m.maxLine = max(m.maxLine, r.Card.Raw.LineNumber)
		m.history = m.history || r.Card.History != nil
		if !jobs[r.Card.JobName] {
			jobs[r.Card.JobName] = true
			w := ansi.StringWidth(ShortJob(r.Card.JobName, 1<<20))
			if m.Grouped && len(r.Card.Jobs()) > 1 {
				w += 3 // " +N"
			}
			m.maxJob = max(m.maxJob, w)
		}
	}
	if cur != nil {
		m.cursor = m.find(cur)
	}
	m.clamp()
}

func (m *Model) find(c *findings.Card) int {
	sameHash := -1
	for i, r := range m.rows {
		if r.Card == c {
			return i
		}
		if sameHash < 0 && c.Hash != "" && r.Card.Hash == c.Hash {
			sameHash = i
		}
	}
	if sameHash >= 0 {
		return sameHash
	}
	return min(m.cursor, max(0, len(m.rows)-1))
}

// Rows are the listed rows.
func (m *Model) Rows() []findings.Row { return m.rows }

// Len is the number of rows.
func (m *Model) Len() int { return len(m.rows) }

// Cursor is the index of the selected row.
func (m *Model) Cursor() int { return m.cursor }

// Selected returns the row under the cursor.
func (m *Model) Selected() (findings.Row, bool) {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return findings.Row{}, false
	}
	return m.rows[m.cursor], true
}

// Move moves the cursor by delta rows, stopping at the ends.
func (m *Model) Move(delta int) {
	m.cursor += delta
	m.clamp()
}

// Select puts the cursor on row i.
func (m *Model) Select(i int) {
	m.cursor = i
	m.clamp()
}

// Top and Bottom move the cursor to the first and last rows.
func (m *Model) Top()    { m.Select(0) }
func (m *Model) Bottom() { m.Select(len(m.rows) - 1) }

// Page is the number of rows visible at once.
func (m *Model) Page() int { return max(1, m.height-1) }

// Scroll moves the window by delta rows without leaving the cursor out of
// it (the mouse wheel).
func (m *Model) Scroll(delta int) {
	m.offset = max(0, min(m.offset+delta, len(m.rows)-m.Page()))
	m.cursor = max(m.offset, min(m.cursor, m.offset+m.Page()-1))
	m.clamp()
}

// RowAt returns the row index drawn at line y of the list (0 is the
// heading), or -1.
func (m *Model) RowAt(y int) int {
	i := m.offset + y - 1
	if y < 1 || i >= len(m.rows) || i < 0 {
		return -1
	}
	return i
}

func (m *Model) clamp() {
	m.cursor = max(0, min(m.cursor, len(m.rows)-1))
	page := m.Page()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+page {
		m.offset = m.cursor - page + 1
	}
	m.offset = max(0, min(m.offset, len(m.rows)-page))
}

// columns are the widths of the fixed columns for the current width; zero
// hides a column.
type columns struct {
	rank, job, line, hist int
}

func (m *Model) columns() columns {
	c := columns{
		rank: len(strconv.Itoa(max(m.maxRank, 1))),
		job:  18,
		line: max(4, len(strconv.Itoa(m.maxLine))),
	}
	switch {
	case m.width >= 110:
		c.job = 24
	case m.width < 60:
		c.job, c.line = 8, 0
	}
	// No wider than the longest name shown.
	c.job = max(3, min(c.job, m.maxJob))
	if m.history {
		switch {
		case m.width >= 110:
			c.hist = 8 // "seen 12×"
		case m.width >= 84:
			c.hist = 4 // "new", "12×"
		}
	}
	return c
}

// View draws the heading and the visible rows, exactly height lines of at
// most width cells.
func (m Model) View() string {
	if m.height <= 0 || m.width <= 0 {
		return ""
	}
	th := m.Theme
	cols := m.columns()
	var b strings.Builder
	head := "  " + padLeft("#", cols.rank) + " SEV   CONF  REC "
	if cols.hist > 0 {
		head += pad("HIST", cols.hist) + " "
	}
	head += pad("JOB", cols.job) + " "
	if cols.line > 0 {
		head += padLeft("LINE", cols.line) + " "
	}
	head += "MESSAGE"
	b.WriteString(th.Header.Render(ansi.Truncate(pad(head, m.width), m.width, "")))
	end := min(len(m.rows), m.offset+m.Page())
	lines := 1
	for i := m.offset; i < end; i++ {
		b.WriteByte('\n')
		b.WriteString(m.row(i, cols))
		lines++
	}
	for ; lines < m.height; lines++ {
		b.WriteByte('\n')
	}
	return b.String()
}

func (m Model) row(i int, cols columns) string {
	th := m.Theme
	r := m.rows[i]
	c := r.Card
	selected := i == m.cursor
	cursor := "  "
	if selected {
		cursor = "> "
	}
	rankCell := padLeft(strconv.Itoa(r.Rank), cols.rank) + " "
	sev := c.Raw.Severity.String()
	if len(sev) > 5 {
		sev = sev[:5]
	}
	sevCell := th.Severity(c.Raw.Severity).Render(pad(sev, 5))
	conf := fmt.Sprintf(" %4.2f", c.Raw.ConfidenceScore)
	rec := c.Recurrence()
	recCell := "     "
	if rec > 1 {
		recCell = fmt.Sprintf(" %4s", "×"+compact(rec))
	}
	histCell := ""
	if cols.hist > 0 {
		histCell = " " + pad(historyMark(c.History, cols.hist), cols.hist)
	}
	job := ShortJob(c.JobName, cols.job)
	if m.Grouped {
		if n := len(c.Jobs()); n > 1 {
			more := fmt.Sprintf(" +%d", n-1)
			job = ShortJob(c.JobName, cols.job-len(more)) + more
		}
	}
	jobCell := " " + pad(job, cols.job) + " "
	lineCell := ""
	if cols.line > 0 {
		lineCell = padLeft(strconv.Itoa(c.Raw.LineNumber), cols.line) + " "
	}
	fixed := 2 + len(rankCell) + 5 + len(conf) + 5 + ansi.StringWidth(histCell) + cols.job + 2 + len(lineCell)
	msgW := max(0, m.width-fixed)
	msg := ansi.Truncate(c.Message, msgW, "…")
	if selected && !th.Plain {
		plain := cursor + rankCell + pad(sev, 5) + conf + recCell + histCell + jobCell + lineCell + pad(msg, msgW)
		return th.Selected.Render(ansi.Truncate(plain, m.width, ""))
	}
	if c.History != nil && !c.History.SeenBefore {
		histCell = th.Flash.Render(histCell)
	} else {
		histCell = th.Dim.Render(histCell)
	}
	msg = m.highlight(msg)
	out := cursor + th.Dim.Render(rankCell) + sevCell + th.Dim.Render(conf+recCell) + histCell + jobCell + th.Dim.Render(lineCell) + msg
	return ansi.Truncate(out, m.width, "")
}

// historyMark is the compact history of a card for a column w cells wide:
// "new" in this build, or "seen N×" (N builds), "N×" when narrow.
func historyMark(h *findings.History, w int) string {
	switch {
	case h == nil:
		return ""
	case !h.SeenBefore:
		return "new"
	}
	n := compact(int(min(h.Builds, 1<<31)))
	if s := "seen " + n + "×"; ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(n+"×", w, "")
}

// ShortJob fits a job name into w cells. A file path is shown by its base
// name; a name still too long loses its start, not its end, which is what
// tells similar names apart ("…jest-2545414624.log.gz").
func ShortJob(name string, w int) string {
	if w <= 0 {
		return ""
	}
	if strings.Contains(name, "/") {
		if base := path.Base(strings.TrimRight(name, "/")); base != "" && base != "." && base != "/" {
			name = base
		}
	}
	if n := ansi.StringWidth(name); n > w {
		name = ansi.TruncateLeft(name, n-w+1, "…")
	}
	return name
}

// highlight marks the first match of the search text in s.
func (m Model) highlight(s string) string {
	if m.Search == "" || m.Theme.Plain {
		return s
	}
	i := strings.Index(strings.ToLower(s), strings.ToLower(m.Search))
	if i < 0 || len(strings.ToLower(s)) != len(s) {
		return s
	}
	j := i + len(m.Search)
	return s[:i] + m.Theme.Match.Render(s[i:j]) + s[j:]
}

func compact(n int) string {
	if n < 1000 {
		return strconv.Itoa(n)
	}
	if n < 10000 {
		return fmt.Sprintf("%.1fk", float64(n)/1000)
	}
	return strconv.Itoa(n/1000) + "k"
}

func padLeft(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

func pad(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}
