package githubactions

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/destill-ci/destill/internal/source/apiclient"
)

// DefaultBaseURL is the root of GitHub's REST API.
const DefaultBaseURL = "https://api.github.com"

// Config configures a Source. Every field has a usable zero value. The
// Source follows redirects itself, sending the token only to the API host,
// so the redirect policy of Options.HTTPClient is not used.
type Config struct {
	// Token is a GitHub token. Public runs can be listed without one, but
	// downloading logs needs one; private repositories need the repo scope
	// (classic token) or Actions read access (fine-grained token).
	Token string
	// BaseURL is the REST API root. Empty means DefaultBaseURL; GitHub
	// Enterprise Server uses https://<host>/api/v3.
	BaseURL string
	apiclient.Options
}

// HTTPError is a response with an unexpected status. The message of an
// error that wraps it says what the status means for the user.
type HTTPError = apiclient.HTTPError

// client is the HTTP side of a Source. It is safe for concurrent use.
type client struct {
	*apiclient.Client
	// anonymous is set when there is no token: public runs only, and a
	// lower rate limit.
	anonymous bool
}

func newClient(cfg Config) (*client, error) {
	c := &client{anonymous: strings.TrimSpace(cfg.Token) == ""}
	// Accept and the API version go to the API host only, never to the
	// log storage that log requests are redirected to.
	header := http.Header{}
	header.Set("Accept", "application/vnd.github+json")
	header.Set("X-GitHub-Api-Version", "2022-11-28")
	api, err := apiclient.New(apiclient.Config{
		Options:         cfg.Options,
		BaseURL:         cmp.Or(cfg.BaseURL, DefaultBaseURL),
		Token:           cfg.Token,
		Header:          header,
		FollowRedirects: true,
		RateLimited:     rateLimited,
		Retry:           c.retryAfter,
	})
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	c.Client = api
	return c, nil
}

// apiURL joins path (starting with /repos/) and query to the base URL.
func (c *client) apiURL(path string, query url.Values) string {
	u := c.URL(path)
	u.RawQuery = query.Encode()
	return u.String()
}

// rateLimited reports whether a response says the primary rate limit is
// spent.
func rateLimited(resp *http.Response) bool {
	return (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) &&
		resp.Header.Get("X-RateLimit-Remaining") == "0"
}

// retryAfter says whether a failed response is worth retrying, and after
// how long. A wait longer than MaxWait is an error even on the last
// attempt, so that a spent rate limit says when it resets.
func (c *client) retryAfter(f apiclient.Failure) (time.Duration, bool, error) {
	resp := f.Response
	var wait time.Duration
	switch {
	case f.Err.RateLimited:
		// Primary rate limit: the reset time is a Unix epoch.
		reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil {
			wait = f.Backoff()
			break
		}
		at := time.Unix(reset, 0)
		wait = max(at.Sub(f.Now), 0) + time.Second // the reset second itself may still be limited
		if wait > f.MaxWait {
			hint := ""
			if c.anonymous {
				hint = "; set GITHUB_TOKEN for a higher limit"
			}
			return 0, false, fmt.Errorf("API rate limit exceeded until %s%s: %w", at.UTC().Format(time.RFC3339), hint, f.Err)
		}
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusForbidden && resp.Header.Get("Retry-After") != "":
		// Secondary rate limit.
		if d, ok := f.RetryAfter(); ok {
			wait = d
		} else {
			wait = f.Backoff()
		}
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		wait = f.Backoff()
	default:
		return 0, false, nil
	}
	if wait > f.MaxWait {
		return 0, false, f.TooLong(wait)
	}
	return wait, true, nil
}

// explain turns an HTTP error into what the user should know. what names
// the thing requested ("run N of owner/repo").
func (c *client) explain(err error, what string, isLog bool) error {
	var herr *HTTPError
	if !errors.As(err, &herr) || herr.RateLimited {
		return err
	}
	switch herr.StatusCode {
	case http.StatusUnauthorized:
		if c.anonymous {
			return fmt.Errorf("GitHub wants a token for %s; set GITHUB_TOKEN: %w", what, err)
		}
		return fmt.Errorf("the token is invalid or expired; check GITHUB_TOKEN: %w", err)
	case http.StatusForbidden:
		if c.anonymous {
			return fmt.Errorf("GitHub refused %s without a token; set GITHUB_TOKEN: %w", what, err)
		}
		return fmt.Errorf("the token may not read %s; it needs the repo scope (classic token) or Actions read access (fine-grained token): %w", what, err)
	case http.StatusNotFound, http.StatusGone:
		hint := "check the URL"
		if isLog {
			hint = "logs are deleted after the repository's retention period, and exist only once the job has finished"
		}
		if c.anonymous {
			hint += "; private repositories need GITHUB_TOKEN"
		}
		return fmt.Errorf("%s not found (%s): %w", what, hint, err)
	}
	return err
}

// nextLink returns the rel="next" URL of a Link header, or "".
func nextLink(h string) string {
	for part := range strings.SplitSeq(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if !ok {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "rel" && strings.Trim(strings.TrimSpace(v), `"`) == "next" {
				return strings.Trim(strings.TrimSpace(target), "<>")
			}
		}
	}
	return ""
}
