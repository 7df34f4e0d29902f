package tui

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
)

// attacks are sequences a hostile log line can carry. None may reach the
// terminal.
var attacks = []string{
	"\x1b]0;pwned-title\x07",            // OSC 0: window and icon title
	"\x1b]2;pwned-title\x1b\\",          // OSC 2: window title, ST-terminated
	"\x1b]52;c;cm0gLXJmIH4vKgo=\x07",    // OSC 52: clipboard write
	"\x1b]8;;https://evil.example/\x07", // OSC 8: hyperlink
	"\x1b[2J\x1b[H",                     // clear screen, cursor home
	"\x1b[10;10H\x1b[5A\x1b[3C",         // cursor movement
	"\x1b[?1049l",                       // leave the alternate screen
	"\x1bP+q544e\x1b\\",                 // DCS: terminfo query
	"\x1b_pwned-apc\x1b\\",              // APC
	"\x1bkpwned-name\x1b\\",             // screen/tmux window name
	"\u009b2J",                          // C1 CSI
	"\u009d0;pwned-c1\u009c",            // C1 OSC
	"\x1bc",                             // full reset
	"\a\b\r\x7f",                        // bell, backspace, CR, DEL
}

func attackLine(prefix string) string {
	return prefix + " " + strings.Join(attacks, "x") + " end"
}

func attackEvents() []pipeline.Event {
	evil := contracts.Job{ID: "evil\x1b]0;pwned-title\x07", Name: attackLine("job"), URL: "https://buildkite.com/o/p/builds/1#evil\x1b[2J", Outcome: contracts.OutcomeFailed}
	ev := []pipeline.Event{
		progress(contracts.ProgressJobDiscovered, evil, nil),
		progress(contracts.ProgressJobFailed, contracts.Job{ID: "other", Name: attackLine("other")}, func(p *contracts.Progress) { p.Error = attackLine("reason") }),
	}
	ev = append(ev, card(evil, 40, contracts.SeverityError, 0.9, attackLine("hash"), attackLine("message"), func(c *contracts.TriageCard) {
		c.RawMessage = attackLine("raw")
		c.PreContext = []string{attackLine("pre"), attackLine("pre2")}
		c.PostContext = []string{attackLine("post")}
		c.ContextNote = attackLine("note")
		c.Rule = attackLine("rule")
	}))
	ev = append(ev, card(evil, 41, contracts.SeverityError, 0.8, attackLine("hash"), attackLine("message2"), nil))
	return ev
}

// sgr matches the colour and attribute sequences destill draws itself.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkInert fails if s holds anything but text, newlines and SGR.
func checkInert(t *testing.T, where, s string) {
	t.Helper()
	rest := sgr.ReplaceAllString(s, "")
	for i, r := range rest {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			t.Fatalf("%s: control %U at %d survives: %q", where, r, i, rest[max(0, i-40):min(len(rest), i+40)])
		}
	}
	for _, leak := range []string{"pwned", "cm0gLXJm", "evil.example"} {
		if strings.Contains(rest, leak) {
			t.Fatalf("%s: payload %q of an escape sequence is drawn: %q", where, leak, rest)
		}
	}
}

// TestAttackLogIsInert renders a hostile log through every screen and
// checks the frames hold only text and destill's own colours.
func TestAttackLogIsInert(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		m := newTestModel(t, size[0], size[1], attackEvents(), true)
		m.opts.Title = attackLine("title")
		screens := [][]string{nil, {"enter"}, {"enter", "w"}, {"esc", "a"}, {"f"}, {"esc", "p"}, {"esc", "?"}, {"esc", "/", "message", "enter"}}
		for _, keys := range screens {
			press(m, keys...)
			checkInert(t, strings.Join(keys, " "), m.View())
		}
		c, _ := m.selected()
		checkInert(t, "copied card", cardText(c))
		md := exportMarkdown(m.opts.Title, time.Now(), m.query, m.list.Rows())
		checkInert(t, "markdown export", string(md))
	}
}

// TestAttackLogProgram runs the whole program over a hostile feed and
// checks the bytes written to the terminal carry none of the log's
// sequences.
func TestAttackLogProgram(t *testing.T) {
	feed := FeedFunc(func(ctx context.Context, fn func(pipeline.Event) error) error {
		for _, e := range attackEvents() {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
	m := newModel(t.Context(), feed, Options{Title: attackLine("title")}, nil)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	var out bytes.Buffer
	teatest.WaitFor(t, io.TeeReader(tm.Output(), &out), func(b []byte) bool {
		return bytes.Contains(b, []byte("complete"))
	}, teatest.WithDuration(10*time.Second))
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	rest, _ := io.ReadAll(tm.FinalOutput(t))
	all := out.String() + string(rest)
	for _, bad := range []string{"\x1b]", "\x1bP", "\x1b_", "\x1bk", "\x1bc", "\u009b", "\u009d", "pwned", "cm0gLXJm", "evil.example"} {
		if strings.Contains(all, bad) {
			t.Errorf("terminal output holds %q", bad)
		}
	}
}
