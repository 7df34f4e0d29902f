package pipeline

import (
	"crypto/md5"
	"encoding/binary"

	"github.com/destill-ci/destill/contracts"
	"github.com/google/uuid"
)

// Tracker folds a request's progress events and cards into its Status and
// says when the request is complete. Counting is idempotent: redelivered
// events and cards change nothing. It is not safe for concurrent use.
//
// A request is complete when ingest has started it, every job it announced
// is done (or failed) with its chunk count, every chunk has been analyzed,
// and every card the analyzed chunks announced has arrived. Events may
// arrive in any order across topics.
type Tracker struct {
	st       Status
	started  bool
	jobsWant int
	jobs     map[string]*jobTrack
	order    []string
	cards    map[uint64]struct{} // ids of cards seen, compact: a build can have 10⁵ cards
	last     contracts.Progress  // latest event, for its time
}

type jobTrack struct {
	status   JobStatus
	finished bool
	chunks   map[int]int // analyzed chunk → findings it announced
}

// NewTracker tracks one request.
func NewTracker(requestID string) *Tracker {
	return &Tracker{st: Status{RequestID: requestID, State: StatePending}, jobs: map[string]*jobTrack{}, cards: map[uint64]struct{}{}}
}

func (t *Tracker) job(id string) *jobTrack {
	j := t.jobs[id]
	if j == nil {
		j = &jobTrack{status: JobStatus{Job: contracts.Job{ID: id}, State: JobQueued}, chunks: map[int]int{}}
		t.jobs[id] = j
		t.order = append(t.order, id)
	}
	return j
}

// Progress folds one event.
func (t *Tracker) Progress(p contracts.Progress) {
	if t.st.Started.IsZero() || (!p.Time.IsZero() && p.Time.Before(t.st.Started)) {
		t.st.Started = p.Time
	}
	if t.st.State == StatePending {
		t.st.State = StateProcessing
	}
	if p.Time.After(t.last.Time) {
		t.last = p
	}
	var j *jobTrack
	if p.JobID != "" {
		j = t.job(p.JobID)
		if p.JobName != "" {
			j.status.Name = p.JobName
		}
		if p.JobURL != "" {
			j.status.URL = p.JobURL
		}
		if p.JobOutcome != "" {
			j.status.Outcome = p.JobOutcome
		}
	}
	switch p.Kind {
	case contracts.ProgressRequestStarted:
		t.started = true
		t.jobsWant = p.Jobs
	case contracts.ProgressRequestFailed:
		t.st.State = StateFailed
		t.st.Error = p.Error
		t.st.Finished = p.Time
	case contracts.ProgressJobFetching:
		if !j.finished && j.status.State == JobQueued {
			j.status.State = JobFetching
		}
	case contracts.ProgressJobDone, contracts.ProgressJobFailed:
		j.finished = true
		j.status.ChunksTotal = p.Chunks
		j.status.Bytes = p.Bytes
		if p.Kind == contracts.ProgressJobFailed {
			j.status.State = JobFailed
			j.status.Error = p.Error
		}
	case contracts.ProgressChunkAnalyzed:
		j.chunks[p.ChunkIndex] = p.Findings
		if p.Error != "" && j.status.Error == "" {
			j.status.Error = p.Error
		}
		if j.status.State == JobQueued || j.status.State == JobFetching {
			j.status.State = JobAnalysing
		}
	}
	if j != nil {
		j.status.ChunksAnalyzed = len(j.chunks)
		if j.finished && j.status.State != JobFailed && len(j.chunks) >= j.status.ChunksTotal {
			j.status.State = JobDone
		}
	}
	t.settle()
}

// Card folds one card and reports whether it is new (not a redelivery).
func (t *Tracker) Card(c contracts.TriageCard) bool {
	k := cardKey(c.ID)
	if _, seen := t.cards[k]; seen {
		return false
	}
	t.cards[k] = struct{}{}
	t.st.Findings = len(t.cards)
	if j := t.job(c.Job.ID); j != nil {
		j.status.Findings++
		if j.status.Name == "" {
			j.status.Name = c.Job.Name
		}
	}
	t.settle()
	return true
}

func (t *Tracker) settle() {
	if t.st.State.Done() || !t.started {
		return
	}
	finished, announced := 0, 0
	for _, j := range t.jobs {
		if !j.finished || len(j.chunks) < j.status.ChunksTotal {
			return
		}
		finished++
		for _, n := range j.chunks {
			announced += n
		}
	}
	if finished < t.jobsWant || len(t.cards) < announced {
		return
	}
	t.st.State = StateCompleted
	t.st.Finished = t.last.Time
}

// Done reports whether the request reached a final state.
func (t *Tracker) Done() bool { return t.st.State.Done() }

// Status returns the request's status; Jobs are in discovery order.
func (t *Tracker) Status() Status {
	st := t.st
	st.Jobs = make([]JobStatus, 0, len(t.order))
	for _, id := range t.order {
		st.Jobs = append(st.Jobs, t.jobs[id].status)
	}
	return st
}

// cardKey is 64 bits of a card's UUID (or of a digest of another id): with
// a million cards the chance that two collide is below one in 10^7.
func cardKey(id string) uint64 {
	b, err := uuid.Parse(id)
	if err != nil {
		b = md5.Sum([]byte(id))
	}
	return binary.BigEndian.Uint64(b[:8])
}
