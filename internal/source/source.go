// Package source defines where job logs come from. Each implementation lives
// in its own package (file, buildkite, githubactions) and never imports
// another; the cli package picks one for a target.
package source

import (
	"context"
	"io"

	"github.com/destill-ci/destill/contracts"
)

// Build is what a source knows of a build: its identity and its jobs.
type Build struct {
	// ID identifies the build within its source (e.g. "org/pipeline/123").
	ID string
	// URL is where a person sees the build; empty for files.
	URL string
	// Source names the kind: "buildkite", "github", "file".
	Source string
	// Jobs are the jobs whose logs can be read, in the source's order.
	Jobs []contracts.Job
}

// Source lists a build's jobs and opens their logs as streams.
type Source interface {
	Build(ctx context.Context) (Build, error)
	// Open returns the job's raw log. The caller closes it. The stream is
	// read once, front to back; it is never held whole in memory.
	Open(ctx context.Context, job contracts.Job) (io.ReadCloser, error)
}
