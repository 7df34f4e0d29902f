package tui

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/tui/findings"
)

// listed returns the messages of the listed rows.
func listed(m *model) []string {
	var out []string
	for _, r := range m.list.Rows() {
		out = append(out, r.Card.JobName+":"+itoa(r.Card.Raw.LineNumber))
	}
	return out
}

func complete(t *testing.T, w, h int) *model {
	t.Helper()
	return newTestModel(t, w, h, append(buildEvents(), finalEvents()...), true)
}

func TestRankingAndGrouping(t *testing.T) {
	m := complete(t, 80, 24)
	// The make error of both jobs is shown by the integration job's: the
	// report's choice (worst outcome, then lowest job id).
	want := []string{"unit tests (go 1.26):1412", "unit tests (go 1.26):1399", "integration:233", "integration:380", "lint:88", "integration:12"}
	if diff := cmp.Diff(want, listed(m)); diff != "" {
		t.Errorf("grouped rows (-want +got):\n%s", diff)
	}
	press(m, "a")
	if got := len(listed(m)); got != 9 {
		t.Errorf("every occurrence: %d rows, want 9", got)
	}
	press(m, "a")
	if got := len(listed(m)); got != 6 {
		t.Errorf("grouped again: %d rows, want 6", got)
	}
}

func TestSortOrders(t *testing.T) {
	m := complete(t, 80, 24)
	press(m, "a", "s", "s") // every occurrence, by line order
	want := []string{"lint:88", "unit tests (go 1.26):1399", "unit tests (go 1.26):1412", "unit tests (go 1.26):1420",
		"integration:12", "integration:233", "integration:301", "integration:377", "integration:380"}
	if diff := cmp.Diff(want, listed(m)); diff != "" {
		t.Errorf("line order (-want +got):\n%s", diff)
	}
	press(m, "s") // by recurrence
	got := listed(m)
	conn, mk := slices.Sorted(slices.Values(got[:3])), slices.Sorted(slices.Values(got[3:5]))
	if !cmp.Equal(conn, []string{"integration:233", "integration:301", "integration:377"}) ||
		!cmp.Equal(mk, []string{"integration:380", "unit tests (go 1.26):1420"}) {
		t.Errorf("recurrence order = %v, want the ×3 connection errors then the ×2 make errors first", got)
	}
	press(m, "s")
	if m.query.Sort != findings.ByRank {
		t.Errorf("sort after four presses = %v, want rank", m.query.Sort)
	}
}

func TestNavigation(t *testing.T) {
	m := complete(t, 80, 24)
	cursor := func() int { return m.list.Cursor() }
	steps := []struct {
		keys []string
		want int
	}{
		{[]string{"j"}, 1},
		{[]string{"down", "down"}, 3},
		{[]string{"k"}, 2},
		{[]string{"up"}, 1},
		{[]string{"G"}, 5},
		{[]string{"j"}, 5},
		{[]string{"g"}, 0},
		{[]string{"k"}, 0},
		{[]string{"pgdown"}, 5},
	}
	for _, s := range steps {
		press(m, s.keys...)
		if got := cursor(); got != s.want {
			t.Fatalf("after %v cursor = %d, want %d", s.keys, got, s.want)
		}
	}
	// The detail pane follows the cursor; ] moves to the next card there.
	press(m, "g", "enter")
	if m.screen != screenDetail || m.detail.Card().Raw.LineNumber != 1412 {
		t.Fatalf("enter: screen %v card line %d, want detail of line 1412", m.screen, m.detail.Card().Raw.LineNumber)
	}
	press(m, "]")
	if got := m.detail.Card().Raw.LineNumber; got != 1399 {
		t.Errorf("] shows line %d, want 1399", got)
	}
	press(m, "esc")
	if m.screen != screenList || cursor() != 1 {
		t.Errorf("esc: screen %v cursor %d, want list at 1", m.screen, cursor())
	}
	// Mouse wheel scrolls the list; a click selects the row under it.
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonWheelDown})
	m.Update(tea.MouseMsg{Action: tea.MouseActionPress, Button: tea.MouseButtonLeft, Y: m.bodyTop() + 1})
	if cursor() != 0 {
		t.Errorf("click on the first row: cursor %d, want 0", cursor())
	}
}

func TestSearch(t *testing.T) {
	m := complete(t, 80, 24)
	press(m, "/", "REFUSED")
	if !m.searching || len(listed(m)) != 1 {
		t.Fatalf("typing a search: searching %v rows %v, want one live match", m.searching, listed(m))
	}
	press(m, "enter")
	if m.searching || m.query.Search != "REFUSED" {
		t.Fatalf("enter: searching %v search %q", m.searching, m.query.Search)
	}
	// Context lines are searched too.
	press(m, "esc", "/", "goroutine 41", "enter")
	if diff := cmp.Diff([]string{"unit tests (go 1.26):1412"}, listed(m)); diff != "" {
		t.Errorf("search in context (-want +got):\n%s", diff)
	}
	press(m, "/", "esc")
	if m.query.Search != "" || len(listed(m)) != 6 {
		t.Errorf("esc in search: search %q rows %d, want cleared", m.query.Search, len(listed(m)))
	}
	press(m, "/", "no such text", "enter")
	if !strings.Contains(m.View(), "No card matches the filters") {
		t.Errorf("a search without match does not say so:\n%s", m.View())
	}
}

func TestFilters(t *testing.T) {
	m := complete(t, 80, 24)
	press(m, "v", "v") // ≥ ERROR
	if got := len(listed(m)); got != 4 {
		t.Errorf("severity ≥ ERROR: %d rows, want 4", got)
	}
	press(m, "v")
	if diff := cmp.Diff([]string{"unit tests (go 1.26):1412"}, listed(m)); diff != "" {
		t.Errorf("FATAL only (-want +got):\n%s", diff)
	}
	press(m, "v") // all again
	// The job picker lists failing jobs first, then the others.
	press(m, "f")
	var names []string
	for _, j := range m.picker.items[1:] {
		names = append(names, j.Name)
	}
	if diff := cmp.Diff([]string{"unit tests (go 1.26)", "integration", "deploy preview", "lint"}, names); diff != "" {
		t.Errorf("picker order (-want +got):\n%s", diff)
	}
	press(m, "down", "down", "enter") // integration
	if got := listed(m); len(got) != 3 || !strings.HasPrefix(got[0], "integration:") {
		t.Errorf("job filter: rows %v, want the integration job's 3 groups", got)
	}
	press(m, "esc")
	if m.query.JobID != "" || len(listed(m)) != 6 {
		t.Errorf("esc clears the job filter: job %q rows %d", m.query.JobID, len(listed(m)))
	}
}

func TestProgressStates(t *testing.T) {
	m := newTestModel(t, 80, 24, buildEvents(), false)
	states := map[string]pipeline.JobState{}
	for _, j := range m.tracker.Jobs() {
		states[j.Name] = j.State
	}
	want := map[string]pipeline.JobState{
		"lint": pipeline.JobDone, "unit tests (go 1.26)": pipeline.JobDone,
		"integration": pipeline.JobFetching, "deploy preview": pipeline.JobFailed,
	}
	if diff := cmp.Diff(want, states); diff != "" {
		t.Errorf("job states (-want +got):\n%s", diff)
	}
	view := m.View()
	for _, s := range []string{"analysing", "403 Forbidden", "1 job could not be read"} {
		if !strings.Contains(view, s) {
			t.Errorf("streaming view lacks %q:\n%s", s, view)
		}
	}
	// job_done with 2 chunks, 1 analysed: analysing; a redelivered
	// chunk_analyzed does not count twice.
	m.Update(batchMsg{events: []pipeline.Event{
		progress(contracts.ProgressJobDone, jobInteg, func(p *contracts.Progress) { p.Chunks = 2 }),
		progress(contracts.ProgressChunkAnalyzed, jobInteg, nil),
	}})
	if j := m.tracker.Job(jobInteg.ID); j.State != pipeline.JobAnalysing || j.ChunksAnalyzed != 1 {
		t.Errorf("integration: state %s analysed %d, want analysing 1", j.State, j.ChunksAnalyzed)
	}
	m.Update(batchMsg{events: finalEvents(), done: true})
	if j := m.tracker.Job(jobInteg.ID); j.State != pipeline.JobDone {
		t.Errorf("integration after its last chunk: %s, want done", j.State)
	}
	if !strings.Contains(m.View(), "complete") {
		t.Errorf("no complete state:\n%s", m.View())
	}
	// Redelivered cards are not counted twice.
	m.Update(batchMsg{events: []pipeline.Event{card(jobUnit, 1412, contracts.SeverityFatal, 0.97, "h-panic", "panic", nil)}, done: true})
	if m.store.Len() != 9 {
		t.Errorf("after a redelivered card: %d cards, want 9", m.store.Len())
	}
}

func TestRequestFailed(t *testing.T) {
	m := newTestModel(t, 80, 24, []pipeline.Event{{Progress: &contracts.Progress{Kind: contracts.ProgressRequestFailed, Error: "buildkite: 404 build not found"}}}, false)
	m.Update(batchMsg{done: true, err: pipeline.ErrRequestFailed})
	if view := m.View(); !strings.Contains(view, "✗ failed: buildkite: 404 build not found") {
		t.Errorf("failed request not shown:\n%s", view)
	}
}

func TestCopy(t *testing.T) {
	m := complete(t, 80, 24)
	var clip bytes.Buffer
	m.clip = &clip
	run := func(keys string) string {
		t.Helper()
		clip.Reset()
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(keys)})
		if cmd == nil {
			t.Fatalf("%s: no command", keys)
		}
		m.Update(cmd())
		out := clip.String()
		if !strings.HasPrefix(out, "\x1b]52;c;") || !strings.HasSuffix(out, "\a") {
			t.Fatalf("%s wrote %q, want an OSC 52 sequence", keys, out)
		}
		text, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(strings.TrimPrefix(out, "\x1b]52;c;"), "\a"))
		if err != nil {
			t.Fatal(err)
		}
		return string(text)
	}
	if got := run("c"); got != "panic: runtime error: index out of range [3] with length 3" {
		t.Errorf("c copied %q", got)
	}
	if !strings.Contains(m.flash, "copied message") {
		t.Errorf("flash after copy = %q", m.flash)
	}
	got := run("y")
	for _, want := range []string{"FATAL (confidence 0.97)", "job unit tests (go 1.26), line 1412", "> 1412 | panic:", "> 1415 |", "  1416 | FAIL"} {
		if !strings.Contains(got, want) {
			t.Errorf("y copied a card without %q:\n%s", want, got)
		}
	}
}

func TestOpenInBrowser(t *testing.T) {
	m := complete(t, 80, 24)
	var opened []string
	m.opts.OpenURL = func(_ context.Context, u string) error { opened = append(opened, u); return nil }
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("o")})
	m.Update(cmd())
	want := []string{"https://buildkite.com/acme/shop/builds/4812#0190a1b2-unit/1412-1415"}
	if diff := cmp.Diff(want, opened); diff != "" {
		t.Errorf("opened (-want +got):\n%s", diff)
	}
	if !strings.Contains(m.flash, "opened") {
		t.Errorf("flash = %q", m.flash)
	}
}

func TestLineURL(t *testing.T) {
	tests := []struct {
		name string
		card contracts.TriageCard
		want string
	}{
		{"buildkite", contracts.TriageCard{Job: contracts.Job{ID: "j1", URL: "https://buildkite.com/o/p/builds/1#j1"}, LineNumber: 7, EndLine: 7}, "https://buildkite.com/o/p/builds/1#j1/7"},
		{"github", contracts.TriageCard{Job: contracts.Job{ID: "2", URL: "https://github.com/o/r/actions/runs/1/job/2"}, LineNumber: 7}, "https://github.com/o/r/actions/runs/1/job/2"},
		{"no url", contracts.TriageCard{Job: contracts.Job{ID: "f"}, LineNumber: 7}, ""},
		{"not http", contracts.TriageCard{Job: contracts.Job{ID: "f", URL: "file:///etc/passwd"}, LineNumber: 7}, ""},
		{"javascript", contracts.TriageCard{Job: contracts.Job{URL: "javascript:alert(1)"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lineURL(tt.card); got != tt.want {
				t.Errorf("lineURL = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExport(t *testing.T) {
	m := complete(t, 80, 24)
	dir := t.TempDir()
	m.opts.ExportDir = dir
	m.opts.Now = func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) }
	press(m, "v", "v") // the view: ≥ ERROR, grouped
	for _, k := range []string{"e", "E"} {
		_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)})
		m.Update(cmd())
		if !strings.Contains(m.flash, "exported 4 rows to "+dir) {
			t.Errorf("%s: flash %q does not say where", k, m.flash)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "destill-20260304-050607.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc exportDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Rows) != 4 || doc.View.MinSeverity != "ERROR" || !doc.View.Grouped {
		t.Errorf("JSON export: %d rows, view %+v", len(doc.Rows), doc.View)
	}
	if r := doc.Rows[2]; r.Recurrence != 3 || r.Card.LineNumber != 233 {
		t.Errorf("third row: recurrence %d line %d, want 3 and 233", r.Recurrence, r.Card.LineNumber)
	}
	md, err := os.ReadFile(filepath.Join(dir, "destill-20260304-050607.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# destill triage: acme/shop \\#4812", "## 1. FATAL: panic: runtime error", "    > 1412 | panic", "- recurrence: 3 in integration"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("Markdown export lacks %q:\n%s", want, md)
		}
	}
}

func TestQuitKeys(t *testing.T) {
	for _, k := range []tea.KeyMsg{{Type: tea.KeyRunes, Runes: []rune("q")}, {Type: tea.KeyCtrlC}} {
		m := complete(t, 80, 24)
		_, cmd := m.Update(k)
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s does not quit", k)
		}
	}
	// Ctrl-C quits even while typing a search.
	m := complete(t, 80, 24)
	press(m, "/", "abc")
	_, cmd := m.Update(tea.KeyMsg{Type: tea.KeyCtrlC})
	if cmd == nil {
		t.Fatal("ctrl+c in search: no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("ctrl+c in search does not quit")
	}
}

func TestResize(t *testing.T) {
	m := complete(t, 160, 48)
	press(m, "j", "j")
	for _, size := range [][2]int{{80, 24}, {40, 10}, {200, 60}, {80, 24}, {20, 5}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		checkFrame(t, m.View(), size[0], size[1])
		press(m, "enter")
		checkFrame(t, m.View(), size[0], size[1])
		press(m, "esc")
	}
	if m.list.Cursor() != 2 {
		t.Errorf("cursor after resizes = %d, want 2", m.list.Cursor())
	}
}

func TestFastKeysSplit(t *testing.T) {
	m := complete(t, 80, 24)
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jjv")})
	if m.list.Cursor() != 2 || m.query.MinSeverity != contracts.SeverityWarn {
		t.Errorf(`"jjv" in one message: cursor %d severity %v, want 2 and WARN`, m.list.Cursor(), m.query.MinSeverity)
	}
	m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("/abc")})
	if !m.searching || m.input.Value() != "abc" {
		t.Errorf(`"/abc" in one message: searching %v input %q, want a search for abc`, m.searching, m.input.Value())
	}
}
