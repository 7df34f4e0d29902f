// Package postgres stores findings and request status in PostgreSQL: the
// schema and its migrations, the batched writes of the sink, and the reads of
// destill status and destill view.
package postgres

//go:generate go test -run TestInitSQLFile -update .

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
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
		return nil, fmt.Errorf("postgres: parse database url: %w", err)
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

// IsTransient reports whether err may go away by itself: the server could
// not be reached, is starting or stopping, or aborted the transaction
// (deadlock, serialization). Errors Postgres returns about the statement or
// its data are not transient.
func IsTransient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err != nil
	}
	if len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return false
}

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

func cleanAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Clean(s)
	}
	return out
}

// InsertFindings writes cards in one statement, skipping ids already stored
// (ON CONFLICT (id) DO NOTHING), and returns how many rows were new. Text is
// cleaned first. If Postgres rejects any card the whole call fails with an
// error for which IsRejected is true and nothing is written.
func (s *Store) InsertFindings(ctx context.Context, cards []contracts.TriageCard) (int64, error) {
	if len(cards) == 0 {
		return 0, nil
	}
	cols, err := findingColumns(cards)
	if err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, insertFindingsSQL, cols...)
	if err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	return tag.RowsAffected(), nil
}

const insertFindingsSQL = `INSERT INTO findings (
    id, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message, pre_context, post_context,
    context_note, rule, chunk_index, log_timestamp)
SELECT * FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::smallint[], $12::float8[], $13::int[], $14::int[], $15::text[],
    $16::text[], $17::int[], $18::text[], $19::text[], $20::jsonb[], $21::jsonb[],
    $22::text[], $23::text[], $24::int[], $25::text[]::timestamptz[])
ON CONFLICT (id) DO NOTHING`

// FindingRow is a card as the findings table stores it: what both sinks
// must write. Context lines are JSON arrays.
type FindingRow struct {
	ID, RequestID, BuildID, BuildURL, Source string
	JobID, JobName, JobURL, JobOutcome       string
	Severity                                 string
	SeverityRank                             int16
	ConfidenceScore                          float64
	LineNumber, EndLine                      int32
	MessageHash, NormalizedMessage           string
	NormalizerVersion                        int32
	RawMessage, Message                      string
	PreContext, PostContext                  string
	ContextNote, Rule                        string
	ChunkIndex                               int32
	LogTimestamp                             *time.Time
}

// Row converts a card to its row, cleaning text. It fails for a card that can
// never be stored (no id, no request id), which a sink dead-letters.
func Row(c *contracts.TriageCard) (FindingRow, error) {
	if c.ID == "" || c.RequestID == "" {
		return FindingRow{}, errors.New("card without id or request_id")
	}
	end := c.EndLine
	if end < c.LineNumber {
		end = c.LineNumber
	}
	return FindingRow{
		ID: c.ID, RequestID: Clean(c.RequestID), BuildID: Clean(c.BuildID), BuildURL: Clean(c.BuildURL),
		Source: Clean(c.Source), JobID: Clean(c.Job.ID), JobName: Clean(c.Job.Name), JobURL: Clean(c.Job.URL),
		JobOutcome: Clean(string(c.Job.Outcome)), Severity: c.Severity.String(), SeverityRank: int16(c.Severity.Rank()),
		ConfidenceScore: c.ConfidenceScore, LineNumber: int32(c.LineNumber), EndLine: int32(end),
		MessageHash: Clean(c.MessageHash), NormalizedMessage: Clean(c.NormalizedMessage),
		NormalizerVersion: int32(c.NormalizerVersion), RawMessage: Clean(c.RawMessage), Message: Clean(c.Message),
		PreContext: jsonLines(c.PreContext), PostContext: jsonLines(c.PostContext),
		ContextNote: Clean(c.ContextNote), Rule: Clean(c.Rule), ChunkIndex: int32(c.ChunkIndex), LogTimestamp: c.Timestamp,
	}, nil
}

func findingColumns(cards []contracts.TriageCard) ([]any, error) {
	n := len(cards)
	var (
		ids, reqs, bids, burls, srcs, jids, jnames, jurls, jouts = mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n)
		sevs, hashes, norms, raws, msgs, pres, posts, notes      = mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n)
		rules                                                    = mk(n)
		ranks                                                    = make([]int16, n)
		scores                                                   = make([]float64, n)
		lines, ends, nvers, chunks                               = make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
		stamps                                                   = make([]*string, n)
	)
	for i := range cards {
		r, err := Row(&cards[i])
		if err != nil {
			return nil, fmt.Errorf("postgres: finding %d: %w", i, err)
		}
		ids[i], reqs[i], bids[i], burls[i], srcs[i] = r.ID, r.RequestID, r.BuildID, r.BuildURL, r.Source
		jids[i], jnames[i], jurls[i], jouts[i] = r.JobID, r.JobName, r.JobURL, r.JobOutcome
		sevs[i], ranks[i], scores[i], lines[i], ends[i] = r.Severity, r.SeverityRank, r.ConfidenceScore, r.LineNumber, r.EndLine
		hashes[i], norms[i], nvers[i], raws[i], msgs[i] = r.MessageHash, r.NormalizedMessage, r.NormalizerVersion, r.RawMessage, r.Message
		pres[i], posts[i], notes[i], rules[i], chunks[i], stamps[i] = r.PreContext, r.PostContext, r.ContextNote, r.Rule, r.ChunkIndex, timeText(r.LogTimestamp)
	}
	return []any{ids, reqs, bids, burls, srcs, jids, jnames, jurls, jouts,
		sevs, ranks, scores, lines, ends, hashes,
		norms, nvers, raws, msgs, pres, posts,
		notes, rules, chunks, stamps}, nil
}

func mk(n int) []string { return make([]string, n) }

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
