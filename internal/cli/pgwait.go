package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// postgresUnavailable reports whether err says that Postgres could not
// answer for now, so that asking again later may succeed: the server could
// not be reached or closed the connection (it is stopped, restarting or
// behind a broken network), is starting up or shutting down, or has no
// connection slot left. An error Postgres returns about the request itself
// (a wrong password, an unknown database, a missing table) is not, nor is
// an unknown request id, a database URL that does not parse, or a
// cancellation.
func postgresUnavailable(err error) bool {
	if err == nil || errors.Is(err, postgres.ErrNotFound) || errors.As(err, new(postgres.ErrBadURL)) ||
		errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", // admin_shutdown: the server is stopping
			"57P02", // crash_shutdown: another server process crashed
			"57P03", // cannot_connect_now: starting up or shutting down
			"57P05", // idle_session_timeout: the connection was closed
			"53300": // too_many_connections
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection exception
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err):
		return true // no answer in time
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed):
		return true // the server closed the connection
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ETIMEDOUT):
		return true
	case errors.As(err, &ne):
		// Any other failure to dial or to talk: a unix socket that is gone
		// while the server is stopped, a host name that does not resolve
		// while its container is down.
		return true
	}
	return false
}

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
	if !postgresUnavailable(err) {
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
