package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap is every key the UI answers to, with its help text.
type keyMap struct {
	Up, Down, PageUp, PageDown, HalfUp, HalfDown, Top, Bottom key.Binding
	Open, Back, NextCard, PrevCard, Left, Right, Wrap         key.Binding
	Group, Sort, Severity, JobFilter, Search, Jobs            key.Binding
	CopyMessage, CopyCard, Browse, ExportJSON, ExportMD       key.Binding
	Help, Quit, ForceQuit                                     key.Binding
}

func newKeyMap() keyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return keyMap{
		Up:          b([]string{"up", "k"}, "↑/k", "up"),
		Down:        b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:      b([]string{"pgup", "ctrl+b"}, "pgup/^b", "page up"),
		PageDown:    b([]string{"pgdown", "ctrl+f", " "}, "pgdn/^f", "page down"),
		HalfUp:      b([]string{"ctrl+u"}, "^u", "half page up"),
		HalfDown:    b([]string{"ctrl+d"}, "^d", "half page down"),
		Top:         b([]string{"g", "home"}, "g/home", "first"),
		Bottom:      b([]string{"G", "end"}, "G/end", "last"),
		Open:        b([]string{"enter", "l", "right"}, "enter", "open detail"),
		Back:        b([]string{"esc", "backspace"}, "esc", "back / clear search"),
		NextCard:    b([]string{"]", "n"}, "]/n", "next card (detail)"),
		PrevCard:    b([]string{"[", "N"}, "[/N", "previous card (detail)"),
		Left:        b([]string{"left", "h"}, "←/h", "scroll left (no wrap)"),
		Right:       b([]string{"right", "l"}, "→/l", "scroll right (no wrap)"),
		Wrap:        b([]string{"w"}, "w", "wrap long lines on/off"),
		Group:       b([]string{"a"}, "a", "grouped ↔ every occurrence"),
		Sort:        b([]string{"s"}, "s", "sort: rank/conf/line/count"),
		Severity:    b([]string{"v"}, "v", "minimum severity"),
		JobFilter:   b([]string{"f"}, "f", "filter by job"),
		Search:      b([]string{"/"}, "/", "search message and context"),
		Jobs:        b([]string{"p"}, "p", "all jobs' progress"),
		CopyMessage: b([]string{"c"}, "c", "copy message (OSC 52)"),
		CopyCard:    b([]string{"y", "C"}, "y/C", "copy whole card"),
		Browse:      b([]string{"o"}, "o", "open job in browser"),
		ExportJSON:  b([]string{"e"}, "e", "export view as JSON"),
		ExportMD:    b([]string{"E"}, "E", "export view as Markdown"),
		Help:        b([]string{"?"}, "?", "help"),
		Quit:        b([]string{"q"}, "q", "quit"),
		ForceQuit:   b([]string{"ctrl+c"}, "ctrl+c", "quit"),
	}
}

// helpSections lists the bindings shown by `?`, in groups.
func (k keyMap) helpSections() []helpSection {
	return []helpSection{
		{"Move", []key.Binding{k.Up, k.Down, k.PageDown, k.PageUp, k.HalfDown, k.HalfUp, k.Top, k.Bottom}},
		{"Card", []key.Binding{k.Open, k.Back, k.NextCard, k.PrevCard, k.Wrap, k.Left}},
		{"View", []key.Binding{k.Group, k.Sort, k.Severity, k.JobFilter, k.Search, k.Jobs}},
		{"Act", []key.Binding{k.CopyMessage, k.CopyCard, k.Browse, k.ExportJSON, k.ExportMD, k.Help, k.Quit}},
	}
}

type helpSection struct {
	title string
	keys  []key.Binding
}
