package sink

import (
	"context"
	"time"

	"github.com/destill-ci/destill/internal/broker"
)

// writer group-commits one topic's messages for the per-message Handler
// path: a handler submits its message and waits for the statement that
// stores it. While a statement runs, newly submitted messages queue and go
// together in the next one.
type writer struct {
	s     *Sink
	topic string
	in    chan item
}

type item struct {
	ctx  context.Context
	m    broker.Message
	done chan error
}

func newWriter(s *Sink, topic string) *writer {
	return &writer{s: s, topic: topic, in: make(chan item, s.cfg.MaxBatch)}
}

// submit hands m to the writer and returns once it is stored (nil), or the
// write failed, or ctx ended.
func (w *writer) submit(ctx context.Context, m broker.Message) error {
	it := item{ctx: ctx, m: m, done: make(chan error, 1)}
	select {
	case w.in <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		// The writer may still store it; redelivery is harmless.
		return ctx.Err()
	}
}

func (w *writer) run(ctx context.Context) {
	batch := make([]item, 0, w.s.cfg.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case it := <-w.in:
			batch = append(batch, it)
		case <-ctx.Done():
			return
		}
		batch = w.fill(ctx, batch)
		msgs := make([]broker.Message, 0, len(batch))
		var live []item
		for _, it := range batch {
			if it.ctx.Err() == nil { // its handler gave up: leave it for redelivery
				msgs = append(msgs, it.m)
				live = append(live, it)
			}
		}
		err := w.s.write(ctx, w.topic, msgs)
		for _, it := range live {
			it.done <- err
		}
	}
}

// fill adds whatever is already queued, then, with a Linger, waits for more
// until the batch is full or the linger ends.
func (w *writer) fill(ctx context.Context, batch []item) []item {
	max := w.s.cfg.MaxBatch
	for len(batch) < max {
		select {
		case it := <-w.in:
			batch = append(batch, it)
			continue
		default:
		}
		break
	}
	if w.s.cfg.Linger <= 0 || len(batch) >= max {
		return batch
	}
	t := time.NewTimer(w.s.cfg.Linger)
	defer t.Stop()
	for len(batch) < max {
		select {
		case it := <-w.in:
			batch = append(batch, it)
		case <-t.C:
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}
