package buildkite

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/destill-ci/destill/internal/source/apiclient"
)

// DefaultBaseURL is the root of Buildkite's REST API.
const DefaultBaseURL = "https://api.buildkite.com"

// Config configures a Source. The zero value of every field but Token is a
// sensible default.
type Config struct {
	// Token is a Buildkite API access token. It needs the read_builds scope
	// to list a build's jobs and read_build_logs to download their logs.
	Token string
	// BaseURL is the REST API root, without the /v2 suffix. Empty means
	// DefaultBaseURL. Tests and fixture servers point it elsewhere; log
	// URLs that the API returns on api.buildkite.com are then rewritten to
	// this host too.
	BaseURL string
	apiclient.Options
}

// HTTPError is a response with an unexpected status. The message of an
// error that wraps it says what the status means for the user.
type HTTPError = apiclient.HTTPError

// newClient returns the HTTP side of a Source: authentication, retries and
// concurrency.
func newClient(cfg Config) (*apiclient.Client, error) {
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("buildkite: no API token: set BUILDKITE_API_TOKEN to an access token with the read_builds and read_build_logs scopes (https://buildkite.com/user/api-access-tokens)")
	}
	c, err := apiclient.New(apiclient.Config{
		Options: cfg.Options,
		BaseURL: cmp.Or(cfg.BaseURL, DefaultBaseURL),
		Token:   cfg.Token,
		Retry:   retryAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("buildkite: %w", err)
	}
	return c, nil
}

// retryAfter waits for a spent rate limit as long as RateLimit-Reset says,
// and otherwise as the server's Retry-After says.
func retryAfter(f apiclient.Failure) (time.Duration, bool, error) {
	if f.Response.StatusCode == http.StatusTooManyRequests {
		if d, ok := apiclient.Seconds(f.Response.Header.Get("RateLimit-Reset")); ok {
			return d, true, nil
		}
	}
	return apiclient.RetryAfter(f)
}

// resolveLogURL returns where to download a job's raw log from. The API
// answers with absolute URLs on its own host; when the base URL points
// elsewhere those are moved to it so a fixture server or proxy serves them
// too.
func resolveLogURL(c *apiclient.Client, raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bad raw_log_url %q: %w", raw, err)
	}
	base := c.URL("")
	u = base.ResolveReference(u)
	def, _ := url.Parse(DefaultBaseURL)
	if u.Host == def.Host && base.Host != def.Host {
		u.Scheme, u.Host = base.Scheme, base.Host
	}
	return u.String(), nil
}

// explain turns an HTTP error into what the user should know; what names
// the thing requested ("build N of org/pipeline") and scope the token scope
// it needs.
func explain(err error, what, scope string) error {
	var herr *HTTPError
	if !errors.As(err, &herr) {
		return err
	}
	switch herr.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("the API token is missing or invalid; check BUILDKITE_API_TOKEN: %w", err)
	case http.StatusForbidden:
		return fmt.Errorf("the API token may not read %s; it needs the %s scope and access to the organization: %w", what, scope, err)
	case http.StatusNotFound:
		return fmt.Errorf("%s not found; check the URL, and that the token's organization can see it: %w", what, err)
	}
	return err
}
