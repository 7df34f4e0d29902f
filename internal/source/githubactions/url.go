package githubactions

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// RunRef names a workflow run, and optionally one attempt or one job of it.
type RunRef struct {
	Owner string
	Repo  string
	RunID int64
	// Attempt, when positive, selects a run attempt; zero means the latest.
	Attempt int
	// JobID, when positive, selects one job of the run.
	JobID int64
}

// String returns "owner/repo/run_id" (with "/attempts/n" for an attempt),
// the build id used in chunk keys.
func (r RunRef) String() string {
	s := r.Owner + "/" + r.Repo + "/" + strconv.FormatInt(r.RunID, 10)
	if r.Attempt > 0 {
		s += "/attempts/" + strconv.Itoa(r.Attempt)
	}
	return s
}

// WebURL is the run's page on github.com.
func (r RunRef) WebURL() string {
	s := "https://github.com/" + r.Owner + "/" + r.Repo + "/actions/runs/" + strconv.FormatInt(r.RunID, 10)
	if r.Attempt > 0 {
		s += "/attempts/" + strconv.Itoa(r.Attempt)
	}
	return s
}

// urlForm is shown to users who pass a URL this package cannot read.
const urlForm = "https://github.com/<owner>/<repo>/actions/runs/<run-id>[/attempts/<n>|/job/<job-id>]"

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// IsGitHubURL reports whether s is an http(s) URL on github.com, the kind
// of URL ParseURL is for (it may still be malformed).
func IsGitHubURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "github.com" || h == "www.github.com"
}

// ParseURL reads a workflow run URL as shown in a browser:
// https://github.com/<owner>/<repo>/actions/runs/<run-id>, optionally
// followed by /attempts/<n> or /job/<job-id>. Query and fragment are
// ignored.
func ParseURL(s string) (RunRef, error) {
	bad := func(why string) (RunRef, error) {
		return RunRef{}, fmt.Errorf("github: %q is not a workflow run URL: %s; want %s", s, why, urlForm)
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return bad("cannot parse it")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("it is not an http(s) URL")
	}
	if !IsGitHubURL(u.String()) {
		return bad("the host is " + u.Host + ", not github.com")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 5 || parts[2] != "actions" || parts[3] != "runs" {
		return bad("the path is not /<owner>/<repo>/actions/runs/<run-id>")
	}
	ref := RunRef{Owner: parts[0], Repo: parts[1]}
	if !nameRE.MatchString(ref.Owner) {
		return bad(fmt.Sprintf("owner %q is not a GitHub name", ref.Owner))
	}
	if !nameRE.MatchString(ref.Repo) {
		return bad(fmt.Sprintf("repository %q is not a GitHub name", ref.Repo))
	}
	if ref.RunID, err = positive(parts[4], math.MaxInt64); err != nil {
		return bad(fmt.Sprintf("run id %q %v", parts[4], err))
	}
	rest := parts[5:]
	switch {
	case len(rest) == 0:
	case len(rest) == 2 && rest[0] == "attempts":
		n, err := positive(rest[1], maxAttempt)
		if err != nil {
			return bad(fmt.Sprintf("attempt %q %v", rest[1], err))
		}
		ref.Attempt = int(n)
	case len(rest) == 2 && rest[0] == "job":
		if ref.JobID, err = positive(rest[1], math.MaxInt64); err != nil {
			return bad(fmt.Sprintf("job id %q %v", rest[1], err))
		}
	default:
		return bad("unexpected /" + strings.Join(rest, "/") + " after the run id")
	}
	return ref, nil
}

// maxAttempt bounds a run attempt number, far above what GitHub allows.
const maxAttempt = 1 << 20

// positive parses a positive decimal number up to limit. Its error
// completes the sentence "run id <s> …".
func positive(s string, limit int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err == nil && n > limit, errors.Is(err, strconv.ErrRange) && n > 0:
		return 0, fmt.Errorf("is too large (the largest is %d)", limit)
	case err != nil || n <= 0:
		return 0, errors.New("is not a positive integer")
	}
	return n, nil
}
