// Package buildkite reads a Buildkite build's jobs and their raw logs
// through the Buildkite REST API.
package buildkite

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/apiclient"
)

// SourceName is the value of source.Build.Source for Buildkite builds.
const SourceName = "buildkite"

// Source reads one build. It is safe for concurrent use.
type Source struct {
	ref    BuildRef
	client *apiclient.Client

	mu      sync.Mutex
	fetched bool
	logURLs map[string]string // job id → raw log URL
}

// New returns a source for the build ref names. It checks cfg but sends no
// request.
func New(ref BuildRef, cfg Config) (*Source, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{ref: ref, client: c}, nil
}

// apiBuild is the part of GET .../builds/{number} that destill reads.
type apiBuild struct {
	ID     string   `json:"id"`
	Number int      `json:"number"`
	State  string   `json:"state"`
	WebURL string   `json:"web_url"`
	Jobs   []apiJob `json:"jobs"`
}

type apiJob struct {
	ID                 string  `json:"id"`
	Type               string  `json:"type"`
	Name               *string `json:"name"`
	Label              *string `json:"label"`
	Command            *string `json:"command"`
	State              string  `json:"state"`
	ExitStatus         *int    `json:"exit_status"`
	SoftFailed         bool    `json:"soft_failed"`
	WebURL             string  `json:"web_url"`
	RawLogURL          string  `json:"raw_log_url"`
	StartedAt          *string `json:"started_at"`
	Retried            bool    `json:"retried"`
	ParallelGroupIndex *int    `json:"parallel_group_index"`
	ParallelGroupTotal *int    `json:"parallel_group_total"`
}

// Build fetches the build and lists its script jobs that ran. Waiters,
// block and trigger steps have no log and are left out, as are jobs that
// never started and jobs superseded by a retry (unless the URL selected
// one).
func (s *Source) Build(ctx context.Context) (source.Build, error) {
	what := fmt.Sprintf("build %d of pipeline %s/%s", s.ref.Number, s.ref.Org, s.ref.Pipeline)
	op := fmt.Sprintf("buildkite: get build %s", s.ref)
	path := fmt.Sprintf("/v2/organizations/%s/pipelines/%s/builds/%d", s.ref.Org, s.ref.Pipeline, s.ref.Number)
	resp, err := s.client.Get(ctx, s.client.URL(path).String(), "application/json")
	if err != nil {
		return source.Build{}, fmt.Errorf("%s: %w", op, explain(err, what, "read_builds"))
	}
	defer resp.Body.Close()
	var b apiBuild
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		return source.Build{}, fmt.Errorf("%s: decode response: %w", op, err)
	}

	out := source.Build{ID: s.ref.String(), URL: b.WebURL, Source: SourceName}
	if out.URL == "" {
		out.URL = s.ref.WebURL()
	}
	logURLs := make(map[string]string)
	for _, j := range b.Jobs {
		if j.ID == "" {
			return source.Build{}, fmt.Errorf("%s: decode response: a job has no id", op)
		}
		if s.ref.JobID != "" {
			if !strings.EqualFold(j.ID, s.ref.JobID) {
				continue
			}
			if j.Type != "script" {
				return source.Build{}, fmt.Errorf("%s: job %s is a %s step, which has no log", op, j.ID, j.Type)
			}
		} else if j.Type != "script" || !ran(j) || j.Retried {
			continue
		}
		logURL := j.RawLogURL
		if logURL == "" {
			logURL = s.client.URL(path + "/jobs/" + j.ID + "/log.txt").String()
		}
		if logURL, err = resolveLogURL(s.client, logURL); err != nil {
			return source.Build{}, fmt.Errorf("%s: job %s: %w", op, j.ID, err)
		}
		logURLs[j.ID] = logURL
		out.Jobs = append(out.Jobs, contracts.Job{
			ID:         j.ID,
			Name:       jobName(j),
			URL:        jobURL(j, out.URL),
			Outcome:    outcome(j),
			ExitStatus: j.ExitStatus,
		})
	}
	if s.ref.JobID != "" && len(out.Jobs) == 0 {
		return source.Build{}, fmt.Errorf("%s: job %s not found in %s", op, s.ref.JobID, what)
	}

	s.mu.Lock()
	s.fetched, s.logURLs = true, logURLs
	s.mu.Unlock()
	return out, nil
}

// ran reports whether a job started, so it has a log.
func ran(j apiJob) bool {
	if j.StartedAt != nil {
		return true
	}
	switch j.State {
	case "running", "passed", "failed", "timed_out", "timing_out", "canceling":
		return true
	}
	return false
}

// jobName is how a job is shown: the first line of its name, label or
// command, whichever has one, less the escape sequences and control
// characters it may carry (see package sanitize), so that no output carries
// them.
func jobName(j apiJob) string {
	name := ""
	for _, p := range []*string{j.Name, j.Label, j.Command} {
		if p != nil {
			if name = firstLine(*p); name != "" {
				break
			}
		}
	}
	if name == "" {
		name = "job " + j.ID
	}
	if j.ParallelGroupIndex != nil && j.ParallelGroupTotal != nil && *j.ParallelGroupTotal > 1 {
		name = fmt.Sprintf("%s (%d/%d)", name, *j.ParallelGroupIndex+1, *j.ParallelGroupTotal)
	}
	return name
}

// firstLine is the first line of s, trimmed and sanitized, marked with " …"
// when more lines follow; empty when nothing of it is left.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	more := ""
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s, more = s[:i], " …"
	}
	if s = strings.TrimSpace(sanitize.String(s)); s == "" {
		return ""
	}
	return s + more
}

func jobURL(j apiJob, buildURL string) string {
	if j.WebURL != "" {
		return j.WebURL
	}
	return buildURL + "#" + j.ID
}

// outcome maps a job's state to an Outcome. A finished job without an exit
// status (an agent lost mid-job, say) is unknown: its state alone does not
// say how the command ended.
func outcome(j apiJob) contracts.Outcome {
	switch j.State {
	case "passed", "failed":
		switch {
		case j.SoftFailed:
			return contracts.OutcomeSoftFailed
		case j.ExitStatus == nil:
			return contracts.OutcomeUnknown
		case j.State == "passed":
			return contracts.OutcomePassed
		}
		return contracts.OutcomeFailed
	case "timed_out", "timing_out":
		return contracts.OutcomeTimedOut
	case "canceled", "canceling":
		return contracts.OutcomeCanceled
	case "broken", "skipped", "not_run", "expired":
		return contracts.OutcomeBroken
	case "running", "scheduled", "assigned", "accepted", "reserved":
		return contracts.OutcomeRunning
	}
	return contracts.OutcomeUnknown
}

// Open streams a job's raw log. At most Config.Concurrency logs are open at
// once; Open waits for a slot (or ctx) and Close frees it, so close every
// log. Build must have listed the job (Open calls it if it has not run).
func (s *Source) Open(ctx context.Context, job contracts.Job) (io.ReadCloser, error) {
	op := fmt.Sprintf("buildkite: fetch log for job %s", job.ID)
	logURL, err := s.logURL(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	rc, err := s.client.Open(ctx, logURL, "text/plain", op)
	if err != nil {
		what := fmt.Sprintf("the log of job %s in build %s", job.ID, s.ref)
		return nil, fmt.Errorf("%s: %w", op, explain(err, what, "read_build_logs"))
	}
	return rc, nil
}

func (s *Source) logURL(ctx context.Context, jobID string) (string, error) {
	s.mu.Lock()
	fetched := s.fetched
	s.mu.Unlock()
	if !fetched {
		if _, err := s.Build(ctx); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.logURLs[jobID]
	if !ok {
		return "", fmt.Errorf("job %s has no log in build %s", jobID, s.ref)
	}
	return u, nil
}
