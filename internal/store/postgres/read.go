package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
)

// Request is a request's row with the jobs ingest reported.
type Request struct {
	RequestID      string         `json:"request_id"`
	BuildURL       string         `json:"build_url,omitempty"`
	State          pipeline.State `json:"state"`
	Error          string         `json:"error,omitempty"`
	JobsTotal      int            `json:"jobs_total"`
	JobsDone       int            `json:"jobs_done"`
	ChunksTotal    int            `json:"chunks_total"`
	ChunksAnalyzed int            `json:"chunks_analyzed"`
	Findings       int            `json:"findings_count"`
	SubmittedAt    *time.Time     `json:"submitted_at,omitempty"`
	StartedAt      *time.Time     `json:"started_at,omitempty"`
	CompletedAt    *time.Time     `json:"completed_at,omitempty"`
	UpdatedAt      time.Time      `json:"updated_at"`
	Jobs           []Job          `json:"jobs"`
}

// Job is one job of a request.
type Job struct {
	contracts.Job
	State          string `json:"state"` // discovered, fetching, done, failed
	Chunks         *int   `json:"chunks,omitempty"`
	ChunksAnalyzed int    `json:"chunks_analyzed"`
	Findings       int    `json:"findings"`
	Error          string `json:"error,omitempty"`
}

// Request reads a request and its jobs; ErrNotFound if unknown.
func (s *Store) Request(ctx context.Context, requestID string) (Request, error) {
	var r Request
	var state string
	err := s.pool.QueryRow(ctx, `SELECT request_id, build_url, state, error, jobs_total, jobs_done,
		chunks_total, chunks_analyzed, findings_count, submitted_at, started_at, completed_at, updated_at
		FROM requests WHERE request_id = $1`, requestID).Scan(&r.RequestID, &r.BuildURL, &state, &r.Error,
		&r.JobsTotal, &r.JobsDone, &r.ChunksTotal, &r.ChunksAnalyzed, &r.Findings,
		&r.SubmittedAt, &r.StartedAt, &r.CompletedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Request{}, fmt.Errorf("postgres: request %s: %w", requestID, ErrNotFound)
	}
	if err != nil {
		return Request{}, fmt.Errorf("postgres: read request %s: %w", requestID, err)
	}
	r.State = pipeline.State(state)
	rows, err := s.pool.Query(ctx, `SELECT j.job_id, j.job_name, j.job_url, j.job_outcome, j.state, j.chunks, j.error,
		COALESCE(c.n, 0), COALESCE(c.findings, 0)
		FROM request_jobs j
		LEFT JOIN (SELECT job_id, count(*) AS n, sum(findings) AS findings FROM request_chunks
		           WHERE request_id = $1 GROUP BY job_id) c USING (job_id)
		WHERE j.request_id = $1
		ORDER BY j.discovered_at NULLS LAST, j.job_id`, requestID)
	if err != nil {
		return Request{}, fmt.Errorf("postgres: read jobs of %s: %w", requestID, err)
	}
	r.Jobs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Job, error) {
		var j Job
		var outcome string
		var chunks *int32
		var analyzed, findings int64
		err := row.Scan(&j.ID, &j.Name, &j.URL, &outcome, &j.State, &chunks, &j.Error, &analyzed, &findings)
		j.Outcome = contracts.Outcome(outcome)
		if chunks != nil {
			n := int(*chunks)
			j.Chunks = &n
		}
		j.ChunksAnalyzed, j.Findings = int(analyzed), int(findings)
		return j, err
	})
	if err != nil {
		return Request{}, fmt.Errorf("postgres: read jobs of %s: %w", requestID, err)
	}
	return r, nil
}

// LatestRequest returns the id of the most recently submitted request of a
// build URL; ErrNotFound if none.
func (s *Store) LatestRequest(ctx context.Context, buildURL string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT request_id FROM requests WHERE build_url = $1
		ORDER BY submitted_at DESC NULLS LAST, updated_at DESC LIMIT 1`, buildURL).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("postgres: build %s: %w", buildURL, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("postgres: latest request of %s: %w", buildURL, err)
	}
	return id, nil
}

// History is what findings_summary knows about a card's message hash.
type History struct {
	// Occurrences counts findings with the hash, in every build.
	Occurrences int64 `json:"occurrences"`
	// Builds counts the distinct builds (build URL, or request without one).
	Builds    int64     `json:"builds"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// MaxSeverity is the most severe level the message was ever reported at.
	MaxSeverity contracts.Severity `json:"max_severity"`
	// SeenBefore is true when an earlier request already reported the
	// message: it is recurring, not new in this build.
	SeenBefore bool `json:"seen_before"`
}

// Finding is a stored card with its history.
type Finding struct {
	contracts.TriageCard
	CreatedAt time.Time `json:"created_at"`
	History   History   `json:"history"`
}

// Findings reads a request's cards, most severe and most confident first,
// each with the history of its message hash.
func (s *Store) Findings(ctx context.Context, requestID string) ([]Finding, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, request_id, build_id, build_url, source, job_id, job_name, job_url,
		job_outcome, severity_rank, confidence_score, line_number, end_line, message_hash, normalized_message,
		normalizer_version, raw_message, message, context, pre_context_lines, context_note, rule, chunk_index,
		line_in_chunk, exit_status, log_timestamp, created_at
		FROM findings WHERE request_id = $1
		ORDER BY severity_rank DESC, confidence_score DESC, job_name, job_id, line_number`, requestID)
	if err != nil {
		return nil, fmt.Errorf("postgres: read findings of %s: %w", requestID, err)
	}
	fs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Finding, error) {
		var f Finding
		c := &f.TriageCard
		var outcome string
		var rank int16
		var line, end, nver, chunk, inChunk, pre int32
		var exit *int32
		var context string
		err := row.Scan(&c.ID, &c.RequestID, &c.BuildID, &c.BuildURL, &c.Source, &c.Job.ID, &c.Job.Name, &c.Job.URL,
			&outcome, &rank, &c.ConfidenceScore, &line, &end, &c.MessageHash, &c.NormalizedMessage,
			&nver, &c.RawMessage, &c.Message, &context, &pre, &c.ContextNote, &c.Rule, &chunk,
			&inChunk, &exit, &c.Timestamp, &f.CreatedAt)
		if err != nil {
			return f, err
		}
		c.Version = contracts.Version
		c.PreContext, c.PostContext = splitContext(context, int(pre))
		c.Job.Outcome = contracts.Outcome(outcome)
		c.Severity = contracts.Severity(rank)
		c.LineNumber, c.EndLine, c.NormalizerVersion, c.ChunkIndex = int(line), int(end), int(nver), int(chunk)
		c.LineInChunk = int(inChunk)
		if exit != nil {
			n := int(*exit)
			c.Job.ExitStatus = &n
		}
		return f, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read findings of %s: %w", requestID, err)
	}
	if len(fs) == 0 {
		return fs, nil
	}
	since := map[string]time.Time{} // earliest row of this request per hash
	var hashes []string
	for _, f := range fs {
		t, ok := since[f.MessageHash]
		if !ok {
			hashes = append(hashes, f.MessageHash)
		}
		if !ok || f.CreatedAt.Before(t) {
			since[f.MessageHash] = f.CreatedAt
		}
	}
	hist, err := s.histories(ctx, hashes)
	if err != nil {
		return nil, err
	}
	for i := range fs {
		h := hist[fs[i].MessageHash]
		h.SeenBefore = h.FirstSeen.Before(since[fs[i].MessageHash])
		fs[i].History = h
	}
	return fs, nil
}

// histories reads findings_summary for the given hashes. The filter on the
// view's grouping column is pushed into it, so only those hashes are read.
func (s *Store) histories(ctx context.Context, hashes []string) (map[string]History, error) {
	rows, err := s.pool.Query(ctx, `SELECT message_hash, occurrences, builds, first_seen, last_seen, max_severity_rank
		FROM findings_summary WHERE message_hash = ANY($1)`, hashes)
	if err != nil {
		return nil, fmt.Errorf("postgres: read history: %w", err)
	}
	out := map[string]History{}
	var (
		h    History
		hash string
		rank int16
	)
	_, err = pgx.ForEachRow(rows, []any{&hash, &h.Occurrences, &h.Builds, &h.FirstSeen, &h.LastSeen, &rank}, func() error {
		h.MaxSeverity = contracts.Severity(rank)
		out[hash] = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read history: %w", err)
	}
	return out, nil
}

// Pruned counts what Prune deleted.
type Pruned struct {
	Findings int64 `json:"findings"`
	Requests int64 `json:"requests"`
}

// Prune deletes findings created before cutoff, and requests (with their
// progress rows and findings) last updated before it.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (Pruned, error) {
	var p Pruned
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM findings WHERE created_at < $1
			OR request_id IN (SELECT request_id FROM requests WHERE updated_at < $1)`, cutoff)
		if err != nil {
			return err
		}
		p.Findings = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM requests WHERE updated_at < $1`, cutoff)
		if err != nil {
			return err
		}
		p.Requests = tag.RowsAffected()
		return nil
	})
	if err != nil {
		return Pruned{}, fmt.Errorf("postgres: prune: %w", err)
	}
	return p, nil
}
