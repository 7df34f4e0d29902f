package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/tui/cardlist"
	"github.com/destill-ci/destill/internal/tui/detail"
	"github.com/destill-ci/destill/internal/tui/findings"
	"github.com/destill-ci/destill/internal/tui/jobs"
	"github.com/destill-ci/destill/internal/tui/theme"
)

// screen is what the body of the UI shows.
type screen int

const (
	screenList   screen = iota // the card list (and, when wide, the detail pane)
	screenDetail               // the detail pane has the keys (and, when narrow, the body)
	screenHelp
	screenJobs   // every job's progress
	screenPicker // choose a job to filter by
)

// feedState is where the feed stands.
type feedState int

const (
	feedRunning feedState = iota
	feedComplete
	feedFailed
)

// splitWidth is the width from which the detail pane sits beside the list.
const splitWidth = 140

// model is the root model: it owns the data (cards, jobs), routes keys to
// the component that has the focus and lays the components out.
type model struct {
	ctx    context.Context
	feed   Feed
	stream *stream
	opts   Options
	th     *theme.Theme
	keys   keyMap

	store   *findings.Store
	tracker *jobs.Tracker
	query   findings.Query
	list    cardlist.Model
	detail  detail.Model
	input   textinput.Model

	screen    screen
	searching bool
	touched   bool // the user moved the cursor: stop following the top card
	jobsOff   int  // scroll of the jobs screen
	picker    picker

	rankDue   bool // a rankMsg is on its way
	state     feedState
	streamErr error
	flash     string

	width, height int
	clip          io.Writer
}

// flashMsg sets the status line.
type flashMsg string

// rankMsg asks for the rank order of cards that arrived since it was last
// computed (see findings.Store.RankEvery).
type rankMsg struct{}

// rankEvery spaces the ranking of large requests while their cards stream
// in: ranking 10,000 cards takes tens of milliseconds.
const rankEvery = 300 * time.Millisecond

func newModel(ctx context.Context, feed Feed, opts Options, r *lipgloss.Renderer) *model {
	th := theme.New(r)
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "search message and context"
	in.CharLimit = 200
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := &model{
		ctx:     ctx,
		feed:    feed,
		opts:    opts,
		th:      th,
		keys:    newKeyMap(),
		store:   findings.NewStore(),
		tracker: jobs.NewTracker(),
		query:   findings.Query{Grouped: true},
		list:    cardlist.New(th),
		detail:  detail.New(th),
		input:   in,
		// A terminal reports its size at once; this is for one that
		// cannot (output to a pipe or file).
		width:  80,
		height: 24,
	}
	m.list.Grouped = true
	m.store.RankEvery = rankEvery
	m.layout()
	return m
}

func (m *model) Init() tea.Cmd {
	if m.feed == nil {
		m.state = feedComplete
		return nil
	}
	m.stream = startStream(m.ctx, m.feed)
	return m.stream.next
}

// stopStream waits for the feed goroutine to end; the caller has cancelled
// its context.
func (m *model) stopStream() {
	if m.stream != nil {
		<-m.stream.finished
	}
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	if !m.rankDue && m.store.Pending(m.query) {
		// Some rows wait for their rank: rank them soon, even if no
		// other card arrives.
		m.rankDue = true
		cmd = tea.Batch(cmd, tea.Tick(rankEvery, func(time.Time) tea.Msg { return rankMsg{} }))
	}
	return m, cmd
}

func (m *model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case rankMsg:
		m.rankDue = false
		m.store.RankNow()
		m.refresh()
		return nil
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return nil
	case batchMsg:
		return m.apply(msg)
	case flashMsg:
		m.flash = string(msg)
		return nil
	case tea.MouseMsg:
		m.mouse(msg)
		return nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return nil
}

// apply folds a batch of feed events into the model.
func (m *model) apply(b batchMsg) tea.Cmd {
	for _, e := range b.events {
		if e.Progress != nil {
			m.tracker.Apply(*e.Progress)
			if e.Progress.Kind == contracts.ProgressJobDiscovered {
				m.store.NoteJob(e.Progress.JobID)
			}
		}
		if e.Card != nil {
			if _, ok := m.store.Add(*e.Card); ok {
				m.tracker.See(e.Card.Job)
			}
		}
	}
	if b.done {
		// The final order is the report's, without delay.
		m.store.RankNow()
		switch {
		case b.err == nil:
			m.state = feedComplete
		case errors.Is(b.err, context.Canceled) && m.ctx.Err() != nil:
			m.state = feedComplete
		default:
			m.state = feedFailed
			m.streamErr = b.err
			if m.tracker.Failed == "" {
				m.tracker.Failed = sanitize.String(b.err.Error())
			}
		}
	}
	m.refresh()
	m.layout()
	if b.done {
		return nil
	}
	return m.stream.next
}

// refresh recomputes the listed rows after the cards or the query changed.
func (m *model) refresh() {
	m.list.SetRows(m.store.Rows(m.query))
	if !m.touched {
		m.list.Top()
	}
	m.syncDetail()
	m.detail.Refresh()
}

// syncDetail shows the selected card in the detail pane.
func (m *model) syncDetail() {
	if r, ok := m.list.Selected(); ok {
		m.detail.SetCard(r.Card)
	} else {
		m.detail.SetCard(nil)
	}
}

func (m *model) selected() (*findings.Card, bool) {
	r, ok := m.list.Selected()
	return r.Card, ok
}

func (m *model) split() bool { return m.width >= splitWidth }

func (m *model) key(msg tea.KeyMsg) tea.Cmd {
	// Keys typed faster than the terminal is read arrive as one message
	// ("jjj"); outside text entry each is a command of its own.
	if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.searching {
		var cmds []tea.Cmd
		for _, r := range msg.Runes {
			cmds = append(cmds, m.key(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
		}
		return tea.Batch(cmds...)
	}
	k := m.keys
	if key.Matches(msg, k.ForceQuit) {
		return tea.Quit
	}
	if m.searching {
		return m.searchKey(msg)
	}
	m.flash = ""
	switch m.screen {
	case screenHelp:
		if key.Matches(msg, k.Quit) {
			return tea.Quit
		}
		m.screen = screenList
		return nil
	case screenPicker:
		return m.pickerKey(msg)
	case screenJobs:
		return m.jobsKey(msg)
	}

	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.screen = screenHelp
		return nil
	case key.Matches(msg, k.Search):
		m.searching = true
		m.input.SetValue(m.query.Search)
		m.input.CursorEnd()
		m.layout()
		return m.input.Focus()
	case key.Matches(msg, k.Group):
		m.query.Grouped = !m.query.Grouped
		m.list.Grouped = m.query.Grouped
		m.refresh()
		return nil
	case key.Matches(msg, k.Sort):
		m.query.Sort = m.query.Sort.Next()
		m.refresh()
		return nil
	case key.Matches(msg, k.Severity):
		m.query.MinSeverity = nextSeverity(m.query.MinSeverity)
		m.refresh()
		return nil
	case key.Matches(msg, k.JobFilter):
		m.openPicker()
		return nil
	case key.Matches(msg, k.Jobs):
		m.screen = screenJobs
		m.jobsOff = 0
		return nil
	case key.Matches(msg, k.Wrap):
		m.detail.ToggleWrap()
		return nil
	case key.Matches(msg, k.CopyMessage):
		return m.copyMessage()
	case key.Matches(msg, k.CopyCard):
		return m.copyCard()
	case key.Matches(msg, k.Browse):
		return m.browse()
	case key.Matches(msg, k.ExportJSON):
		return m.export(formatJSON)
	case key.Matches(msg, k.ExportMD):
		return m.export(formatMarkdown)
	}

	if m.screen == screenDetail {
		m.detailKey(msg)
		return nil
	}
	m.listKey(msg)
	return nil
}

func (m *model) listKey(msg tea.KeyMsg) {
	k := m.keys
	page := m.list.Page()
	switch {
	case key.Matches(msg, k.Up):
		m.list.Move(-1)
	case key.Matches(msg, k.Down), key.Matches(msg, k.NextCard):
		m.list.Move(1)
	case key.Matches(msg, k.PrevCard):
		m.list.Move(-1)
	case key.Matches(msg, k.PageUp):
		m.list.Move(-page)
	case key.Matches(msg, k.PageDown):
		m.list.Move(page)
	case key.Matches(msg, k.HalfUp):
		m.list.Move(-page / 2)
	case key.Matches(msg, k.HalfDown):
		m.list.Move(page / 2)
	case key.Matches(msg, k.Top):
		m.list.Top()
	case key.Matches(msg, k.Bottom):
		m.list.Bottom()
	case key.Matches(msg, k.Open):
		if m.list.Len() > 0 {
			m.screen = screenDetail
			m.layout()
		}
		return
	case key.Matches(msg, k.Back):
		m.clearOne()
		return
	default:
		return
	}
	m.touched = true
	m.syncDetail()
}

// clearOne undoes the most recent narrowing: the search, then the job
// filter, then the severity filter.
func (m *model) clearOne() {
	switch {
	case m.query.Search != "":
		m.query.Search = ""
		m.input.SetValue("")
		m.list.Search, m.detail.Search = "", ""
		m.flash = "search cleared"
	case m.query.JobID != "":
		m.query.JobID = ""
		m.flash = "job filter cleared"
	case m.query.MinSeverity != contracts.SeverityUnknown:
		m.query.MinSeverity = contracts.SeverityUnknown
		m.flash = "severity filter cleared"
	default:
		return
	}
	m.refresh()
}

func (m *model) detailKey(msg tea.KeyMsg) {
	k := m.keys
	d := &m.detail
	page := d.BodyHeight()
	switch {
	case key.Matches(msg, k.Back), msg.String() == "enter":
		m.screen = screenList
		m.layout()
	case key.Matches(msg, k.Up):
		d.ScrollUp(1)
	case key.Matches(msg, k.Down):
		d.ScrollDown(1)
	case key.Matches(msg, k.PageUp):
		d.ScrollUp(page)
	case key.Matches(msg, k.PageDown):
		d.ScrollDown(page)
	case key.Matches(msg, k.HalfUp):
		d.ScrollUp(page / 2)
	case key.Matches(msg, k.HalfDown):
		d.ScrollDown(page / 2)
	case key.Matches(msg, k.Top):
		d.Top()
	case key.Matches(msg, k.Bottom):
		d.Bottom()
	case key.Matches(msg, k.Left):
		d.ScrollLeft(8)
	case key.Matches(msg, k.Right):
		d.ScrollRight(8)
	case key.Matches(msg, k.NextCard):
		m.list.Move(1)
		m.touched = true
		m.syncDetail()
	case key.Matches(msg, k.PrevCard):
		m.list.Move(-1)
		m.touched = true
		m.syncDetail()
	}
}

func (m *model) searchKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.String() {
	case "enter":
		m.searching = false
		m.input.Blur()
		m.layout()
		return nil
	case "esc":
		m.searching = false
		m.input.Blur()
		m.input.SetValue("")
		m.setSearch("")
		m.layout()
		return nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.setSearch(m.input.Value())
	return cmd
}

func (m *model) setSearch(s string) {
	s = sanitize.String(s)
	if s == m.query.Search {
		return
	}
	m.query.Search = s
	m.list.Search, m.detail.Search = s, s
	m.detail.Refresh()
	m.refresh()
}

func nextSeverity(s contracts.Severity) contracts.Severity {
	switch s {
	case contracts.SeverityUnknown, contracts.SeverityInfo:
		return contracts.SeverityWarn
	case contracts.SeverityWarn:
		return contracts.SeverityError
	case contracts.SeverityError:
		return contracts.SeverityFatal
	}
	return contracts.SeverityUnknown
}

func (m *model) mouse(msg tea.MouseMsg) {
	if msg.Action != tea.MouseActionPress {
		return
	}
	top := m.bodyTop()
	overDetail := m.screen == screenDetail && !m.split() || m.split() && msg.X > m.listWidth()
	switch msg.Button {
	case tea.MouseButtonWheelUp, tea.MouseButtonWheelDown:
		delta := 3
		if msg.Button == tea.MouseButtonWheelUp {
			delta = -3
		}
		switch {
		case m.screen == screenJobs:
			m.jobsOff = max(0, m.jobsOff+delta)
		case overDetail:
			if delta < 0 {
				m.detail.ScrollUp(-delta)
			} else {
				m.detail.ScrollDown(delta)
			}
		case m.screen == screenList || m.screen == screenDetail:
			m.list.Scroll(delta)
			m.touched = true
			m.syncDetail()
		}
	case tea.MouseButtonLeft:
		if (m.screen == screenList || m.split() && m.screen == screenDetail) && !overDetail {
			if i := m.list.RowAt(msg.Y - top); i >= 0 {
				m.list.Select(i)
				m.touched = true
				m.syncDetail()
			}
		}
	}
}

// ---- layout and drawing ----

// jobsPanel returns the lines of the progress panel for the current size.
func (m *model) jobsPanel() []string {
	t := m.tracker
	w := m.width
	total := t.Len()
	var lines []string
	barW := max(10, min(30, w/5))
	summary := fmt.Sprintf("jobs %d/%d ", t.Finished(), total)
	frac := t.Fraction()
	if m.state != feedRunning {
		frac = 1
	}
	line := summary + jobs.Bar(m.th, frac, barW) + fmt.Sprintf(" %3.0f%%", frac*100)
	line += fmt.Sprintf("  %d card%s", m.store.Len(), plural(m.store.Len()))
	if n := t.FailedJobs(); n > 0 {
		line += "  " + m.th.Bad.Render(fmt.Sprintf("%d job%s could not be read", n, plural(n)))
	}
	lines = append(lines, ansi.Truncate(line, w, "…"))

	maxRows := max(1, min(8, m.height/6))
	var show []*jobs.Job
	for _, j := range t.Triage() {
		if j.State == pipeline.JobFailed || m.state == feedRunning && j.State != pipeline.JobDone {
			show = append(show, j)
		}
	}
	if m.state == feedRunning && len(show) < maxRows {
		// While running, fill the panel with finished jobs too.
		for _, j := range t.Triage() {
			if j.State == pipeline.JobDone && len(show) < maxRows {
				show = append(show, j)
			}
		}
	}
	hidden := 0
	if len(show) > maxRows {
		hidden = len(show) - (maxRows - 1)
		show = show[:maxRows-1]
	}
	for _, j := range show {
		lines = append(lines, jobs.Lines(m.th, j, w)...)
	}
	if hidden > 0 {
		lines = append(lines, m.th.Dim.Render(fmt.Sprintf("  … %d more job%s (p shows all)", hidden, plural(hidden))))
	}
	return lines
}

func (m *model) headerHeight() int { return 1 }

func (m *model) bodyTop() int { return m.headerHeight() + len(m.jobsPanel()) + 1 }

func (m *model) bodyHeight() int { return max(1, m.height-m.bodyTop()-1) }

func (m *model) listWidth() int {
	if !m.split() {
		return m.width
	}
	return max(70, m.width*55/100)
}

// layout gives the components their sizes.
func (m *model) layout() {
	if m.width == 0 {
		return
	}
	h := m.bodyHeight()
	switch {
	case m.split():
		lw := m.listWidth()
		m.list.SetSize(lw, h)
		m.detail.SetSize(m.width-lw-1, h)
	default:
		m.list.SetSize(m.width, h)
		m.detail.SetSize(m.width, h)
	}
	m.input.Width = max(10, m.width-4)
}

func (m *model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	var parts []string
	parts = append(parts, m.header())
	parts = append(parts, m.jobsPanel()...)
	parts = append(parts, m.th.Rule.Render(strings.Repeat("─", m.width)))
	parts = append(parts, m.body())
	parts = append(parts, m.footer())
	return fit(strings.Join(parts, "\n"), m.width, m.height)
}

// fit cuts or pads s to exactly height lines of at most width cells, so a
// frame never wraps or scrolls the terminal.
func fit(s string, width, height int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > height {
		lines = lines[:height]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "")
		}
	}
	for len(lines) < height {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m *model) header() string {
	title := m.th.Title.Render("destill")
	if t := sanitize.String(m.opts.Title); t != "" {
		title += " " + t
	}
	var state string
	switch m.state {
	case feedComplete:
		state = m.th.OK.Render("✓ complete")
	case feedFailed:
		state = m.th.Bad.Render("✗ failed: " + m.tracker.Failed)
	default:
		state = m.th.Busy.Render("● analysing")
	}
	if m.tracker.Failed != "" && m.state == feedRunning {
		state = m.th.Bad.Render("✗ failed: " + m.tracker.Failed)
	}
	room := m.width - ansi.StringWidth(state) - 1
	if room < 10 {
		return ansi.Truncate(state, m.width, "…")
	}
	title = ansi.Truncate(title, room, "…")
	gap := max(1, m.width-ansi.StringWidth(title)-ansi.StringWidth(state))
	return title + strings.Repeat(" ", gap) + state
}

func (m *model) body() string {
	h := m.bodyHeight()
	switch m.screen {
	case screenHelp:
		return m.helpView(h)
	case screenJobs:
		return m.jobsView(h)
	case screenPicker:
		return m.pickerView(h)
	}
	if m.list.Len() == 0 {
		return m.emptyView(h)
	}
	if !m.split() {
		if m.screen == screenDetail {
			return m.detail.View()
		}
		return m.list.View()
	}
	sep := make([]string, h)
	for i := range sep {
		sep[i] = m.th.Rule.Render("│")
	}
	return lipgloss.JoinHorizontal(lipgloss.Top, m.list.View(), strings.Join(sep, "\n"), m.detail.View())
}

func (m *model) emptyView(h int) string {
	var msg string
	switch {
	case m.store.Len() > 0:
		msg = "No card matches the filters. esc clears them one by one."
	case m.state == feedRunning:
		msg = "Waiting for findings…"
	default:
		msg = "No findings: nothing in these logs looks like the cause of a failure."
	}
	return fit("\n  "+m.th.Dim.Render(msg), m.width, h)
}

func (m *model) footer() string {
	if m.searching {
		return m.input.View()
	}
	right := m.th.Dim.Render("? help  q quit")
	if n := m.list.Len(); n > 0 {
		right = m.th.Dim.Render(fmt.Sprintf("%d/%d  ", m.list.Cursor()+1, n)) + right
	}
	left := m.flash
	if left != "" {
		left = m.th.Flash.Render(left)
	} else {
		left = m.viewSummary()
	}
	room := m.width - ansi.StringWidth(right) - 1
	if room < 10 {
		return ansi.Truncate(left, m.width, "…")
	}
	left = ansi.Truncate(left, room, "…")
	return left + strings.Repeat(" ", max(1, m.width-ansi.StringWidth(left)-ansi.StringWidth(right))) + right
}

// viewSummary says how the list is grouped, sorted and filtered.
func (m *model) viewSummary() string {
	q := m.query
	parts := []string{"grouped"}
	if !q.Grouped {
		parts[0] = "all occurrences"
	}
	parts = append(parts, "sort "+q.Sort.String())
	if q.JobID != "" {
		parts = append(parts, "job "+m.tracker.Job(q.JobID).Name)
	}
	if q.MinSeverity > contracts.SeverityInfo {
		parts = append(parts, "≥"+q.MinSeverity.String())
	}
	if q.Search != "" {
		parts = append(parts, fmt.Sprintf("/%s", q.Search))
	}
	return strings.Join(parts, " · ")
}

func (m *model) helpView(h int) string {
	sections := m.keys.helpSections()
	cols := 2
	if m.width < 70 {
		cols = 1
	}
	colW := m.width / cols
	var columns [][]string
	for i := 0; i < cols; i++ {
		columns = append(columns, nil)
	}
	// Fill columns in order, balancing by line count.
	total := 0
	for _, s := range sections {
		total += len(s.keys) + 2
	}
	c := 0
	for _, s := range sections {
		if cols > 1 && c == 0 && len(columns[0]) > 0 && len(columns[0])+len(s.keys)+2 > (total+1)/2 {
			c = 1
		}
		columns[c] = append(columns[c], m.th.Header.Render(s.title))
		for _, b := range s.keys {
			hk := b.Help()
			columns[c] = append(columns[c], "  "+m.th.Key.Render(pad(hk.Key, 9))+" "+hk.Desc)
		}
		columns[c] = append(columns[c], "")
	}
	rendered := make([]string, len(columns))
	for i, col := range columns {
		for j := range col {
			col[j] = pad(ansi.Truncate(col[j], colW-1, "…"), colW)
		}
		rendered[i] = strings.Join(col, "\n")
	}
	body := lipgloss.JoinHorizontal(lipgloss.Top, rendered...)
	body += "\n" + m.th.Dim.Render("Mouse wheel scrolls; click selects. Any key closes this help.")
	return fit(body, m.width, h)
}

func (m *model) jobsKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Up):
		m.jobsOff = max(0, m.jobsOff-1)
	case key.Matches(msg, k.Down):
		m.jobsOff++
	case key.Matches(msg, k.Top):
		m.jobsOff = 0
	default:
		m.screen = screenList
	}
	return nil
}

func (m *model) jobsView(h int) string {
	all := m.tracker.Triage()
	lines := []string{m.th.Header.Render("All jobs (any other key returns)")}
	m.jobsOff = max(0, min(m.jobsOff, len(all)-(h-1)))
	for _, j := range all[m.jobsOff:] {
		lines = append(lines, jobs.Lines(m.th, j, m.width)...)
	}
	if len(all) == 0 {
		lines = append(lines, m.th.Dim.Render("  no job discovered yet"))
	}
	return fit(strings.Join(lines, "\n"), m.width, h)
}

func pad(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
