package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/tui/jobs"
)

// picker chooses the job to filter the list by. Jobs destill could not read
// and failing CI jobs come first: that is where a cause usually is.
type picker struct {
	items  []*jobs.Job // nil item: all jobs
	cursor int
	offset int
}

func (m *model) openPicker() {
	var failing, rest []*jobs.Job
	for _, j := range m.tracker.Jobs() {
		if j.State == pipeline.JobFailed || j.Failing() {
			failing = append(failing, j)
		} else {
			rest = append(rest, j)
		}
	}
	m.picker = picker{items: append(append([]*jobs.Job{nil}, failing...), rest...)}
	for i, j := range m.picker.items {
		if j != nil && j.ID == m.query.JobID {
			m.picker.cursor = i
		}
	}
	m.screen = screenPicker
}

func (m *model) pickerKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	p := &m.picker
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Up):
		p.cursor = max(0, p.cursor-1)
	case key.Matches(msg, k.Down):
		p.cursor = min(len(p.items)-1, p.cursor+1)
	case key.Matches(msg, k.Top):
		p.cursor = 0
	case key.Matches(msg, k.Bottom):
		p.cursor = len(p.items) - 1
	case msg.String() == "enter":
		if j := p.items[p.cursor]; j != nil {
			m.query.JobID = j.ID
		} else {
			m.query.JobID = ""
		}
		m.screen = screenList
		m.touched = false
		m.refresh()
	case key.Matches(msg, k.Back), key.Matches(msg, k.JobFilter):
		m.screen = screenList
	}
	return nil
}

func (m *model) pickerView(h int) string {
	p := &m.picker
	lines := []string{m.th.Header.Render("Filter by job") + m.th.Dim.Render("  (enter choose, esc cancel)")}
	rows := h - 1
	if p.cursor < p.offset {
		p.offset = p.cursor
	}
	if p.cursor >= p.offset+rows {
		p.offset = p.cursor - rows + 1
	}
	for i := p.offset; i < len(p.items) && i < p.offset+rows; i++ {
		j := p.items[i]
		var label string
		if j == nil {
			label = fmt.Sprintf("All jobs  (%d card%s)", m.store.Len(), plural(m.store.Len()))
		} else {
			label = fmt.Sprintf("%s  (%d card%s)", j.Name, j.Findings, plural(j.Findings))
			switch {
			case j.State == pipeline.JobFailed:
				label += "  " + m.th.Bad.Render("could not be read: "+j.Error)
			case j.Failing():
				label += "  " + m.th.Bad.Render(string(j.Outcome))
			}
		}
		cursor := "  "
		if i == p.cursor {
			cursor = "> "
			if !m.th.Plain {
				label = m.th.Selected.Render(ansi.Strip(label))
			}
		}
		lines = append(lines, ansi.Truncate(cursor+label, m.width, "…"))
	}
	return fit(strings.Join(lines, "\n"), m.width, h)
}
