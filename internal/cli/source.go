package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/buildkite"
	"github.com/destill-ci/destill/internal/source/file"
	"github.com/destill-ci/destill/internal/source/githubactions"
)

// Environment variables that configure the log sources.
const (
	envBuildkiteToken = "BUILDKITE_API_TOKEN"
	envBuildkiteAPI   = "BUILDKITE_API_URL"
	envGitHubToken    = "GITHUB_TOKEN"
	envGitHubAPI      = "GITHUB_API_URL"
)

// supportedTargets lists what destill can read, for error messages.
const supportedTargets = `destill reads:
  https://buildkite.com/<org>/<pipeline>/builds/<number>[#<job-id>]   (needs ` + envBuildkiteToken + `)
  https://github.com/<owner>/<repo>/actions/runs/<run-id>[/attempts/<n>|/job/<job-id>]   (` + envGitHubToken + ` for logs)
  local log files, plain or gzip, or - for stdin`

// openSource picks the log source for a request: a Buildkite or GitHub
// Actions URL, or local files. Tokens and API base URLs come from the
// environment. A target the user got wrong is a usageError.
func (a *app) openSource(ctx context.Context, req contracts.AnalysisRequest) (source.Source, error) {
	switch {
	case req.BuildURL != "" && len(req.Files) > 0:
		return nil, usageError{errors.New("give either a build URL or log files, not both")}
	case req.BuildURL != "":
		return a.openBuildURL(req.BuildURL)
	case len(req.Files) > 0:
		if slices.Contains(req.Files, file.Stdin) && a.isTerminal(a.stdio.In) {
			// Nothing is piped in: reading would wait for a log to be typed.
			return nil, usageError{errors.New("standard input is a terminal, so - has no log to read: pipe one in (some-command 2>&1 | destill run -) or name log files")}
		}
		s, err := file.NewNamed(req.Files, req.FileNames, a.stdio.In)
		if err != nil {
			return nil, usageError{err}
		}
		return s, nil
	}
	return nil, usageError{errors.New("nothing to analyse: give a build URL or log files\n" + supportedTargets)}
}

func (a *app) openBuildURL(raw string) (source.Source, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case buildkite.IsBuildkiteURL(raw):
		ref, err := buildkite.ParseURL(raw)
		if err != nil {
			return nil, usageError{err}
		}
		return buildkite.New(ref, buildkite.Config{
			Token:   a.getenv(envBuildkiteToken),
			BaseURL: a.getenv(envBuildkiteAPI),
		})
	case githubactions.IsGitHubURL(raw):
		ref, err := githubactions.ParseURL(raw)
		if err != nil {
			return nil, usageError{err}
		}
		return githubactions.New(ref, githubactions.Config{
			Token:   a.getenv(envGitHubToken),
			BaseURL: a.getenv(envGitHubAPI),
		})
	}
	return nil, usageError{fmt.Errorf("unsupported build URL %q\n%s", raw, supportedTargets)}
}

// isBuildURL reports whether a command-line argument is meant as a build
// URL rather than a file: any http(s) URL with a host. Unsupported hosts
// are then reported by openSource rather than as missing files.
func isBuildURL(s string) bool {
	s = strings.TrimSpace(s)
	// Anything that starts like a URL ("ftp://…", a malformed "http://[…")
	// is one: it is reported as an unsupported URL, not as a missing file.
	if i := strings.Index(s, "://"); i > 0 && strings.IndexFunc(s[:i], func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) < 0 {
		return true
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return (scheme == "http" || scheme == "https") && u.Host != ""
}

// resolvedSource remembers a source's build so that the build is fetched
// once: run resolves it up front to report a wrong target before any work
// starts, and the pipeline then reuses it.
type resolvedSource struct {
	source.Source
	build source.Build
}

func (r *resolvedSource) Build(context.Context) (source.Build, error) { return r.build, nil }

// checkBuildURL reports whether a build URL is one destill can read,
// without contacting the API (no token needed).
func checkBuildURL(raw string) error {
	raw = strings.TrimSpace(raw)
	switch {
	case buildkite.IsBuildkiteURL(raw):
		if _, err := buildkite.ParseURL(raw); err != nil {
			return usageError{err}
		}
		return nil
	case githubactions.IsGitHubURL(raw):
		if _, err := githubactions.ParseURL(raw); err != nil {
			return usageError{err}
		}
		return nil
	}
	return usageError{fmt.Errorf("unsupported build URL %q\n%s", raw, supportedTargets)}
}
