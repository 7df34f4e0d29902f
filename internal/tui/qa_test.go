package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/report"
)

// fileEvents is `destill run` over local log files: jobs named by their
// paths, raw lines that carried colours and CRLF (kept by the analyzer as
// control pictures), and, as `destill view` passes them, each card's
// history.
func fileEvents() []pipeline.Event {
	job := func(name string) contracts.Job {
		return contracts.Job{ID: name, Name: name, Outcome: contracts.OutcomeFailed}
	}
	jest := job("testdata/logs/bugswarm-jest-2545414624.log.gz")
	py := job("testdata/logs/bugswarm-python-109787645.log")
	java := job("testdata/logs/cidiff-java8workshop-2462.log.gz")
	meta := func(seen bool, builds int) func(*contracts.TriageCard) {
		return func(c *contracts.TriageCard) {
			c.Metadata = map[string]string{
				"history.seen_before": map[bool]string{true: "true", false: "false"}[seen],
				"history.builds":      itoa(builds), "history.occurrences": itoa(builds * 2),
				"history.first_seen": "2026-01-05T10:00:00Z", "history.last_seen": "2026-03-01T09:30:00Z",
				"history.max_severity": "ERROR",
			}
		}
	}
	ev := []pipeline.Event{{Progress: &contracts.Progress{Version: 1, RequestID: reqID, Kind: contracts.ProgressRequestStarted, Jobs: 3}}}
	for _, j := range []contracts.Job{jest, py, java} {
		ev = append(ev, progress(contracts.ProgressJobDiscovered, j, nil), progress(contracts.ProgressJobDone, j, func(p *contracts.Progress) { p.Chunks = 1 }),
			progress(contracts.ProgressChunkAnalyzed, j, nil))
	}
	ev = append(ev,
		card(jest, 556, contracts.SeverityError, 0.81, "h-ref", "ReferenceError: Constants is not defined", func(c *contracts.TriageCard) {
			c.RawMessage = "␛[31m    ReferenceError: Constants is not defined␛[39m␍"
			c.Rule = "js-error"
			meta(false, 1)(c)
		}),
		card(py, 1203, contracts.SeverityError, 0.81, "h-name", "E       NameError: name 'os' is not defined", meta(true, 7)),
		card(java, 202, contracts.SeverityError, 0.81, "h-bc", "bash: line 97: bc: command not found", func(c *contracts.TriageCard) {
			c.RawMessage = "bash: line 97: bc: command not found␍"
			meta(true, 12)(c)
		}),
		card(jest, 9012, contracts.SeverityError, 0.60, "h-exit", "npm ERR! Test failed.  See above for more details.", func(c *contracts.TriageCard) {
			c.RawMessage = "2024-05-01T10:00:00.0000000Z ##[error]Process completed with exit code 1."
			c.Rule = "ci-echo"
			meta(true, 2)(c)
		}),
	)
	return ev
}

// TestGoldenFiles pins the list and the detail pane of local files with
// history at 80×24 and 160×48: line numbers stay, job names keep their
// distinguishing end, the finding's own line is as clean as its context.
func TestGoldenFiles(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {160, 48}} {
		for _, s := range []struct {
			name string
			keys []string
		}{{"list", nil}, {"detail", []string{"enter"}}, {"detail_echo", []string{"G", "enter"}}} {
			t.Run(s.name+"_"+itoa(size.w)+"x"+itoa(size.h), func(t *testing.T) {
				m := newTestModel(t, size.w, size.h, fileEvents(), true)
				press(m, s.keys...)
				view := m.View()
				checkFrame(t, view, size.w, size.h)
				plain := ansi.Strip(view)
				if strings.ContainsAny(plain, "␛␍") {
					t.Errorf("control pictures on screen:\n%s", plain)
				}
				golden.RequireEqual(t, []byte(plain))
			})
		}
	}
}

func TestListColumnsAt80(t *testing.T) {
	m := newTestModel(t, 80, 24, fileEvents(), true)
	view := ansi.Strip(m.View())
	for _, want := range []string{"LINE", " 556 ", "1203", "…2545414624.log.gz", "…hon-109787645.log", "…kshop-2462.log.gz"} {
		if !strings.Contains(view, want) {
			t.Errorf("80×24 list lacks %q:\n%s", want, view)
		}
	}
	if strings.Contains(view, "testdata/logs") {
		t.Errorf("job names still show their common directory:\n%s", view)
	}
	// The rank is the first column, in order when sorted by rank.
	lines := strings.Split(view, "\n")
	var ranks []string
	for _, l := range lines {
		if f := strings.Fields(strings.TrimPrefix(l, "> ")); len(f) > 1 && (f[1] == "ERROR" || f[1] == "FATAL") {
			ranks = append(ranks, f[0])
		}
	}
	if diff := cmp.Diff([]string{"1", "2", "3", "4"}, ranks); diff != "" {
		t.Errorf("rank column (-want +got):\n%s\n%s", diff, view)
	}
}

// TestUIOrderIsTheReportOrder: the default view lists the cards as
// `destill run --format text` does.
func TestUIOrderIsTheReportOrder(t *testing.T) {
	for name, events := range map[string][]pipeline.Event{
		"build": append(buildEvents(), finalEvents()...), "files": fileEvents(), "many": manyCards(3000),
	} {
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, 120, 40, events, true)
			col := report.NewCollector()
			for _, e := range events {
				if e.Card != nil {
					col.Add(*e.Card)
				}
			}
			var want, got []string
			for _, f := range col.Findings(nil) {
				want = append(want, f.Job.ID+":"+itoa(f.LineNumber))
			}
			for _, r := range m.list.Rows() {
				got = append(got, r.Card.JobID+":"+itoa(r.Card.Raw.LineNumber))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("UI order differs from the report's (-report +ui):\n%s", diff)
			}
		})
	}
}

// TestRankWhileStreaming: a large request streaming in is ranked at most
// every rankEvery; cards in between follow the ranked ones, and the rank
// order is complete once due or when the feed ends.
func TestRankWhileStreaming(t *testing.T) {
	all := manyCards(6000)
	m := newTestModel(t, 120, 40, all[:3000], false)
	press(m, "a") // every occurrence: 3000 cards to rank
	clock := time.Now()
	m.store.Now = func() time.Time { return clock }
	m.store.RankNow()
	m.Update(batchMsg{events: all[3000:4000]}) // ranked: the clock stands still since
	_, cmd := m.Update(batchMsg{events: all[4000:5000]})
	if !m.store.Pending(m.query) || !m.rankDue || cmd == nil {
		t.Fatalf("a batch right after a ranking: pending %v, rank due %v", m.store.Pending(m.query), m.rankDue)
	}
	rows := m.list.Rows()
	if last := rows[len(rows)-1]; last.Card.Seq != 4999 || last.Rank != 5000 {
		t.Errorf("the last row is card %d rank %d, want the last of the unranked batch, 5000", last.Card.Seq, last.Rank)
	}
	m.Update(rankMsg{})
	if m.store.Pending(m.query) || m.rankDue {
		t.Errorf("after rankMsg: pending %v, rank due %v", m.store.Pending(m.query), m.rankDue)
	}
	check := func(n int) {
		t.Helper()
		var want []contracts.TriageCard
		for _, e := range all[:n] {
			want = append(want, *e.Card)
		}
		analyze.Rank(want)
		rows := m.list.Rows()
		if len(rows) != len(want) {
			t.Fatalf("%d rows, want %d", len(rows), len(want))
		}
		for i := range want {
			if rows[i].Card.Raw.ID != want[i].ID || rows[i].Rank != i+1 {
				t.Fatalf("row %d: card %s rank %d, analyze.Rank has %s", i, rows[i].Card.Raw.ID, rows[i].Rank, want[i].ID)
			}
		}
	}
	check(5000)
	m.Update(batchMsg{events: all[5000:5500]})
	m.Update(batchMsg{events: all[5500:], done: true}) // the end ranks at once
	check(6000)
}

func TestHistoryShown(t *testing.T) {
	m := newTestModel(t, 160, 48, fileEvents(), true)
	view := ansi.Strip(m.View())
	for _, want := range []string{"HIST", " 7× ", " 12× ", " new ",
		"history: seen before: 7 builds, 14 times, first 2026-01-05, last", "2026-03-01, worst ERROR"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
	press(m, "j", "j")
	view = ansi.Strip(m.View())
	if want := "history: new in this build"; !strings.Contains(view, want) {
		t.Errorf("detail lacks %q:\n%s", want, view)
	}
	md := string(exportMarkdown("t", time.Unix(0, 0), m.query, m.list.Rows()))
	for _, want := range []string{"- history: new in this build", "    > 556 |     ReferenceError: Constants is not defined\n"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown export lacks %q:\n%s", want, md)
		}
	}
	if strings.ContainsAny(md, "␛␍") {
		t.Errorf("control pictures in the Markdown export:\n%s", md)
	}
}
