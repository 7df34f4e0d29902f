// Package githubactions reads a GitHub Actions workflow run's jobs and their
// logs through the GitHub REST API.
package githubactions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/source"
)

// SourceName is the value of source.Build.Source for GitHub Actions runs.
const SourceName = "github"

// maxPages bounds pagination (100 jobs a page; a run has at most a few
// hundred jobs, a matrix at most 256).
const maxPages = 50

// Source reads one workflow run. It is safe for concurrent use.
type Source struct {
	ref    RunRef
	client *client

	mu      sync.Mutex
	fetched bool
	jobs    map[string]bool // ids of jobs with logs
}

// New returns a source for the run ref names. It checks cfg but sends no
// request.
func New(ref RunRef, cfg Config) (*Source, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	return &Source{ref: ref, client: c}, nil
}

type apiJobs struct {
	TotalCount int      `json:"total_count"`
	Jobs       []apiJob `json:"jobs"`
}

type apiJob struct {
	ID         int64   `json:"id"`
	RunID      int64   `json:"run_id"`
	Name       string  `json:"name"`
	Status     string  `json:"status"`
	Conclusion *string `json:"conclusion"`
	HTMLURL    string  `json:"html_url"`
	StartedAt  *string `json:"started_at"`
}

// Build lists the run's jobs (of the latest attempt, or the one the URL
// names). Skipped jobs and jobs that have not started have no log and are
// left out.
func (s *Source) Build(ctx context.Context) (source.Build, error) {
	op := "github: list jobs of run " + s.ref.String()
	what := fmt.Sprintf("run %d of %s/%s", s.ref.RunID, s.ref.Owner, s.ref.Repo)
	path := fmt.Sprintf("/repos/%s/%s/actions/runs/%d", s.ref.Owner, s.ref.Repo, s.ref.RunID)
	if s.ref.Attempt > 0 {
		path += "/attempts/" + strconv.Itoa(s.ref.Attempt)
		what = fmt.Sprintf("attempt %d of %s", s.ref.Attempt, what)
	}
	next := s.client.apiURL(path+"/jobs", url.Values{"per_page": {"100"}})

	var all []apiJob
	for page := 1; next != ""; page++ {
		if page > maxPages {
			return source.Build{}, fmt.Errorf("%s: more than %d pages of jobs", op, maxPages)
		}
		resp, err := s.client.Get(ctx, next, "") // the client sets Accept for the API host
		if err != nil {
			return source.Build{}, fmt.Errorf("%s: %w", op, s.client.explain(err, what, false))
		}
		var body apiJobs
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			return source.Build{}, fmt.Errorf("%s: decode page %d: %w", op, page, err)
		}
		all = append(all, body.Jobs...)
		next = nextLink(resp.Header.Get("Link"))
	}

	out := source.Build{ID: s.ref.String(), URL: s.ref.WebURL(), Source: SourceName}
	ids := make(map[string]bool)
	for _, j := range all {
		if j.ID <= 0 {
			return source.Build{}, fmt.Errorf("%s: decode response: a job has no id", op)
		}
		if s.ref.JobID > 0 && j.ID != s.ref.JobID {
			continue
		}
		if s.ref.JobID == 0 && !hasLog(j) {
			continue
		}
		id := strconv.FormatInt(j.ID, 10)
		ids[id] = true
		job := contracts.Job{ID: id, Name: jobName(j), URL: j.HTMLURL, Outcome: outcome(j)}
		if job.URL == "" {
			job.URL = fmt.Sprintf("https://github.com/%s/%s/actions/runs/%d/job/%d", s.ref.Owner, s.ref.Repo, s.ref.RunID, j.ID)
		}
		out.Jobs = append(out.Jobs, job)
	}
	if s.ref.JobID > 0 && len(out.Jobs) == 0 {
		return source.Build{}, fmt.Errorf("%s: job %d not found in %s", op, s.ref.JobID, what)
	}

	s.mu.Lock()
	s.fetched, s.jobs = true, ids
	s.mu.Unlock()
	return out, nil
}

// jobName is how a job is shown: its name less the escape sequences and
// control characters it may carry (see package sanitize), so that no output
// carries them; "job <id>" when nothing is left.
func jobName(j apiJob) string {
	if name := strings.TrimSpace(sanitize.String(j.Name)); name != "" {
		return name
	}
	return "job " + strconv.FormatInt(j.ID, 10)
}

// hasLog reports whether a job ran, so it has (or will have) a log.
func hasLog(j apiJob) bool {
	if j.Conclusion != nil && *j.Conclusion == "skipped" {
		return false
	}
	switch j.Status {
	case "completed", "in_progress":
		return true
	}
	return false
}

// outcome maps a job's status and conclusion to an Outcome.
func outcome(j apiJob) contracts.Outcome {
	if j.Conclusion == nil || *j.Conclusion == "" {
		switch j.Status {
		case "in_progress", "queued", "waiting", "requested", "pending":
			return contracts.OutcomeRunning
		}
		return contracts.OutcomeUnknown
	}
	switch *j.Conclusion {
	case "success", "neutral":
		return contracts.OutcomePassed
	case "failure":
		return contracts.OutcomeFailed
	case "cancelled":
		return contracts.OutcomeCanceled
	case "timed_out":
		return contracts.OutcomeTimedOut
	case "startup_failure":
		return contracts.OutcomeBroken
	}
	return contracts.OutcomeUnknown
}

// Open streams a job's log. GitHub answers with a redirect to short-lived
// storage, which is followed without the token. At most Config.Concurrency
// logs are open at once; Open waits for a slot (or ctx) and Close frees it,
// so close every log.
func (s *Source) Open(ctx context.Context, job contracts.Job) (io.ReadCloser, error) {
	op := "github: fetch log for job " + job.ID
	if err := s.known(ctx, job.ID); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	path := fmt.Sprintf("/repos/%s/%s/actions/jobs/%s/logs", s.ref.Owner, s.ref.Repo, job.ID)
	rc, err := s.client.Open(ctx, s.client.apiURL(path, nil), "", op)
	if err != nil {
		what := fmt.Sprintf("the log of job %s in run %d of %s/%s", job.ID, s.ref.RunID, s.ref.Owner, s.ref.Repo)
		return nil, fmt.Errorf("%s: %w", op, s.client.explain(err, what, true))
	}
	return rc, nil
}

// known checks that Build listed the job (calling it if it has not run).
func (s *Source) known(ctx context.Context, jobID string) error {
	s.mu.Lock()
	fetched := s.fetched
	s.mu.Unlock()
	if !fetched {
		if _, err := s.Build(ctx); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.jobs[jobID] {
		return fmt.Errorf("job %s has no log in run %s", jobID, s.ref)
	}
	return nil
}
