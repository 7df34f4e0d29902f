// Package pipeline defines how a request travels through destill and how its
// results come back. Local mode runs every stage in this process over the
// in-memory broker; agentic mode publishes to Redpanda and follows the topics.
package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/destill-ci/destill/contracts"
)

// State is where a request stands.
type State string

// Request states.
const (
	StatePending    State = "pending"
	StateProcessing State = "processing"
	StateCompleted  State = "completed"
	StateFailed     State = "failed"
)

// Done reports whether the state is final.
func (s State) Done() bool { return s == StateCompleted || s == StateFailed }

// JobState is where one job stands.
type JobState string

// Job states.
const (
	JobQueued    JobState = "queued"
	JobFetching  JobState = "fetching"
	JobAnalysing JobState = "analysing"
	JobDone      JobState = "done"
	JobFailed    JobState = "failed"
)

// JobStatus is the progress of one job.
type JobStatus struct {
	contracts.Job
	State          JobState
	Bytes          int64
	ChunksTotal    int // known once the job is fully read
	ChunksAnalyzed int
	Findings       int
	Error          string
}

// Status is the progress of one request.
type Status struct {
	RequestID string
	State     State
	Jobs      []JobStatus
	Findings  int
	Error     string
	Started   time.Time
	Finished  time.Time
}

// Event is one thing Stream reports: a card or a progress event.
type Event struct {
	Card     *contracts.TriageCard
	Progress *contracts.Progress
}

// Pipeline runs requests.
type Pipeline interface {
	// Submit starts a request and returns its id (req.RequestID if set).
	Submit(ctx context.Context, req contracts.AnalysisRequest) (string, error)
	// Status reports a request's progress.
	Status(ctx context.Context, requestID string) (Status, error)
	// Stream calls fn for every card and progress event of the request, as
	// they happen, and returns nil once the request is complete (every job
	// done, every chunk analyzed, every card delivered), an error wrapping
	// ErrRequestFailed if it failed, or fn's error.
	Stream(ctx context.Context, requestID string, fn func(Event) error) error
	// Close stops the pipeline.
	Close() error
}

// ErrRequestFailed reports a request that could not be served.
var ErrRequestFailed = errors.New("request failed")

// ErrUnknownRequest reports a request id the pipeline does not know.
var ErrUnknownRequest = errors.New("unknown request")
