-- Findings, request status and progress of destill's agentic data plane.
--
-- Both sinks (destill sink and docker/connect.yaml) write these tables:
-- findings with INSERT ... ON CONFLICT (id) DO NOTHING, requests and progress
-- through destill_apply_request and destill_apply_progress. Those functions
-- are idempotent and order-independent, so redelivery never changes a row.

CREATE TABLE requests (
    request_id      text PRIMARY KEY,
    build_url       text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'processing', 'completed', 'failed')),
    error           text NOT NULL DEFAULT '',
    -- jobs_announced is what ingest said it would analyse (request_started);
    -- jobs_total is the larger of that and the jobs actually discovered.
    jobs_announced  integer,
    jobs_total      integer NOT NULL DEFAULT 0,
    jobs_done       integer NOT NULL DEFAULT 0,
    chunks_total    integer NOT NULL DEFAULT 0,
    chunks_analyzed integer NOT NULL DEFAULT 0,
    findings_count  integer NOT NULL DEFAULT 0,
    submitted_at    timestamptz,
    started_at      timestamptz,
    completed_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX requests_build_url_idx ON requests (build_url, submitted_at DESC);
CREATE INDEX requests_updated_at_idx ON requests (updated_at);

-- One row per job of a request: discovered, then done (with its chunk count)
-- or failed.
CREATE TABLE request_jobs (
    request_id    text NOT NULL REFERENCES requests ON DELETE CASCADE,
    job_id        text NOT NULL,
    job_name      text NOT NULL DEFAULT '',
    job_url       text NOT NULL DEFAULT '',
    job_outcome   text NOT NULL DEFAULT '',
    state         text NOT NULL DEFAULT 'discovered'
                  CHECK (state IN ('discovered', 'fetching', 'done', 'failed')),
    chunks        integer,
    error         text NOT NULL DEFAULT '',
    discovered_at timestamptz,
    done_at       timestamptz,
    PRIMARY KEY (request_id, job_id)
);

-- One row per analysed chunk: counting rows makes chunk_analyzed idempotent.
CREATE TABLE request_chunks (
    request_id  text NOT NULL REFERENCES requests ON DELETE CASCADE,
    job_id      text NOT NULL,
    chunk_index integer NOT NULL,
    findings    integer NOT NULL DEFAULT 0,
    analyzed_at timestamptz,
    PRIMARY KEY (request_id, job_id, chunk_index)
);

CREATE TABLE findings (
    id                 uuid PRIMARY KEY,
    request_id         text NOT NULL,
    build_id           text NOT NULL DEFAULT '',
    build_url          text NOT NULL DEFAULT '',
    source             text NOT NULL DEFAULT '',
    job_id             text NOT NULL DEFAULT '',
    job_name           text NOT NULL DEFAULT '',
    job_url            text NOT NULL DEFAULT '',
    job_outcome        text NOT NULL DEFAULT '',
    severity           text NOT NULL,
    severity_rank      smallint NOT NULL,
    confidence_score   double precision NOT NULL DEFAULT 0,
    line_number        integer NOT NULL,
    end_line           integer NOT NULL,
    message_hash       text NOT NULL,
    normalized_message text NOT NULL DEFAULT '',
    normalizer_version integer NOT NULL DEFAULT 0,
    raw_message        text NOT NULL DEFAULT '',
    message            text NOT NULL DEFAULT '',
    -- The lines around the finding, the pre_context_lines lines before it
    -- and then those after it, each ending in a newline; a line's own
    -- backslashes and newlines are written \\ and \n. Nothing queries inside
    -- them, so one text value holds them all: Postgres stores it without
    -- parsing, and lz4 compresses it whole, several times faster than the
    -- default pglz. Measured by the sink benchmark against text arrays (twice
    -- the row size) and jsonb (which Postgres must parse).
    context            text COMPRESSION lz4 NOT NULL DEFAULT '',
    pre_context_lines  integer NOT NULL DEFAULT 0,
    context_note       text NOT NULL DEFAULT '',
    rule               text NOT NULL DEFAULT '',
    chunk_index        integer NOT NULL DEFAULT 0,
    log_timestamp      timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX findings_request_idx ON findings (request_id, severity_rank DESC, confidence_score DESC);
CREATE INDEX findings_message_hash_idx ON findings (message_hash);
CREATE INDEX findings_created_at_idx ON findings (created_at);

-- The history of each normalized message across builds. A build is its URL,
-- or the request for sources without one (log files).
CREATE VIEW findings_summary AS
SELECT
    message_hash,
    count(*)                                                    AS occurrences,
    count(DISTINCT COALESCE(NULLIF(build_url, ''), request_id)) AS builds,
    count(DISTINCT request_id)                                  AS requests,
    min(created_at)                                             AS first_seen,
    max(created_at)                                             AS last_seen,
    max(severity_rank)                                          AS max_severity_rank,
    (ARRAY['UNKNOWN', 'INFO', 'WARN', 'ERROR', 'FATAL'])[max(severity_rank) + 1] AS max_severity
FROM findings
GROUP BY message_hash;

-- destill_apply_request records an AnalysisRequest (destill.requests).
CREATE FUNCTION destill_apply_request(p_request_id text, p_build_url text, p_submitted_at timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO requests AS r (request_id, build_url, submitted_at)
    VALUES (p_request_id, COALESCE(p_build_url, ''), p_submitted_at)
    ON CONFLICT (request_id) DO UPDATE
        SET build_url = CASE WHEN r.build_url = '' THEN EXCLUDED.build_url ELSE r.build_url END,
            submitted_at = COALESCE(r.submitted_at, EXCLUDED.submitted_at),
            updated_at = now()
        WHERE r.submitted_at IS NULL OR r.build_url = '';
END
$$;

-- destill_fold_request derives a request's state from its counters. A
-- request is completed when every announced job is done, every chunk of
-- those jobs analyzed, and every card those chunks announced stored (so
-- destill status never says completed while cards are still landing). A
-- completed request's completed_at is its last job or chunk event, whatever
-- order the events arrived in. p_time is NULL when a card, not an event,
-- completes the request. The request's row is locked before it is read, so
-- a fold that runs beside the transaction completing the request (a sink's
-- settle) waits for it and sees the result, instead of writing back the
-- state it read before.
CREATE FUNCTION destill_fold_request(p_request_id text, p_time timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r requests%ROWTYPE;
BEGIN
    SELECT * INTO r FROM requests WHERE request_id = p_request_id FOR UPDATE;
    IF NOT FOUND OR r.state IN ('failed', 'completed') THEN
        RETURN;
    END IF;
    IF r.jobs_announced IS NOT NULL AND r.jobs_done >= r.jobs_total
       AND r.chunks_analyzed >= r.chunks_total
       AND r.findings_count >= (SELECT COALESCE(sum(findings), 0) FROM request_chunks
                                WHERE request_id = p_request_id) THEN
        UPDATE requests
        SET state = 'completed',
            started_at = LEAST(started_at, p_time),
            completed_at = GREATEST(
                (SELECT max(done_at) FROM request_jobs WHERE request_id = p_request_id),
                (SELECT max(analyzed_at) FROM request_chunks WHERE request_id = p_request_id),
                p_time),
            updated_at = now()
        WHERE request_id = p_request_id AND state NOT IN ('failed', 'completed');
    ELSE
        UPDATE requests
        SET state = 'processing', started_at = LEAST(started_at, p_time), updated_at = now()
        WHERE request_id = p_request_id AND state NOT IN ('failed', 'completed');
    END IF;
END
$$;

-- findings_count follows the rows actually inserted: the transition table
-- holds only new rows, never those skipped by ON CONFLICT DO NOTHING. A
-- request's last cards may land after its last progress event, so requests
-- that were waiting only for cards are folded here.
CREATE FUNCTION destill_count_findings() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    waiting text[];
    id      text;
BEGIN
    WITH counted AS (
        INSERT INTO requests AS r (request_id, findings_count)
        SELECT n.request_id, count(*) FROM new_findings n GROUP BY n.request_id ORDER BY n.request_id
        ON CONFLICT (request_id) DO UPDATE
            SET findings_count = r.findings_count + EXCLUDED.findings_count,
                updated_at = now()
        RETURNING r.*)
    SELECT array_agg(c.request_id ORDER BY c.request_id) INTO waiting
    FROM counted c
    WHERE c.state NOT IN ('failed', 'completed') AND c.jobs_announced IS NOT NULL
      AND c.jobs_done >= c.jobs_total AND c.chunks_analyzed >= c.chunks_total;
    FOREACH id IN ARRAY COALESCE(waiting, '{}') LOOP
        PERFORM destill_fold_request(id, NULL);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER findings_count_after_insert
    AFTER INSERT ON findings
    REFERENCING NEW TABLE AS new_findings
    FOR EACH STATEMENT EXECUTE FUNCTION destill_count_findings();

-- destill_apply_progress applies one Progress event (destill.progress).
-- Every counter moves only when a row is inserted or changes state, so
-- applying an event twice, or events out of order, gives the same row.
CREATE FUNCTION destill_apply_progress(
    p_request_id  text,
    p_kind        text,
    p_job_id      text,
    p_job_name    text,
    p_job_url     text,
    p_job_outcome text,
    p_chunk_index integer,
    p_jobs        integer,
    p_chunks      integer,
    p_findings    integer,
    p_error       text,
    p_time        timestamptz
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    changed boolean := false;
BEGIN
    INSERT INTO requests (request_id) VALUES (p_request_id) ON CONFLICT DO NOTHING;
    -- Lock the request first: every event of a request serialises here.
    PERFORM 1 FROM requests WHERE request_id = p_request_id FOR UPDATE;

    IF p_kind IN ('job_discovered', 'job_fetching', 'job_done', 'job_failed') THEN
        INSERT INTO request_jobs (request_id, job_id, job_name, job_url, job_outcome, discovered_at)
        VALUES (p_request_id, p_job_id, COALESCE(p_job_name, ''), COALESCE(p_job_url, ''),
                COALESCE(p_job_outcome, ''), p_time)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            UPDATE requests SET jobs_total = GREATEST(jobs_total, (
                SELECT count(*) FROM request_jobs WHERE request_id = p_request_id))
            WHERE request_id = p_request_id;
            changed := true;
        ELSE
            -- Events may arrive in any order: fill what an earlier one lacked.
            UPDATE request_jobs
            SET job_name = CASE WHEN job_name = '' THEN COALESCE(p_job_name, '') ELSE job_name END,
                job_url = CASE WHEN job_url = '' THEN COALESCE(p_job_url, '') ELSE job_url END,
                job_outcome = CASE WHEN job_outcome = '' THEN COALESCE(p_job_outcome, '') ELSE job_outcome END,
                discovered_at = LEAST(discovered_at, p_time)
            WHERE request_id = p_request_id AND job_id = p_job_id
              AND ((job_name = '' AND COALESCE(p_job_name, '') <> '')
                OR (job_url = '' AND COALESCE(p_job_url, '') <> '')
                OR (job_outcome = '' AND COALESCE(p_job_outcome, '') <> '')
                OR discovered_at > p_time);
        END IF;
        IF p_kind = 'job_fetching' THEN
            UPDATE request_jobs SET state = 'fetching'
            WHERE request_id = p_request_id AND job_id = p_job_id AND state = 'discovered';
        ELSIF p_kind IN ('job_done', 'job_failed') THEN
            UPDATE request_jobs
            SET state = CASE p_kind WHEN 'job_done' THEN 'done' ELSE 'failed' END,
                chunks = COALESCE(p_chunks, 0),
                error = COALESCE(p_error, ''),
                done_at = p_time
            WHERE request_id = p_request_id AND job_id = p_job_id AND state NOT IN ('done', 'failed');
            IF FOUND THEN
                UPDATE requests
                SET jobs_done = jobs_done + 1, chunks_total = chunks_total + COALESCE(p_chunks, 0)
                WHERE request_id = p_request_id;
                changed := true;
            END IF;
        END IF;
    ELSIF p_kind = 'chunk_analyzed' THEN
        INSERT INTO request_chunks (request_id, job_id, chunk_index, findings, analyzed_at)
        VALUES (p_request_id, p_job_id, p_chunk_index, COALESCE(p_findings, 0), p_time)
        ON CONFLICT DO NOTHING;
        IF FOUND THEN
            UPDATE requests SET chunks_analyzed = chunks_analyzed + 1 WHERE request_id = p_request_id;
            changed := true;
        END IF;
    ELSIF p_kind = 'request_started' THEN
        UPDATE requests
        SET jobs_announced = COALESCE(p_jobs, 0), jobs_total = GREATEST(jobs_total, COALESCE(p_jobs, 0))
        WHERE request_id = p_request_id AND jobs_announced IS NULL;
        changed := FOUND;
    ELSIF p_kind = 'request_failed' THEN
        UPDATE requests
        SET state = 'failed', error = COALESCE(p_error, ''), completed_at = p_time,
            started_at = LEAST(started_at, p_time), updated_at = now()
        WHERE request_id = p_request_id AND state <> 'failed';
        RETURN;
    END IF;

    IF changed THEN
        PERFORM destill_fold_request(p_request_id, p_time);
    END IF;
END
$$;
