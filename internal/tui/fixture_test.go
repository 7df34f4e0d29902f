package tui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
)

const reqID = "8c4c1a52-0f1e-4c43-9a57-3d0f3f5b9a10"

var (
	jobLint   = contracts.Job{ID: "0190a1b2-lint", Name: "lint", URL: "https://buildkite.com/acme/shop/builds/4812#0190a1b2-lint", Outcome: contracts.OutcomePassed}
	jobUnit   = contracts.Job{ID: "0190a1b2-unit", Name: "unit tests (go 1.26)", URL: "https://buildkite.com/acme/shop/builds/4812#0190a1b2-unit", Outcome: contracts.OutcomeFailed, ExitStatus: intp(1)}
	jobInteg  = contracts.Job{ID: "0190a1b2-integ", Name: "integration", URL: "https://buildkite.com/acme/shop/builds/4812#0190a1b2-integ", Outcome: contracts.OutcomeFailed, ExitStatus: intp(2)}
	jobDeploy = contracts.Job{ID: "0190a1b2-deploy", Name: "deploy preview", URL: "https://buildkite.com/acme/shop/builds/4812#0190a1b2-deploy", Outcome: contracts.OutcomeFailed}
)

func intp(n int) *int { return &n }

func progress(kind contracts.ProgressKind, j contracts.Job, f func(*contracts.Progress)) pipeline.Event {
	p := &contracts.Progress{Version: 1, RequestID: reqID, Kind: kind, JobID: j.ID, JobName: j.Name, JobURL: j.URL, JobOutcome: j.Outcome}
	if f != nil {
		f(p)
	}
	return pipeline.Event{Progress: p}
}

// ctxLines makes n numbered context lines.
func ctxLines(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, from+i)
	}
	return out
}

func card(j contracts.Job, line int, sev contracts.Severity, conf float64, hash, msg string, mod func(*contracts.TriageCard)) pipeline.Event {
	c := &contracts.TriageCard{
		Version: 1, ID: contracts.FindingID(reqID, j.ID, line), RequestID: reqID, MessageHash: hash,
		Source: "buildkite", BuildID: "4812", Job: j, Severity: sev, LineNumber: line, EndLine: line,
		RawMessage: msg, Message: msg, NormalizerVersion: 1, ConfidenceScore: conf,
		PreContext:  ctxLines("    log line", line-4, 4),
		PostContext: ctxLines("    log line", line+1, 6),
	}
	if mod != nil {
		mod(c)
	}
	return pipeline.Event{Card: c}
}

// buildEvents is a realistic failed build: a passing lint job, unit tests
// that panic, integration tests with a repeated connection error, and a
// deploy job whose log could not be downloaded.
func buildEvents() []pipeline.Event {
	ev := []pipeline.Event{{Progress: &contracts.Progress{Version: 1, RequestID: reqID, Kind: contracts.ProgressRequestStarted, Jobs: 4}}}
	for _, j := range []contracts.Job{jobLint, jobUnit, jobInteg, jobDeploy} {
		ev = append(ev, progress(contracts.ProgressJobDiscovered, j, nil))
	}
	for _, j := range []contracts.Job{jobLint, jobUnit, jobInteg, jobDeploy} {
		ev = append(ev, progress(contracts.ProgressJobFetching, j, nil))
	}
	ev = append(ev,
		progress(contracts.ProgressJobDone, jobLint, func(p *contracts.Progress) { p.Chunks = 1; p.Bytes = 18_400 }),
		progress(contracts.ProgressChunkAnalyzed, jobLint, nil),
		card(jobLint, 88, contracts.SeverityWarn, 0.31, "h-deprecated", "WARN: io/ioutil is deprecated: use io and os", nil),
		card(jobUnit, 1412, contracts.SeverityFatal, 0.97, "h-panic", "panic: runtime error: index out of range [3] with length 3", func(c *contracts.TriageCard) {
			c.EndLine = 1415
			c.PostContext = []string{
				"goroutine 41 [running]:",
				"github.com/acme/shop/cart.(*Cart).Total(0xc0001a2000)",
				"\t/workdir/cart/cart.go:57 +0x1d4",
				"FAIL\tgithub.com/acme/shop/cart\t0.412s",
				"FAIL",
				"make: *** [Makefile:31: test] Error 1",
			}
			c.Rule = "go-panic"
		}),
		card(jobUnit, 1399, contracts.SeverityError, 0.82, "h-testfail", "--- FAIL: TestCartTotal/discounts (0.00s)", nil),
		card(jobUnit, 1420, contracts.SeverityError, 0.55, "h-make", "make: *** [Makefile:31: test] Error 1", nil),
		progress(contracts.ProgressChunkAnalyzed, jobUnit, nil),
		progress(contracts.ProgressJobDone, jobUnit, func(p *contracts.Progress) { p.Chunks = 1; p.Bytes = 912_000 }),
		card(jobInteg, 233, contracts.SeverityError, 0.74, "h-conn", "dial tcp 10.0.3.7:5432: connect: connection refused", nil),
		card(jobInteg, 301, contracts.SeverityError, 0.74, "h-conn", "dial tcp 10.0.3.9:5432: connect: connection refused", nil),
		card(jobInteg, 377, contracts.SeverityError, 0.74, "h-conn", "dial tcp 10.0.3.7:5432: connect: connection refused", func(c *contracts.TriageCard) {
			c.ContextNote = "context after cut: end of log"
			c.PostContext = c.PostContext[:2]
		}),
		card(jobInteg, 380, contracts.SeverityError, 0.55, "h-make", "make: *** [Makefile:40: integration] Error 2", nil),
		card(jobInteg, 12, contracts.SeverityInfo, 0.12, "h-info", "INFO using cached toolchain go1.26.8 for a very long line that goes on and on past the edge of any reasonable terminal width, to check that it wraps or scrolls rather than garbling the screen", nil),
		progress(contracts.ProgressChunkAnalyzed, jobInteg, nil),
		progress(contracts.ProgressJobFailed, jobDeploy, func(p *contracts.Progress) {
			p.Error = "buildkite: fetch log for job 0190a1b2-deploy: 403 Forbidden"
		}),
	)
	// The integration job is still being analysed (2 chunks, 1 done) until
	// the last events.
	return ev
}

// finalEvents completes the integration job.
func finalEvents() []pipeline.Event {
	return []pipeline.Event{
		progress(contracts.ProgressJobDone, jobInteg, func(p *contracts.Progress) { p.Chunks = 2; p.Bytes = 1_480_000 }),
		progress(contracts.ProgressChunkAnalyzed, jobInteg, func(p *contracts.Progress) { p.ChunkIndex = 1 }),
	}
}

// newTestModel returns a model drawn with colours (as on a real terminal) at
// width×height, fed with events; done completes the feed.
func newTestModel(t testing.TB, width, height int, events []pipeline.Event, done bool) *model {
	t.Helper()
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	m := newModel(t.Context(), nil, Options{Title: "acme/shop #4812"}, r)
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	m.Update(batchMsg{events: events, done: done})
	return m
}

// press sends keys to m: each argument is a key name as Bubble Tea spells
// it ("enter", "down", "ctrl+c") or a string of runes typed one by one.
func press(m *model, keys ...string) {
	for _, k := range keys {
		if msg, ok := namedKeys[k]; ok {
			m.Update(msg)
			continue
		}
		for _, r := range k {
			m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
	}
}

var namedKeys = map[string]tea.KeyMsg{
	"enter":  {Type: tea.KeyEnter},
	"esc":    {Type: tea.KeyEsc},
	"down":   {Type: tea.KeyDown},
	"up":     {Type: tea.KeyUp},
	"pgdown": {Type: tea.KeyPgDown},
	"ctrl+c": {Type: tea.KeyCtrlC},
	"space":  {Type: tea.KeySpace, Runes: []rune{' '}},
}

func itoa(n int) string { return fmt.Sprint(n) }

func splitLines(s string) []string { return strings.Split(s, "\n") }

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
