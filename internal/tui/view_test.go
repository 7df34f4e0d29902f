package tui

import (
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
)

// TestGolden pins what a person sees, ANSI stripped, at 80×24 and 160×48.
// Refresh with: go test ./internal/tui -run TestGolden -update
func TestGolden(t *testing.T) {
	type step struct {
		name string
		keys []string
		done bool // feed complete
	}
	steps := []step{
		{name: "streaming"},
		{name: "complete", done: true},
		{name: "detail", keys: []string{"enter"}, done: true},
		{name: "all_occurrences", keys: []string{"a"}, done: true},
		{name: "sort_confidence", keys: []string{"s"}, done: true},
		{name: "sort_line", keys: []string{"s", "s"}, done: true},
		{name: "search", keys: []string{"/", "refused", "enter"}, done: true},
		{name: "severity_error", keys: []string{"v", "v"}, done: true},
		{name: "job_picker", keys: []string{"f"}, done: true},
		{name: "job_filter", keys: []string{"f", "down", "down", "enter"}, done: true},
		{name: "help", keys: []string{"?"}, done: true},
		{name: "jobs", keys: []string{"p"}, done: true},
		{name: "detail_nowrap", keys: []string{"G", "enter", "w"}, done: true},
	}
	for _, size := range []struct{ w, h int }{{80, 24}, {160, 48}} {
		for _, s := range steps {
			name := s.name + "_" + itoa(size.w) + "x" + itoa(size.h)
			t.Run(name, func(t *testing.T) {
				events := buildEvents()
				if s.done {
					events = append(events, finalEvents()...)
				}
				m := newTestModel(t, size.w, size.h, events, s.done)
				press(m, s.keys...)
				view := m.View()
				checkFrame(t, view, size.w, size.h)
				golden.RequireEqual(t, []byte(ansi.Strip(view)))
			})
		}
	}
}

// checkFrame fails unless view is exactly height lines of at most width
// cells: a frame that wraps or scrolls would garble the terminal.
func checkFrame(t *testing.T, view string, width, height int) {
	t.Helper()
	lines := splitLines(view)
	if len(lines) != height {
		t.Errorf("view has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > width {
			t.Errorf("line %d is %d cells wide, want at most %d: %q", i+1, w, width, ansi.Strip(l))
		}
	}
}
