// Package postgres stores findings and request status in PostgreSQL: the
// schema and its migrations, the batched writes of the sink, and the reads of
// destill status and destill view.
package postgres

//go:generate go test -run TestInitSQLFile -update .

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
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

// cleanAll cleans every line, copying ss only if a line changes. It never
// returns nil: a card without context lines stores an empty array.
func cleanAll(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	var out []string
	for i, s := range ss {
		c := Clean(s)
		if out == nil && c != s {
			out = append(make([]string, 0, len(ss)), ss[:i]...)
		}
		if out != nil {
			out = append(out, c)
		}
	}
	if out == nil {
		return ss
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
	// In id order, concurrent statements wait for each other's ids in the
	// same order: no deadlock when a card is delivered twice.
	if !slices.IsSortedFunc(cards, byID) {
		cards = slices.Clone(cards)
		slices.SortFunc(cards, byID)
	}
	cols, err := findingColumns(cards)
	if err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	defer conn.Release()
	if err := registerTypes(ctx, conn.Conn()); err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	tag, err := conn.Exec(ctx, insertFindingsSQL, cols...)
	if err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	return tag.RowsAffected(), nil
}

func byID(a, b contracts.TriageCard) int { return strings.Compare(a.ID, b.ID) }

// Settle folds the given requests again from what is committed. Findings
// and progress arrive in concurrent transactions, and each folds a request
// as its own snapshot sees it, so the one that commits last may not see the
// other's rows. A writer that settles after each commit closes that gap: the
// last settle sees everything.
func (s *Store) Settle(ctx context.Context, requestIDs []string) error {
	if len(requestIDs) == 0 {
		return nil
	}
	ids := slices.Clone(requestIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if _, err := s.pool.Exec(ctx, "SELECT destill_fold_request(id, NULL) FROM unnest($1::text[]) AS id", ids); err != nil {
		return fmt.Errorf("postgres: settle %d requests: %w", len(ids), err)
	}
	return nil
}

// registerTypes teaches conn to send destill_context[] (see contextsCodec).
// The schema may be migrated after the connection opened, so this runs
// before each use and looks the type up once per connection.
func registerTypes(ctx context.Context, conn *pgx.Conn) error {
	m := conn.TypeMap()
	if _, ok := m.TypeForName("_destill_context"); ok {
		return nil
	}
	var elem, arr uint32
	err := conn.QueryRow(ctx, "SELECT 'destill_context'::regtype::oid, 'destill_context[]'::regtype::oid").Scan(&elem, &arr)
	if err != nil {
		return fmt.Errorf("look up type destill_context: %w", err)
	}
	m.RegisterType(&pgtype.Type{Name: "_destill_context", OID: arr, Codec: contextsCodec{elemOID: elem}})
	return nil
}

// contextsCodec writes []contextLines as a destill_context[] in Postgres's
// binary format: an array of composites of two text arrays. pgx's generic
// composite encoder gets there by reflection, and took a third of the
// sink's client time.
type contextsCodec struct{ elemOID uint32 }

func (contextsCodec) FormatSupported(f int16) bool { return f == pgtype.BinaryFormatCode }
func (contextsCodec) PreferredFormat() int16       { return pgtype.BinaryFormatCode }

func (c contextsCodec) PlanEncode(_ *pgtype.Map, _ uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.([]contextLines); ok && format == pgtype.BinaryFormatCode {
		return c
	}
	return nil
}

func (c contextsCodec) Encode(value any, buf []byte) ([]byte, error) {
	rows := value.([]contextLines)
	size := 20 + len(rows)*(4+4+2*(8+20))
	for _, r := range rows {
		for _, l := range r.Pre {
			size += 4 + len(l)
		}
		for _, l := range r.Post {
			size += 4 + len(l)
		}
	}
	buf = slices.Grow(buf, size)
	// Array header: one dimension, no NULLs, element type, length, lower bound.
	buf = be32(buf, 1)
	buf = be32(buf, 0)
	buf = be32(buf, c.elemOID)
	buf = be32(buf, int32(len(rows)))
	buf = be32(buf, 1)
	for _, r := range rows {
		at := len(buf)
		buf = be32(buf, -1) // element length, set below
		buf = be32(buf, 2)  // fields
		buf = appendTextArrayField(buf, r.Pre)
		buf = appendTextArrayField(buf, r.Post)
		binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	}
	return buf, nil
}

// appendTextArrayField appends a composite field holding lines as text[].
func appendTextArrayField(buf []byte, lines []string) []byte {
	buf = be32(buf, pgtype.TextArrayOID)
	at := len(buf)
	buf = be32(buf, -1)
	if len(lines) == 0 {
		buf = be32(buf, 0) // no dimensions: the empty array
		buf = be32(buf, 0)
		buf = be32(buf, pgtype.TextOID)
	} else {
		buf = be32(buf, 1)
		buf = be32(buf, 0)
		buf = be32(buf, pgtype.TextOID)
		buf = be32(buf, int32(len(lines)))
		buf = be32(buf, 1)
		for _, l := range lines {
			buf = be32(buf, int32(len(l)))
			buf = append(buf, l...)
		}
	}
	binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
	return buf
}

// be32 appends v as a big-endian 32-bit integer; n < 0 as two's complement.
func be32[T int | int32 | uint32](buf []byte, v T) []byte {
	return binary.BigEndian.AppendUint32(buf, uint32(v))
}

func (contextsCodec) PlanScan(*pgtype.Map, uint32, int16, any) pgtype.ScanPlan { return nil }

func (contextsCodec) DecodeDatabaseSQLValue(*pgtype.Map, uint32, int16, []byte) (driver.Value, error) {
	return nil, errors.New("postgres: destill_context[] is write-only")
}

func (contextsCodec) DecodeValue(*pgtype.Map, uint32, int16, []byte) (any, error) {
	return nil, errors.New("postgres: destill_context[] is write-only")
}

const insertFindingsSQL = `INSERT INTO findings (
    id, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message, pre_context, post_context,
    context_note, rule, chunk_index, log_timestamp)
SELECT id, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message,
    COALESCE(pre, '{}'), COALESCE(post, '{}'),
    context_note, rule, chunk_index, log_timestamp
FROM unnest(
    $1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
    $10::text[], $11::smallint[], $12::float8[], $13::int[], $14::int[], $15::text[],
    $16::text[], $17::int[], $18::text[], $19::text[], $20::destill_context[], -- expands to pre, post
    $21::text[], $22::text[], $23::int[], $24::text[]::timestamptz[])
    AS u(id, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message, pre, post,
    context_note, rule, chunk_index, log_timestamp)
ON CONFLICT (id) DO NOTHING`

// FindingRow is a card as the findings table stores it: what both sinks
// must write.
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
	PreContext, PostContext                  []string
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
		PreContext: cleanAll(c.PreContext), PostContext: cleanAll(c.PostContext),
		ContextNote: Clean(c.ContextNote), Rule: Clean(c.Rule), ChunkIndex: int32(c.ChunkIndex), LogTimestamp: c.Timestamp,
	}, nil
}

// contextLines is a row's destill_context.
type contextLines struct {
	Pre, Post []string
}

func findingColumns(cards []contracts.TriageCard) ([]any, error) {
	n := len(cards)
	var (
		ids, reqs, bids, burls, srcs, jids, jnames, jurls, jouts = mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n), mk(n)
		sevs, hashes, norms, raws, msgs, notes                   = mk(n), mk(n), mk(n), mk(n), mk(n), mk(n)
		rules                                                    = mk(n)
		ctxs                                                     = make([]contextLines, n)
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
		ctxs[i] = contextLines{Pre: r.PreContext, Post: r.PostContext}
		notes[i], rules[i], chunks[i], stamps[i] = r.ContextNote, r.Rule, r.ChunkIndex, timeText(r.LogTimestamp)
	}
	return []any{ids, reqs, bids, burls, srcs, jids, jnames, jurls, jouts,
		sevs, ranks, scores, lines, ends, hashes,
		norms, nvers, raws, msgs, ctxs,
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
