// Package theme holds the styles every part of destill's terminal UI draws
// with, built for one lipgloss renderer so the colour profile (and NO_COLOR)
// is decided once.
package theme

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/destill-ci/destill/contracts"
)

// Theme is a set of styles. With a renderer whose profile is Ascii (no
// colour) every style renders plain text, so the layout never depends on
// colour: selection is also marked with a cursor character.
type Theme struct {
	// Plain is true when no colour or attribute reaches the screen.
	Plain bool

	Title    lipgloss.Style // the app name in the header
	Header   lipgloss.Style // column headings
	Dim      lipgloss.Style // secondary text: line numbers, hashes, hints
	Bold     lipgloss.Style
	Selected lipgloss.Style // the row under the cursor
	Hit      lipgloss.Style // the finding's own line(s) in the detail pane
	Match    lipgloss.Style // search matches
	Key      lipgloss.Style // key names in help
	OK       lipgloss.Style // complete, done
	Busy     lipgloss.Style // in progress
	Bad      lipgloss.Style // failed jobs and requests
	BarFull  lipgloss.Style
	BarEmpty lipgloss.Style
	Rule     lipgloss.Style // separators
	Flash    lipgloss.Style // the status message after an action
	severity [contracts.SeverityFatal + 1]lipgloss.Style
}

// New builds the theme for r. A nil r uses lipgloss's default renderer.
func New(r *lipgloss.Renderer) *Theme {
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	s := r.NewStyle
	t := &Theme{
		Plain:    r.ColorProfile() == termenv.Ascii,
		Title:    s().Bold(true).Foreground(lipgloss.Color("6")),
		Header:   s().Bold(true).Foreground(lipgloss.Color("7")),
		Dim:      s().Foreground(lipgloss.Color("8")),
		Bold:     s().Bold(true),
		Selected: s().Reverse(true),
		Hit:      s().Bold(true),
		Match:    s().Underline(true).Foreground(lipgloss.Color("3")),
		Key:      s().Bold(true).Foreground(lipgloss.Color("6")),
		OK:       s().Foreground(lipgloss.Color("2")),
		Busy:     s().Foreground(lipgloss.Color("6")),
		Bad:      s().Bold(true).Foreground(lipgloss.Color("1")),
		BarFull:  s().Foreground(lipgloss.Color("6")),
		BarEmpty: s().Foreground(lipgloss.Color("8")),
		Rule:     s().Foreground(lipgloss.Color("8")),
		Flash:    s().Foreground(lipgloss.Color("3")),
	}
	colours := [...]string{
		contracts.SeverityUnknown: "8",
		contracts.SeverityInfo:    "4",
		contracts.SeverityWarn:    "3",
		contracts.SeverityError:   "1",
		contracts.SeverityFatal:   "5",
	}
	for i, c := range colours {
		t.severity[i] = s().Foreground(lipgloss.Color(c))
	}
	t.severity[contracts.SeverityFatal] = t.severity[contracts.SeverityFatal].Bold(true)
	return t
}

// Severity is the style of a severity label.
func (t *Theme) Severity(s contracts.Severity) lipgloss.Style {
	if s < 0 || int(s) >= len(t.severity) {
		return t.severity[contracts.SeverityUnknown]
	}
	return t.severity[s]
}
