package buildkite

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// BuildRef names a build, and optionally one of its jobs.
type BuildRef struct {
	Org      string
	Pipeline string
	Number   int
	// JobID, when set, selects one job of the build.
	JobID string
}

// String returns "org/pipeline/number", the build id used in chunk keys.
func (r BuildRef) String() string {
	return r.Org + "/" + r.Pipeline + "/" + strconv.Itoa(r.Number)
}

// WebURL is the build's page on buildkite.com.
func (r BuildRef) WebURL() string {
	return "https://buildkite.com/" + url.PathEscape(r.Org) + "/" + url.PathEscape(r.Pipeline) + "/builds/" + strconv.Itoa(r.Number)
}

// urlForm is shown to users who pass a URL this package cannot read.
const urlForm = "https://buildkite.com/<org>/<pipeline>/builds/<number>[#<job-id>]"

var (
	slugRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	jobIDRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// IsBuildkiteURL reports whether s is an http(s) URL on buildkite.com, the
// kind of URL ParseURL is for (it may still be malformed).
func IsBuildkiteURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	h := strings.ToLower(u.Hostname())
	return h == "buildkite.com" || h == "www.buildkite.com"
}

// ParseURL reads a build URL as shown in a browser:
// https://buildkite.com/<org>/<pipeline>/builds/<number>, optionally
// followed by more path (a build tab) and by "#<job-id>" or "?jid=<job-id>"
// to select one job.
func ParseURL(s string) (BuildRef, error) {
	bad := func(why string) (BuildRef, error) {
		return BuildRef{}, fmt.Errorf("buildkite: %q is not a build URL: %s; want %s", s, why, urlForm)
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return bad("cannot parse it")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("it is not an http(s) URL")
	}
	if !IsBuildkiteURL(u.String()) {
		return bad("the host is " + u.Host + ", not buildkite.com")
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 4 || parts[2] != "builds" {
		return bad("the path is not /<org>/<pipeline>/builds/<number>")
	}
	ref := BuildRef{Org: parts[0], Pipeline: parts[1]}
	if !slugRE.MatchString(ref.Org) {
		return bad(fmt.Sprintf("organization %q is not a slug", ref.Org))
	}
	if !slugRE.MatchString(ref.Pipeline) {
		return bad(fmt.Sprintf("pipeline %q is not a slug", ref.Pipeline))
	}
	n, err := positive(parts[3])
	if err != nil {
		return bad(fmt.Sprintf("build number %q %v", parts[3], err))
	}
	ref.Number = n
	job := u.Query().Get("jid")
	if u.Fragment != "" {
		job = u.Fragment
	}
	if job != "" {
		if !jobIDRE.MatchString(job) {
			return bad(fmt.Sprintf("%q is not a job id (a UUID)", job))
		}
		ref.JobID = strings.ToLower(job)
	}
	return ref, nil
}

// positive parses a positive decimal number. Its error completes the
// sentence "build number <s> …".
func positive(s string) (int, error) {
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange) && n > 0:
		return 0, fmt.Errorf("is too large (the largest is %d)", math.MaxInt)
	case err != nil || n <= 0:
		return 0, errors.New("is not a positive integer")
	}
	return n, nil
}
