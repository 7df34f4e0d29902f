// Package postgres stores findings and request status in PostgreSQL: the
// schema and its migrations, the batched writes of the sink, and the reads of
// destill status and destill view.
package postgres

//go:generate go test -run TestInitSQLFile -update .

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/destill-ci/destill/contracts"
)

// ErrNotFound reports a request id or build URL the database does not know.
var ErrNotFound = errors.New("not found")

// Store reads and writes destill's tables. Safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Config tunes Open. The zero value is usable.
type Config struct {
	// MaxConns bounds the connection pool; default 4.
	MaxConns int32
}

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN). It does not migrate: call Migrate.
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database url: %w", ErrBadURL{err})
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns <= 0 {
		pc.MaxConns = 4
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Migrate applies missing migrations; see the package-level Migrate.
func (s *Store) Migrate(ctx context.Context) ([]Migration, error) { return Migrate(ctx, s.pool) }

// IsRejected reports whether err is Postgres refusing the data itself (a
// data exception, a constraint, a size limit), which retrying cannot fix. Any
// other error (connection lost, server shutting down, deadlock) is transient.
func IsRejected(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return true
	}
	return false
}

// IsTransient reports whether err says that Postgres could not answer for
// now, so that asking again later may succeed: the server could not be
// reached or closed the connection (it is stopped, restarting or behind a
// broken network), is starting up or shutting down, has no connection slot
// left, or aborted the transaction (deadlock, serialization). An error
// Postgres returns about the statement, its data or the login (a wrong
// password, an unknown database, a missing table, a full disk) is not, nor
// is an unknown request (ErrNotFound), a database URL that does not parse,
// or a cancellation.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) || errors.As(err, new(ErrBadURL)) || errors.Is(err, context.Canceled) {
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
		return strings.HasPrefix(pe.Code, "08") || // connection exception
			strings.HasPrefix(pe.Code, "40") || // transaction rollback
			strings.HasPrefix(pe.Code, "58") // system error
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

// ErrBadURL is a database URL that cannot be parsed: no retry helps.
type ErrBadURL struct{ Err error }

func (e ErrBadURL) Error() string { return e.Err.Error() }
func (e ErrBadURL) Unwrap() error { return e.Err }

// Clean makes s storable as Postgres text: invalid UTF-8 becomes U+FFFD and
// NUL bytes (which text and jsonb refuse) are dropped.
func Clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return s
}

// ApplyRequests records analysis requests (idempotent) in one transaction.
func (s *Store) ApplyRequests(ctx context.Context, reqs []contracts.AnalysisRequest) error {
	if len(reqs) == 0 {
		return nil
	}
	sorted := append([]contracts.AnalysisRequest(nil), reqs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].RequestID < sorted[j].RequestID })
	b := &pgx.Batch{}
	for _, r := range sorted {
		b.Queue("SELECT destill_apply_request($1, $2, $3)", Clean(r.RequestID), Clean(r.BuildURL), timeText(&r.Timestamp))
	}
	return s.sendBatch(ctx, b, "apply requests")
}

// ApplyProgress applies progress events (idempotent, order-independent) in
// one transaction and folds them into their requests.
func (s *Store) ApplyProgress(ctx context.Context, events []contracts.Progress) error {
	if len(events) == 0 {
		return nil
	}
	// Lock requests in id order so concurrent batches cannot deadlock.
	sorted := append([]contracts.Progress(nil), events...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].RequestID < sorted[j].RequestID })
	b := &pgx.Batch{}
	for _, e := range sorted {
		b.Queue(applyProgressSQL, ProgressArgs(e)...)
	}
	return s.sendBatch(ctx, b, "apply progress")
}

const applyProgressSQL = "SELECT destill_apply_progress($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"

// ProgressArgs are the arguments of destill_apply_progress for e, cleaned.
func ProgressArgs(e contracts.Progress) []any {
	at := timeText(&e.Time)
	return []any{Clean(e.RequestID), Clean(string(e.Kind)), Clean(e.JobID), Clean(e.JobName), Clean(e.JobURL),
		Clean(string(e.JobOutcome)), int32(e.ChunkIndex), int32(e.Jobs), int32(e.Chunks), int32(e.Findings),
		Clean(e.Error), at}
}

// timeText renders t for Postgres to parse, nil for no time. Postgres rounds
// sub-microsecond digits itself, exactly as when Redpanda Connect passes the
// JSON timestamp through.
func timeText(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.Format(time.RFC3339Nano)
	return &s
}

func (s *Store) sendBatch(ctx context.Context, b *pgx.Batch, op string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	return nil
}
