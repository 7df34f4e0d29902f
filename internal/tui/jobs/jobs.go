// Package jobs follows the progress of a request's jobs from its progress
// events and draws it: one line per job with its state, a progress bar and
// what has been read or analysed so far.
package jobs

import (
	"fmt"
	"sort"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/tui/theme"
)

// Job is one job's progress. Name, URL and Error are sanitized for the
// terminal.
type Job struct {
	ID      string
	Name    string
	URL     string
	Outcome contracts.Outcome
	State   pipeline.JobState
	// Bytes and Lines read so far, when the source reports them.
	Bytes int64
	Lines int
	// ChunksTotal is known once the log is fully read (zero before).
	ChunksTotal    int
	ChunksAnalyzed int
	Findings       int
	Error          string
	readDone       bool
	order          int
}

// Failing reports whether the CI job itself failed (as opposed to destill
// failing to read it).
func (j *Job) Failing() bool {
	switch j.Outcome {
	case contracts.OutcomeFailed, contracts.OutcomeTimedOut, contracts.OutcomeBroken, contracts.OutcomeCanceled:
		return true
	}
	return false
}

// Fraction is how far the job is, from 0 to 1.
func (j *Job) Fraction() float64 {
	switch {
	case j.State == pipeline.JobDone || j.State == pipeline.JobFailed:
		return 1
	case j.ChunksTotal > 0:
		return 0.1 + 0.9*float64(min(j.ChunksAnalyzed, j.ChunksTotal))/float64(j.ChunksTotal)
	case j.State == pipeline.JobFetching:
		return 0.05
	}
	return 0
}

type chunkKey struct {
	job   string
	index int
}

// Tracker folds progress events into per-job states. Events may repeat (at
// least once delivery) and arrive in any order across jobs: counting is
// idempotent and a job's state never moves backwards.
type Tracker struct {
	jobs     []*Job
	byID     map[string]*Job
	analyzed map[chunkKey]struct{}
	// Expected is the number of jobs ingest announced, zero if unknown.
	Expected int
	// Failed holds the reason when the whole request failed.
	Failed string
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{byID: map[string]*Job{}, analyzed: map[chunkKey]struct{}{}}
}

// Job returns the job with id, creating it (queued) if it is new.
func (t *Tracker) Job(id string) *Job {
	if j, ok := t.byID[id]; ok {
		return j
	}
	j := &Job{ID: id, Name: sanitize.String(id), State: pipeline.JobQueued, order: len(t.jobs)}
	t.jobs = append(t.jobs, j)
	t.byID[id] = j
	return j
}

// See records what a card says about its job (name, URL, outcome) and
// counts the finding.
func (t *Tracker) See(job contracts.Job) {
	j := t.Job(job.ID)
	t.describe(j, job.Name, job.URL, job.Outcome)
	j.Findings++
}

func (t *Tracker) describe(j *Job, name, url string, outcome contracts.Outcome) {
	if name != "" {
		j.Name = sanitize.String(name)
	}
	if url != "" {
		j.URL = sanitize.String(url)
	}
	if outcome != "" {
		j.Outcome = outcome
	}
}

// Apply folds one progress event into the tracker.
func (t *Tracker) Apply(p contracts.Progress) {
	switch p.Kind {
	case contracts.ProgressRequestStarted:
		t.Expected = max(t.Expected, p.Jobs)
		return
	case contracts.ProgressRequestFailed:
		t.Failed = sanitize.String(p.Error)
		if t.Failed == "" {
			t.Failed = "request failed"
		}
		return
	}
	if p.JobID == "" {
		return
	}
	j := t.Job(p.JobID)
	t.describe(j, p.JobName, p.JobURL, p.JobOutcome)
	j.Bytes = max(j.Bytes, p.Bytes)
	j.Lines = max(j.Lines, p.Lines)
	switch p.Kind {
	case contracts.ProgressJobFetching:
		if j.State == pipeline.JobQueued {
			j.State = pipeline.JobFetching
		}
	case contracts.ProgressChunkAnalyzed:
		k := chunkKey{p.JobID, p.ChunkIndex}
		if _, seen := t.analyzed[k]; !seen {
			t.analyzed[k] = struct{}{}
			j.ChunksAnalyzed++
		}
		if j.State == pipeline.JobQueued {
			j.State = pipeline.JobFetching
		}
	case contracts.ProgressJobDone:
		j.readDone = true
		j.ChunksTotal = max(j.ChunksTotal, p.Chunks)
	case contracts.ProgressJobFailed:
		j.readDone = true
		j.ChunksTotal = max(j.ChunksTotal, p.Chunks)
		j.State = pipeline.JobFailed
		j.Error = sanitize.String(p.Error)
		if j.Error == "" {
			j.Error = "could not read the log"
		}
	}
	if j.State != pipeline.JobFailed && j.readDone {
		if j.ChunksAnalyzed >= j.ChunksTotal {
			j.State = pipeline.JobDone
		} else {
			j.State = pipeline.JobAnalysing
		}
	}
}

// Jobs returns the jobs in the order they were discovered.
func (t *Tracker) Jobs() []*Job { return t.jobs }

// Len is the number of jobs known, or announced if more.
func (t *Tracker) Len() int { return max(len(t.jobs), t.Expected) }

// Finished counts jobs that are done or failed.
func (t *Tracker) Finished() int {
	n := 0
	for _, j := range t.jobs {
		if j.State == pipeline.JobDone || j.State == pipeline.JobFailed {
			n++
		}
	}
	return n
}

// FailedJobs counts jobs destill could not read.
func (t *Tracker) FailedJobs() int {
	n := 0
	for _, j := range t.jobs {
		if j.State == pipeline.JobFailed {
			n++
		}
	}
	return n
}

// Fraction is the overall progress from 0 to 1, each job weighing the same.
func (t *Tracker) Fraction() float64 {
	n := t.Len()
	if n == 0 {
		return 0
	}
	sum := 0.0
	for _, j := range t.jobs {
		sum += j.Fraction()
	}
	return sum / float64(n)
}

// Triage returns the jobs in the order a person wants them: jobs destill
// could not read, then jobs in progress, then failing CI jobs, then the
// rest, each group in discovery order.
func (t *Tracker) Triage() []*Job {
	out := append([]*Job(nil), t.jobs...)
	rank := func(j *Job) int {
		switch {
		case j.State == pipeline.JobFailed:
			return 0
		case j.State == pipeline.JobFetching || j.State == pipeline.JobAnalysing:
			return 1
		case j.State == pipeline.JobQueued:
			return 2
		case j.Failing():
			return 3
		}
		return 4
	}
	sort.SliceStable(out, func(a, b int) bool { return rank(out[a]) < rank(out[b]) })
	return out
}

// Bar draws a progress bar of width cells for fraction f.
func Bar(th *theme.Theme, f float64, width int) string {
	if width <= 0 {
		return ""
	}
	f = max(0, min(1, f))
	full := int(f*float64(width) + 0.5)
	return th.BarFull.Render(strings.Repeat("█", full)) + th.BarEmpty.Render(strings.Repeat("░", width-full))
}

// stateLabel is the word and its style for a job's state.
func stateLabel(th *theme.Theme, j *Job) string {
	switch j.State {
	case pipeline.JobDone:
		return th.OK.Render("done     ")
	case pipeline.JobFailed:
		return th.Bad.Render("failed   ")
	case pipeline.JobFetching:
		return th.Busy.Render("fetching ")
	case pipeline.JobAnalysing:
		return th.Busy.Render("analysing")
	}
	return th.Dim.Render("queued   ")
}

// Line draws one job in width cells:
//
//	✗ name        failed    ██████░░░░  3/5 chunks  1.2 MB  reason
func Line(th *theme.Theme, j *Job, width int) string {
	var icon string
	switch j.State {
	case pipeline.JobDone:
		icon = th.OK.Render("✓")
	case pipeline.JobFailed:
		icon = th.Bad.Render("✗")
	case pipeline.JobFetching:
		icon = th.Busy.Render("↓")
	case pipeline.JobAnalysing:
		icon = th.Busy.Render("…")
	default:
		icon = th.Dim.Render("·")
	}
	nameW := max(8, min(24, width/4))
	name := pad(ansi.Truncate(j.Name, nameW, "…"), nameW)
	if j.Failing() {
		name = th.Bold.Render(name)
	}
	barW := 10
	if width < 60 || j.State == pipeline.JobFailed {
		barW = 0
	}
	var b strings.Builder
	b.WriteString(icon + " " + name + " " + stateLabel(th, j) + " ")
	if barW > 0 {
		b.WriteString(Bar(th, j.Fraction(), barW) + " ")
	}
	if j.Error == "" {
		b.WriteString(counts(j))
	}
	return ansi.Truncate(b.String(), width, "…")
}

// Lines draws a job as Line does, followed for a job destill could not read
// by its reason, wrapped on up to three indented lines.
func Lines(th *theme.Theme, j *Job, width int) []string {
	line := Line(th, j, width)
	if j.Error == "" {
		return []string{line}
	}
	if one := line + th.Bad.Render(j.Error); ansi.StringWidth(one) <= width {
		return []string{one}
	}
	out := []string{line}
	const indent = "    "
	wrapped := strings.Split(ansi.Wrap(j.Error, max(10, width-len(indent)), " /:"), "\n")
	if len(wrapped) > 3 {
		wrapped = wrapped[:3]
		wrapped[2] = ansi.Truncate(wrapped[2]+" …", max(10, width-len(indent)), "…")
	}
	for _, l := range wrapped {
		out = append(out, ansi.Truncate(indent+th.Bad.Render(l), width, "…"))
	}
	return out
}

func counts(j *Job) string {
	var parts []string
	switch {
	case j.ChunksTotal > 0:
		parts = append(parts, fmt.Sprintf("%d/%d chunks", min(j.ChunksAnalyzed, j.ChunksTotal), j.ChunksTotal))
	case j.ChunksAnalyzed > 0:
		parts = append(parts, fmt.Sprintf("%d chunk%s analysed", j.ChunksAnalyzed, plural(j.ChunksAnalyzed)))
	}
	if j.Bytes > 0 {
		parts = append(parts, Bytes(j.Bytes))
	}
	if j.Findings > 0 {
		parts = append(parts, fmt.Sprintf("%d card%s", j.Findings, plural(j.Findings)))
	}
	return strings.Join(parts, "  ")
}

// Bytes formats n as a short size: 512 B, 1.2 KB, 3.4 MB.
func Bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "KMGTPE"[exp])
}

func pad(s string, w int) string {
	if n := ansi.StringWidth(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
