package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// Backoff between attempts while Postgres cannot be reached.
const (
	pgRetryFirst = 250 * time.Millisecond
	pgRetryMax   = 5 * time.Second
)

// pgWaiter waits out a Postgres outage for a command that follows a
// request: it says once on errOut that it is waiting, retries with backoff,
// and gives up when an outage lasts longer than limit.
type pgWaiter struct {
	errOut io.Writer
	where  string        // the database, its password hidden
	limit  time.Duration // how long one outage may last

	since time.Time // when the current outage began; zero when none
	delay time.Duration
}

// retry decides what to do after a read failed with err: nil once it has
// waited and the read should be tried again; otherwise the error to end
// with, err itself when it is not an outage.
func (w *pgWaiter) retry(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !postgres.IsTransient(err) {
		return err
	}
	now := time.Now()
	if w.since.IsZero() {
		if w.limit <= 0 {
			return err
		}
		w.since, w.delay = now, pgRetryFirst
		fmt.Fprintf(w.errOut, "destill: waiting for Postgres at %s, which cannot answer (%s); retrying for up to %s\n",
			sanitize.String(w.where), sanitize.String(err.Error()), w.limit)
	}
	left := w.limit - now.Sub(w.since)
	if left <= 0 {
		return fmt.Errorf("gave up waiting for Postgres at %s after %s: %w", w.where, w.limit, err)
	}
	t := time.NewTimer(min(w.delay, left))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	w.delay = min(2*w.delay, pgRetryMax)
	return nil
}

// ok records a read that succeeded: the outage, if any, is over.
func (w *pgWaiter) ok() { w.since = time.Time{} }
