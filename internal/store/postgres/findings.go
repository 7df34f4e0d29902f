package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/destill-ci/destill/contracts"
)

// InsertFindings writes cards, skipping ids already stored, and returns how
// many rows were new. Text is cleaned first. If Postgres rejects any card the
// whole call fails with an error for which IsRejected is true and nothing is
// written.
//
// Cards are copied straight into findings (COPY), the cheapest way in for
// Postgres and for this side. A card already stored (redelivery) makes that
// fail as a whole; the cards then go through a staging table and INSERT ...
// ON CONFLICT (id) DO NOTHING, which skips it. Cards whose id or time this
// side cannot render exactly as Postgres would parse them take that path too,
// so that Postgres judges them as it judges Redpanda Connect's.
func (s *Store) InsertFindings(ctx context.Context, cards []contracts.TriageCard) (int64, error) {
	if len(cards) == 0 {
		return 0, nil
	}
	b, err := newFindingBatch(cards)
	if err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	defer conn.Release()
	pc := conn.Conn().PgConn()
	if b.direct {
		tag, err := pc.CopyFrom(ctx, bytes.NewReader(b.encode(true)), copyFindingsSQL)
		if err == nil {
			return tag.RowsAffected(), nil
		}
		if !isDuplicate(err) {
			return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
		}
	}
	tag, err := pc.CopyFrom(ctx, bytes.NewReader(b.encode(false)), stageFindingsSQL)
	if err != nil {
		return 0, fmt.Errorf("postgres: insert %d findings: %w", len(cards), err)
	}
	return tag.RowsAffected(), nil
}

// isDuplicate reports a unique violation: an id already stored.
func isDuplicate(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

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

const findingsColumns = `id, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message, context, pre_context_lines,
    context_note, rule, chunk_index, log_timestamp, exit_status, line_in_chunk`

// findingsFields is how many columns findingsColumns names.
const findingsFields = 27

const copyFindingsSQL = `COPY findings (` + findingsColumns + `) FROM STDIN (FORMAT binary)`

// The staging table is the session's own: temporary, not logged, emptied
// at each commit. Ids and times arrive as text and integers as bigint for
// Postgres to parse and narrow, refusing what findings cannot hold as it
// refuses Redpanda Connect's. It compresses nothing that fits a page, since
// its rows live a moment. All three statements go in one message, one
// transaction, so a pooler that hands out sessions per transaction keeps
// them together. The table's name changes with its columns, so a server
// session a pooler kept from an older sink never offers one of other columns.
const stageFindingsSQL = `CREATE TEMP TABLE IF NOT EXISTS findings_in_v2 (
    id text, request_id text, build_id text, build_url text, source text, job_id text, job_name text,
    job_url text, job_outcome text, severity text, severity_rank smallint, confidence_score float8,
    line_number bigint, end_line bigint, message_hash text, normalized_message text,
    normalizer_version bigint, raw_message text, message text, context text COMPRESSION lz4,
    pre_context_lines bigint, context_note text, rule text, chunk_index bigint, log_timestamp text,
    exit_status bigint, line_in_chunk bigint
) WITH (toast_tuple_target = 8160) ON COMMIT DELETE ROWS;
COPY findings_in_v2 FROM STDIN (FORMAT binary);
INSERT INTO findings (` + findingsColumns + `)
SELECT id::uuid, request_id, build_id, build_url, source, job_id, job_name, job_url, job_outcome,
    severity, severity_rank, confidence_score, line_number, end_line, message_hash,
    normalized_message, normalizer_version, raw_message, message, context, pre_context_lines,
    context_note, rule, chunk_index, log_timestamp::timestamptz, exit_status, line_in_chunk
FROM findings_in_v2
ON CONFLICT (id) DO NOTHING`

// findingBatch is cards in the order they are written: by id, each id once
// (its first card). Postgres then locks ids in the same order in concurrent
// statements: no deadlock when a card is delivered twice.
type findingBatch struct {
	cards []contracts.TriageCard
	order []int32
	ids   [][16]byte // by card, when direct
	times []int64    // by card, when direct: microseconds since 2000, or noTime
	// direct is true when every id and time has its binary form here and
	// every integer fits its column.
	direct bool
	size   int // bytes of text, about
}

const noTime = math.MinInt64

func newFindingBatch(cards []contracts.TriageCard) (*findingBatch, error) {
	b := &findingBatch{cards: cards, order: make([]int32, len(cards)), direct: true,
		ids: make([][16]byte, len(cards)), times: make([]int64, len(cards))}
	for i := range cards {
		c := &cards[i]
		if c.ID == "" || c.RequestID == "" {
			return nil, fmt.Errorf("postgres: finding %d: card without id or request_id", i)
		}
		b.order[i] = int32(i)
		if b.direct {
			var ok bool
			if b.ids[i], ok = parseUUID(c.ID); !ok {
				b.direct = false
			} else if b.times[i], ok = pgTime(c.Timestamp); !ok {
				b.direct = false
			} else if !fitsInt4(c) {
				b.direct = false
			}
		}
		b.size += len(c.ID) + len(c.RequestID) + len(c.BuildID) + len(c.BuildURL) + len(c.Source) +
			len(c.Job.ID) + len(c.Job.Name) + len(c.Job.URL) + len(c.Job.Outcome) + len(c.MessageHash) +
			len(c.NormalizedMessage) + len(c.RawMessage) + len(c.Message) + len(c.ContextNote) + len(c.Rule)
		for _, l := range c.PreContext {
			b.size += len(l) + 1
		}
		for _, l := range c.PostContext {
			b.size += len(l) + 1
		}
	}
	cmp := func(x, y int32) int { return strings.Compare(cards[x].ID, cards[y].ID) }
	if b.direct {
		cmp = func(x, y int32) int { return bytes.Compare(b.ids[x][:], b.ids[y][:]) }
	}
	slices.SortStableFunc(b.order, cmp)
	b.order = slices.CompactFunc(b.order, func(x, y int32) bool { return cmp(x, y) == 0 })
	return b, nil
}

// encode renders the batch in COPY's binary format: for findings when
// direct, else for the staging table.
func (b *findingBatch) encode(direct bool) []byte {
	buf := make([]byte, 0, 21+b.size+b.size/16+len(b.order)*(2+findingsFields*4+7*8+64))
	buf = append(buf, "PGCOPY\n\xff\r\n\x00"...)
	buf = be32(buf, 0) // flags
	buf = be32(buf, 0) // header extension
	for _, i := range b.order {
		c := &b.cards[i]
		buf = binary.BigEndian.AppendUint16(buf, findingsFields)
		if direct {
			buf = be32(buf, 16)
			buf = append(buf, b.ids[i][:]...)
		} else {
			buf = appendText(buf, c.ID)
		}
		buf = appendText(buf, c.RequestID)
		buf = appendText(buf, c.BuildID)
		buf = appendText(buf, c.BuildURL)
		buf = appendText(buf, c.Source)
		buf = appendText(buf, c.Job.ID)
		buf = appendText(buf, c.Job.Name)
		buf = appendText(buf, c.Job.URL)
		buf = appendText(buf, string(c.Job.Outcome))
		buf = appendText(buf, c.Severity.String())
		buf = be32(buf, 2)
		buf = binary.BigEndian.AppendUint16(buf, uint16(int16(c.Severity.Rank())))
		buf = be32(buf, 8)
		buf = binary.BigEndian.AppendUint64(buf, math.Float64bits(c.ConfidenceScore))
		buf = appendInt(buf, c.LineNumber, direct)
		buf = appendInt(buf, max(c.EndLine, c.LineNumber), direct)
		buf = appendText(buf, c.MessageHash)
		buf = appendText(buf, c.NormalizedMessage)
		buf = appendInt(buf, c.NormalizerVersion, direct)
		buf = appendText(buf, c.RawMessage)
		buf = appendText(buf, c.Message)
		at := len(buf)
		buf = be32(buf, 0) // length, set below
		buf = appendContext(buf, c.PreContext, c.PostContext)
		binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
		buf = appendInt(buf, len(c.PreContext), direct)
		buf = appendText(buf, c.ContextNote)
		buf = appendText(buf, c.Rule)
		buf = appendInt(buf, c.ChunkIndex, direct)
		switch t := c.Timestamp; {
		case t == nil || t.IsZero():
			buf = be32(buf, -1) // NULL
		case direct:
			buf = be32(buf, 8)
			buf = binary.BigEndian.AppendUint64(buf, uint64(b.times[i]))
		default:
			at := len(buf)
			buf = be32(buf, 0)
			buf = t.AppendFormat(buf, time.RFC3339Nano)
			binary.BigEndian.PutUint32(buf[at:], uint32(len(buf)-at-4))
		}
		if c.Job.ExitStatus == nil {
			buf = be32(buf, -1) // NULL: the source does not know
		} else {
			buf = appendInt(buf, *c.Job.ExitStatus, direct)
		}
		buf = appendInt(buf, c.LineInChunk, direct)
	}
	return binary.BigEndian.AppendUint16(buf, 0xffff) // end of data
}

// appendText appends s, cleaned, as a text field.
func appendText(buf []byte, s string) []byte {
	s = Clean(s)
	buf = be32(buf, len(s))
	return append(buf, s...)
}

// appendInt appends v as an integer field: an int4 for findings, whose
// integer columns newFindingBatch checked it fits, else an int8 for the
// staging table.
func appendInt(buf []byte, v int, int4 bool) []byte {
	if int4 {
		buf = be32(buf, 4)
		return be32(buf, int32(v))
	}
	buf = be32(buf, 8)
	return binary.BigEndian.AppendUint64(buf, uint64(int64(v)))
}

// fitsInt4 reports whether every integer of c fits its integer column.
// Those that do not go through the staging table, whose INSERT Postgres then
// refuses as out of range, as it refuses them from Redpanda Connect.
func fitsInt4(c *contracts.TriageCard) bool {
	fits := func(v int) bool { return v >= math.MinInt32 && v <= math.MaxInt32 }
	return fits(c.LineNumber) && fits(c.EndLine) && fits(c.NormalizerVersion) && fits(c.ChunkIndex) &&
		fits(c.LineInChunk) && fits(len(c.PreContext)) && (c.Job.ExitStatus == nil || fits(*c.Job.ExitStatus))
}

// be32 appends v as a big-endian 32-bit integer; v < 0 as two's complement.
func be32[T int | int32 | uint32](buf []byte, v T) []byte {
	return binary.BigEndian.AppendUint32(buf, uint32(v))
}

// parseUUID reads a UUID in its canonical form (8-4-4-4-12 hex digits, either
// case), which Postgres reads as the same 16 bytes. Other spellings are left
// to Postgres.
func parseUUID(s string) (u [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return u, false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pgEpoch is where Postgres counts timestamps from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// pgTime is t as Postgres stores the text t.Format(time.RFC3339Nano):
// microseconds since 2000, the fraction of a second rounded as Postgres
// rounds it (the nearest microsecond of the fraction read as a double, ties
// to even); noTime for no time. Years outside 1..9999 are left to Postgres.
func pgTime(t *time.Time) (int64, bool) {
	if t == nil || t.IsZero() {
		return noTime, true
	}
	if y, yu := t.Year(), t.UTC().Year(); y < 1 || y > 9999 || yu < 1 || yu > 9999 {
		return 0, false
	}
	ns := t.Nanosecond()
	us := int64(ns / 1000)
	if ns%1000 != 0 {
		f, err := strconv.ParseFloat("0."+fmt.Sprintf("%09d", ns), 64)
		if err != nil {
			return 0, false
		}
		us = int64(math.RoundToEven(f * 1e6))
	}
	return (t.Unix()-pgEpoch)*1_000_000 + us, true
}
