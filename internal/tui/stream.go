package tui

import (
	"context"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/destill-ci/destill/internal/pipeline"
)

// batchMsg carries the events that arrived since the last batch. Batching
// keeps the UI responsive when thousands of cards arrive at once: the model
// updates and draws once per batch, not once per card.
type batchMsg struct {
	events []pipeline.Event
	done   bool
	err    error
}

// stream runs a feed in its own goroutine and hands its events over in
// batches.
type stream struct {
	mu       sync.Mutex
	buf      []pipeline.Event
	done     bool
	err      error
	reported bool
	wake     chan struct{}
	finished chan struct{}
}

func startStream(ctx context.Context, feed Feed) *stream {
	s := &stream{wake: make(chan struct{}, 1), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		err := feed.Stream(ctx, func(e pipeline.Event) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			s.mu.Lock()
			s.buf = append(s.buf, e)
			s.mu.Unlock()
			s.signal()
			return nil
		})
		s.mu.Lock()
		s.done, s.err = true, err
		s.mu.Unlock()
		s.signal()
	}()
	return s
}

func (s *stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next is a command that waits for the next batch.
func (s *stream) next() tea.Msg {
	for range s.wake {
		s.mu.Lock()
		msg := batchMsg{events: s.buf, done: s.done, err: s.err}
		s.buf = nil
		if s.done {
			if s.reported {
				s.mu.Unlock()
				return nil
			}
			s.reported = true
		}
		s.mu.Unlock()
		if len(msg.events) > 0 || msg.done {
			return msg
		}
	}
	return nil
}
