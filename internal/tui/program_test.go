package tui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/teatest"

	"github.com/destill-ci/destill/internal/pipeline"
)

// gatedFeed sends the build's events, then waits for release before it
// completes: the test sees the streaming state, then the complete one.
type gatedFeed struct {
	release chan struct{}
	err     error
}

func (f *gatedFeed) Stream(ctx context.Context, fn func(pipeline.Event) error) error {
	for _, e := range buildEvents() {
		if err := fn(e); err != nil {
			return err
		}
	}
	select {
	case <-f.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, e := range finalEvents() {
		if err := fn(e); err != nil {
			return err
		}
	}
	return f.err
}

// screen accumulates what a program wrote: the renderer writes only the
// lines that change, so a text stays found once it was drawn.
type screenLog struct {
	tm  *teatest.TestModel
	all bytes.Buffer
}

func (s *screenLog) wait(t *testing.T, want string) {
	t.Helper()
	teatest.WaitFor(t, io.TeeReader(s.tm.Output(), &s.all), func([]byte) bool {
		return bytes.Contains(s.all.Bytes(), []byte(want))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

func typeKeys(tm *teatest.TestModel, keys ...tea.KeyMsg) {
	for _, k := range keys {
		tm.Send(k)
	}
}

func runes(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

// TestProgramStreams runs the model in a Bubble Tea program over a feed:
// cards appear while the feed runs, the complete state shows when it ends,
// and keys work throughout.
func TestProgramStreams(t *testing.T) {
	feed := &gatedFeed{release: make(chan struct{})}
	m := newModel(t.Context(), feed, Options{Title: "acme/shop #4812"}, nil)
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	screen := &screenLog{tm: tm}

	screen.wait(t, "analysing")
	screen.wait(t, "panic: runtime error")
	tm.Type("/refused")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	screen.wait(t, "/refused")
	close(feed.release)
	screen.wait(t, "complete")
	typeKeys(tm, tea.KeyMsg{Type: tea.KeyEnter})
	screen.wait(t, "hash h-conn")
	typeKeys(tm, tea.KeyMsg{Type: tea.KeyEsc}, tea.KeyMsg{Type: tea.KeyEsc}, runes("v"), runes("v"), runes("v"))
	screen.wait(t, "≥FATAL")
	typeKeys(tm, runes("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))

	fm := tm.FinalModel(t).(*model)
	if fm.state != feedComplete || fm.store.Len() != 9 || fm.list.Len() != 1 {
		t.Errorf("final model: state %v, %d cards, %d rows; want complete, 9, 1", fm.state, fm.store.Len(), fm.list.Len())
	}
}

// TestRunFailedFeed checks Run's contract: the feed's failure is returned
// after the user quits, and quitting early cancels the feed.
func TestRunFailedFeed(t *testing.T) {
	failed := FeedFunc(func(ctx context.Context, fn func(pipeline.Event) error) error {
		return errors.Join(pipeline.ErrRequestFailed, errors.New("buildkite: 404"))
	})
	in, inW := ioPipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(t.Context(), failed, Options{In: in, Out: out, NoColor: true}) }()
	waitFor(t, func() bool { return bytes.Contains(out.Bytes(), []byte("failed")) })
	inW.Write([]byte("q"))
	if err := <-done; !errors.Is(err, pipeline.ErrRequestFailed) {
		t.Errorf("Run = %v, want an error wrapping ErrRequestFailed", err)
	}

	blocked := FeedFunc(func(ctx context.Context, fn func(pipeline.Event) error) error {
		<-ctx.Done()
		return ctx.Err()
	})
	in, inW = ioPipe()
	out = &syncBuffer{}
	go func() { done <- Run(t.Context(), blocked, Options{In: in, Out: out}) }()
	waitFor(t, func() bool { return bytes.Contains(out.Bytes(), []byte("Waiting for findings")) })
	inW.Write([]byte("q"))
	if err := <-done; err != nil {
		t.Errorf("Run after quitting a running feed = %v, want nil", err)
	}
}
