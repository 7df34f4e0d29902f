package contracts

import "time"

// ProgressKind names what a progress event reports.
type ProgressKind string

// Progress kinds, published to TopicProgress keyed by request id.
const (
	// ProgressJobDiscovered: ingest found a job to analyse.
	ProgressJobDiscovered ProgressKind = "job_discovered"
	// ProgressJobFetching: ingest started reading the job's log.
	ProgressJobFetching ProgressKind = "job_fetching"
	// ProgressJobDone: the job's log was fully chunked; Chunks is its count.
	ProgressJobDone ProgressKind = "job_done"
	// ProgressJobFailed: the job's log could not be read; Error says why.
	// The job counts as done with the chunks published before the failure.
	ProgressJobFailed ProgressKind = "job_failed"
	// ProgressChunkAnalyzed: analyze finished a chunk; Findings is how many
	// cards it published for it.
	ProgressChunkAnalyzed ProgressKind = "chunk_analyzed"
	// ProgressRequestStarted: ingest accepted the request; Jobs is how many
	// jobs it will analyse.
	ProgressRequestStarted ProgressKind = "request_started"
	// ProgressRequestFailed: the request cannot be served (a fatal fetch
	// error); Error says why.
	ProgressRequestFailed ProgressKind = "request_failed"
)

// Progress is one event about a request's progress.
type Progress struct {
	Version    int          `json:"version"`
	RequestID  string       `json:"request_id"`
	Kind       ProgressKind `json:"kind"`
	BuildID    string       `json:"build_id,omitempty"`
	JobID      string       `json:"job_id,omitempty"`
	JobName    string       `json:"job_name,omitempty"`
	JobURL     string       `json:"job_url,omitempty"`
	JobOutcome Outcome      `json:"job_outcome,omitempty"`
	ChunkIndex int          `json:"chunk_index,omitempty"`
	Jobs       int          `json:"jobs,omitempty"`
	Chunks     int          `json:"chunks,omitempty"`
	Findings   int          `json:"findings,omitempty"`
	Bytes      int64        `json:"bytes,omitempty"`
	Lines      int          `json:"lines,omitempty"`
	Error      string       `json:"error,omitempty"`
	Time       time.Time    `json:"time"`
}
