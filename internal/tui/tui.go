// Package tui is destill's terminal UI: a person triaging a failed build
// watches the jobs being read and analysed, and the triage cards appear,
// ranked, as they are found.
//
// Run opens it over a Feed: `destill run` feeds it the pipeline's live
// stream, `destill view <request-id>` feeds it stored findings. The screen
// has four parts: a header with the request's state, the jobs' progress (jobs
// destill could not read stay listed with the reason), the ranked card list
// with a detail pane (beside the list on wide terminals, in place of it on
// narrow ones) and a status line. `?` lists the keys.
//
// Every log-derived string is sanitized (package sanitize) before it is
// drawn: no escape sequence from a log reaches the terminal.
//
// The package is a root model that routes messages to its components:
// jobs (progress), findings (the card store and its queries), cardlist (the
// list), detail (the detail pane), with theme holding the styles.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/term"
	"github.com/muesli/termenv"

	"github.com/destill-ci/destill/internal/pipeline"
)

// Feed delivers a request's events; Stream returns nil when the request is
// complete, an error wrapping pipeline.ErrRequestFailed when it failed, or
// fn's error. It must return soon after ctx is cancelled.
//
// A pipeline.Pipeline is a Feed once bound to a request id (see
// PipelineFeed); stored findings are a Feed that calls fn once per card and
// returns nil.
type Feed interface {
	Stream(ctx context.Context, fn func(pipeline.Event) error) error
}

// FeedFunc adapts a function to Feed.
type FeedFunc func(ctx context.Context, fn func(pipeline.Event) error) error

// Stream calls f.
func (f FeedFunc) Stream(ctx context.Context, fn func(pipeline.Event) error) error { return f(ctx, fn) }

// PipelineFeed is the Feed of one request of p.
func PipelineFeed(p pipeline.Pipeline, requestID string) Feed {
	return FeedFunc(func(ctx context.Context, fn func(pipeline.Event) error) error {
		return p.Stream(ctx, requestID, fn)
	})
}

// Options configure Run. The zero value is usable.
type Options struct {
	// Title says what is being triaged: a build URL, file names or a
	// request id. It is sanitized before it is drawn.
	Title string
	// NoColor draws without colour or text attributes. Colour is also off
	// when Out is not a terminal or NO_COLOR is set in the environment.
	NoColor bool
	// In and Out are the terminal; nil means os.Stdin and os.Stdout.
	In  io.Reader
	Out io.Writer
	// ExportDir is where `e` and `E` write the current view; empty means
	// the working directory. The status line says the full path written.
	ExportDir string
	// OpenURL opens a job's page; nil runs xdg-open (open on macOS). It is
	// only called with http and https URLs.
	OpenURL func(ctx context.Context, url string) error
	// Now is the clock used for export file names; nil means time.Now.
	Now func() time.Time
}

// Run shows the UI until the user quits (q or Ctrl-C) and restores the
// terminal. The feed keeps the UI up to date while it runs; when it ends the
// UI says whether the request completed or failed and stays open.
//
// Run returns nil when the user quits, or, once the user has quit:
// ctx.Err() if ctx was cancelled, or the feed's error if it failed (test it
// with errors.Is(err, pipeline.ErrRequestFailed)). Quitting before the feed
// ends cancels it and is not an error.
func Run(ctx context.Context, feed Feed, opts Options) error {
	in, out := opts.In, opts.Out
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	out = lockWriter(out)

	r := lipgloss.NewRenderer(out)
	if opts.NoColor {
		r.SetColorProfile(termenv.Ascii)
	}
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(streamCtx, feed, opts, r)
	m.clip = out

	p := tea.NewProgram(m,
		tea.WithContext(ctx),
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithAltScreen(),
		tea.WithMouseCellMotion(),
	)
	final, err := p.Run()
	cancel()
	m.stopStream()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, tea.ErrProgramKilled) {
		return fmt.Errorf("tui: %w", err)
	}
	if fm, ok := final.(*model); ok && fm.streamErr != nil {
		return fmt.Errorf("tui: %w", fm.streamErr)
	}
	return nil
}

// lockWriter serialises writes to w, so that a clipboard sequence written by
// an action never lands inside a frame the renderer is writing. A terminal
// keeps its file methods, which Bubble Tea needs to size and configure it.
func lockWriter(w io.Writer) io.Writer {
	mu := new(sync.Mutex)
	if f, ok := w.(term.File); ok {
		return &lockedFile{File: f, mu: mu}
	}
	return &lockedWriter{w: w, mu: mu}
}

type lockedFile struct {
	term.File
	mu *sync.Mutex
}

func (l *lockedFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.File.Write(p)
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
