// Package contracts defines the messages that destill's stages exchange: the
// JSON shapes shared by the local pipeline, every agent and both sinks.
//
// Field names follow snake_case. Every message carries Version; a consumer
// that meets a version it does not know treats the message as poison.
package contracts

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Version is the contract version written by this build.
const Version = 1

// Topic names of the agentic data plane.
const (
	TopicRequests = "destill.requests"
	TopicLogsRaw  = "destill.logs.raw"
	TopicFindings = "destill.analysis.findings"
	TopicProgress = "destill.progress"
	TopicDLQ      = "destill.dlq"
)

// Context sizes around a finding, and the chunk overlap that keeps them whole.
const (
	ContextBefore = 15
	ContextAfter  = 30
	ChunkOverlap  = 50
)

// Outcome is how a CI job ended, as far as the source knows.
type Outcome string

// Job outcomes. OutcomeUnknown covers a job whose exit status is null or that
// a plain file cannot describe.
const (
	OutcomeFailed     Outcome = "failed"
	OutcomeTimedOut   Outcome = "timed_out"
	OutcomeCanceled   Outcome = "canceled"
	OutcomeBroken     Outcome = "broken"
	OutcomeSoftFailed Outcome = "soft_failed"
	OutcomePassed     Outcome = "passed"
	OutcomeRunning    Outcome = "running"
	OutcomeUnknown    Outcome = "unknown"
)

// Job describes one CI job whose log is analysed.
type Job struct {
	ID         string  `json:"job_id"`
	Name       string  `json:"job_name"`
	URL        string  `json:"job_url,omitempty"`
	Outcome    Outcome `json:"job_outcome"`
	ExitStatus *int    `json:"exit_status,omitempty"`
}

// AnalysisRequest asks for one build (or a set of log files) to be analysed.
// Published to TopicRequests keyed by RequestID.
type AnalysisRequest struct {
	Version   int    `json:"version"`
	RequestID string `json:"request_id"`
	// BuildURL is a Buildkite or GitHub Actions URL. For file sources it is
	// empty and Files lists the paths (readable by the ingest stage).
	BuildURL string   `json:"build_url,omitempty"`
	Files    []string `json:"files,omitempty"`
	// FileNames, when set, holds one name per entry of Files: the path as
	// the user gave it (relative to where destill run was typed), which
	// the jobs are named after, while Files holds the absolute path to
	// read. Without it (older requests) the jobs are named after Files.
	FileNames []string `json:"file_names,omitempty"`
	// Baseline optionally names a passing log or build of the same job.
	Baseline  string    `json:"baseline,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// LogChunk is a piece of one job's log. Published to TopicLogsRaw keyed by
// "<build_id>/<job_id>".
//
// Content holds lines LineStart..LineEnd (absolute, 1-based, LF-separated
// lines of the original log), joined by "\n", as valid UTF-8. The analyzer
// reports findings only on lines OwnedStart..OwnedEnd: each line of a log is
// owned by exactly one chunk, and that chunk holds its full context except
// at the true start or end of the log.
type LogChunk struct {
	Version   int    `json:"version"`
	RequestID string `json:"request_id"`
	BuildID   string `json:"build_id"`
	BuildURL  string `json:"build_url,omitempty"`
	Source    string `json:"source"`
	Job
	ChunkIndex int `json:"chunk_index"`
	// TotalChunks is set on the last chunk of a job (Last == true) and zero
	// before: a streaming chunker learns the total only at the end.
	TotalChunks int    `json:"total_chunks,omitempty"`
	Last        bool   `json:"last"`
	LineStart   int    `json:"line_start"`
	LineEnd     int    `json:"line_end"`
	OwnedStart  int    `json:"owned_start"`
	OwnedEnd    int    `json:"owned_end"`
	Content     string `json:"content"`
	// OverlapBefore is how many lines at the start of this chunk repeat the
	// end of the previous one; below ChunkOverlap the context of the first
	// owned lines may be short.
	OverlapBefore int `json:"overlap_before"`
	// TruncatedLines counts lines cut at the line length limit.
	TruncatedLines int               `json:"truncated_lines,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// ApproxSize is about the chunk's encoded size.
func (c *LogChunk) ApproxSize() int { return len(c.Content) + 512 }

// Check reports why c cannot be a chunk of a log, or nil: its request id
// (see CheckRequestID), a job id, an index of at least 0, lines numbered
// from 1, and owned lines inside the chunk's (both owned ends 0 means the
// chunk owns every line).
func (c *LogChunk) Check() error {
	if err := CheckRequestID(c.RequestID); err != nil {
		return err
	}
	switch {
	case c.Job.ID == "":
		return errors.New("chunk has no job_id")
	case c.ChunkIndex < 0 || c.TotalChunks < 0 || c.OverlapBefore < 0:
		return errors.New("chunk has a negative chunk_index, total_chunks or overlap_before")
	case c.LineStart < 1 || c.LineEnd < c.LineStart-1:
		return fmt.Errorf("chunk has lines %d to %d: lines are numbered from 1", c.LineStart, c.LineEnd)
	case (c.OwnedStart != 0 || c.OwnedEnd != 0) && (c.OwnedStart < c.LineStart || c.OwnedEnd < c.OwnedStart-1 || c.OwnedEnd > c.LineEnd):
		return fmt.Errorf("chunk owns lines %d to %d, outside its lines %d to %d", c.OwnedStart, c.OwnedEnd, c.LineStart, c.LineEnd)
	}
	return nil
}

// Key is the partition key of a chunk: order per job is what matters.
func (c *LogChunk) Key() string { return c.BuildID + "/" + c.Job.ID }

// TriageCard is one finding: a line that may explain the failure, with its
// context. Published to TopicFindings keyed by RequestID.
type TriageCard struct {
	Version     int    `json:"version"`
	ID          string `json:"id"`
	RequestID   string `json:"request_id"`
	MessageHash string `json:"message_hash"`

	Source   string `json:"source"`
	BuildID  string `json:"build_id"`
	BuildURL string `json:"build_url,omitempty"`
	Job

	Severity   Severity `json:"severity"`
	LineNumber int      `json:"line_number"`
	// EndLine is the last line of a multi-line finding (a stack trace, a
	// compiler error with its caret lines); equal to LineNumber otherwise.
	EndLine           int     `json:"end_line"`
	RawMessage        string  `json:"raw_message"`
	Message           string  `json:"message"`
	NormalizedMessage string  `json:"normalized_message"`
	NormalizerVersion int     `json:"normalizer_version"`
	ConfidenceScore   float64 `json:"confidence_score"`
	Rule              string  `json:"rule,omitempty"`

	PreContext  []string `json:"pre_context"`
	PostContext []string `json:"post_context"`
	ContextNote string   `json:"context_note,omitempty"`

	ChunkIndex  int `json:"chunk_index"`
	LineInChunk int `json:"line_in_chunk"`

	// Timestamp is the log's own time for the line when it carries one
	// (Buildkite markers, GitHub Actions prefixes).
	Timestamp *time.Time        `json:"timestamp,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// ApproxSize is about the card's encoded size.
func (c *TriageCard) ApproxSize() int {
	n := 512 + len(c.RawMessage) + len(c.Message) + len(c.NormalizedMessage)
	for _, l := range c.PreContext {
		n += len(l) + 3
	}
	for _, l := range c.PostContext {
		n += len(l) + 3
	}
	return n
}

// findingNamespace roots the deterministic finding ids
// (6f1c2d2e-8a57-4c59-9d0c-5f3b8f9e1d42).
var findingNamespace = [16]byte{0x6f, 0x1c, 0x2d, 0x2e, 0x8a, 0x57, 0x4c, 0x59, 0x9d, 0x0c, 0x5f, 0x3b, 0x8f, 0x9e, 0x1d, 0x42}

// FindingID is the deterministic id of the finding at lineNumber of a job in
// a request: redelivery yields the same id, so sinks can insert idempotently.
// It is the version 5 UUID of "<request>\x00<job>\x00<line>" in
// findingNamespace, hashed on the stack: the analyzer calls it per card.
func FindingID(requestID, jobID string, lineNumber int) string {
	var stack [192]byte
	b := append(stack[:0], findingNamespace[:]...)
	b = append(b, requestID...)
	b = append(b, 0)
	b = append(b, jobID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(lineNumber), 10)
	sum := sha1.Sum(b)
	sum[6] = sum[6]&0x0f | 0x50 // version 5
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[sum[i]>>4], hex[sum[i]&0x0f]
		j += 2
	}
	return string(out[:])
}

// NewRequestID returns a fresh random request id.
func NewRequestID() string { return uuid.NewString() }

// MaxRequestIDLen bounds the length of a request id.
const MaxRequestIDLen = 128

// CheckRequestID reports why id cannot be a request id, or nil. An id is
// 1 to MaxRequestIDLen letters, digits and the marks . _ : - (a UUID, as
// NewRequestID gives, or a name such as "nightly-2026-12-04"), so that it
// is safe in a terminal, a URL, a message key and a log line.
func CheckRequestID(id string) error {
	if id == "" {
		return errors.New("request id is empty")
	}
	if len(id) > MaxRequestIDLen {
		return fmt.Errorf("request id is %d bytes long, more than %d", len(id), MaxRequestIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return fmt.Errorf("request id has a character other than letters, digits and . _ : - (byte %d of %d)", i+1, len(id))
		}
	}
	return nil
}
