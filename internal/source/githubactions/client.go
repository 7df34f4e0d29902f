package githubactions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the root of GitHub's REST API.
const DefaultBaseURL = "https://api.github.com"

// Defaults for the zero values of Config.
const (
	DefaultConcurrency = 4
	DefaultMaxRetries  = 5
	DefaultMaxWait     = 2 * time.Minute
	maxRedirects       = 5
)

// Config configures a Source. Every field has a usable zero value.
type Config struct {
	// Token is a GitHub token. Public runs can be listed without one, but
	// downloading logs needs one; private repositories need the repo scope
	// (classic token) or Actions read access (fine-grained token).
	Token string
	// BaseURL is the REST API root. Empty means DefaultBaseURL; GitHub
	// Enterprise Server uses https://<host>/api/v3.
	BaseURL string
	// HTTPClient sends the requests. Nil means a client with a response
	// header timeout but no overall timeout, since logs can be large. Its
	// redirect policy is not used: Source follows redirects itself and
	// sends the token only to the API host.
	HTTPClient *http.Client
	// Concurrency caps how many logs may be open (downloading) at once;
	// further Open calls wait for one to be closed. Zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxRetries is how many times a request is retried after a rate limit
	// or a transient 5xx. Zero means DefaultMaxRetries; negative means never.
	MaxRetries int
	// MaxWait is the longest single wait for a rate limit to reset; a
	// longer one fails the request with the reset time. Zero means
	// DefaultMaxWait.
	MaxWait time.Duration
	// UserAgent is sent with every request (GitHub requires one); empty
	// means "destill".
	UserAgent string
	// Now returns the current time; nil means time.Now. Used to turn
	// X-RateLimit-Reset and Retry-After dates into waits.
	Now func() time.Time
	// Sleep waits for d or until ctx is done; nil means a timer. Tests
	// inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// HTTPError is a response with an unexpected status. The message of an
// error that wraps it says what the status means for the user.
type HTTPError struct {
	StatusCode int
	Status     string
	// Message is the API's own explanation, when it gave one.
	Message string
	// RateLimited is set when the response said the rate limit is spent.
	RateLimited bool
}

func (e *HTTPError) Error() string {
	s := "HTTP " + e.Status
	if e.Status == "" {
		s = "HTTP " + strconv.Itoa(e.StatusCode)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// client is the HTTP side of a Source. It is safe for concurrent use.
type client struct {
	token     string
	base      *url.URL
	http      *http.Client
	retries   int
	maxWait   time.Duration
	userAgent string
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
}

func newClient(cfg Config) (*client, error) {
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("github: API base URL %q is not an http(s) URL", raw)
	}
	c := &client{
		token:     strings.TrimSpace(cfg.Token),
		base:      base,
		retries:   cfg.MaxRetries,
		maxWait:   cfg.MaxWait,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	} else {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		hc.Transport = t
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	if c.retries == 0 {
		c.retries = DefaultMaxRetries
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxWait
	}
	if c.userAgent == "" {
		c.userAgent = "destill"
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	return c, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiURL joins path (starting with /repos/) and query to the base URL.
func (c *client) apiURL(path string, query url.Values) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	return u.String()
}

// get sends a GET and returns a 2xx response, following redirects (with
// the token only on the API host) and retrying rate limits and transient
// server errors. Other statuses come back as *HTTPError. The caller closes
// the body.
func (c *client) get(ctx context.Context, rawURL, accept string) (*http.Response, error) {
	retries, redirects := 0, 0
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("User-Agent", c.userAgent)
		if req.URL.Host == c.base.Host {
			req.Header.Set("Accept", accept)
			req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("cannot reach %s: %w", req.URL.Host, err)
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		case isRedirect(resp.StatusCode):
			loc, err := resp.Location()
			resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("redirect from %s without a usable location: %w", req.URL.Host, err)
			}
			if redirects++; redirects > maxRedirects {
				return nil, fmt.Errorf("more than %d redirects from %s", maxRedirects, req.URL.Host)
			}
			rawURL = loc.String()
			continue
		}
		herr := c.readHTTPError(resp)
		wait, retry, err := c.retryAfter(resp, herr, retries)
		if err != nil {
			return nil, err
		}
		if !retry {
			return nil, herr
		}
		if retries >= c.retries {
			return nil, fmt.Errorf("gave up after %d attempts: %w", retries+1, herr)
		}
		retries++
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// retryAfter says whether a failed response is worth retrying, and after
// how long. A rate limit that resets later than MaxWait is an error that
// says when it resets.
func (c *client) retryAfter(resp *http.Response, herr *HTTPError, attempt int) (time.Duration, bool, error) {
	now := c.now()
	backoff := time.Second << min(attempt, 6)
	var wait time.Duration
	switch {
	case herr.RateLimited:
		// Primary rate limit: the reset time is a Unix epoch.
		reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil {
			wait = backoff
			break
		}
		at := time.Unix(reset, 0)
		wait = max(at.Sub(now), 0) + time.Second // the reset second itself may still be limited
		if wait > c.maxWait {
			hint := ""
			if c.token == "" {
				hint = "; set GITHUB_TOKEN for a higher limit"
			}
			return 0, false, fmt.Errorf("API rate limit exceeded until %s%s: %w", at.UTC().Format(time.RFC3339), hint, herr)
		}
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusForbidden && resp.Header.Get("Retry-After") != "":
		// Secondary rate limit.
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), now); ok {
			wait = d
		} else {
			wait = backoff
		}
	case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		wait = backoff
	default:
		return 0, false, nil
	}
	if wait > c.maxWait {
		return 0, false, fmt.Errorf("server asks to wait %s, longer than the %s limit: %w", wait.Round(time.Second), c.maxWait, herr)
	}
	return wait, true, nil
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// readHTTPError drains and closes resp, keeping the API's message.
func (c *client) readHTTPError(resp *http.Response) *HTTPError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil {
		e.Message = msg.Message
	}
	e.RateLimited = (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests) &&
		resp.Header.Get("X-RateLimit-Remaining") == "0"
	return e
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
		if c.token == "" {
			return fmt.Errorf("GitHub wants a token for %s; set GITHUB_TOKEN: %w", what, err)
		}
		return fmt.Errorf("the token is invalid or expired; check GITHUB_TOKEN: %w", err)
	case http.StatusForbidden:
		if c.token == "" {
			return fmt.Errorf("GitHub refused %s without a token; set GITHUB_TOKEN: %w", what, err)
		}
		return fmt.Errorf("the token may not read %s; it needs the repo scope (classic token) or Actions read access (fine-grained token): %w", what, err)
	case http.StatusNotFound, http.StatusGone:
		hint := "check the URL"
		if isLog {
			hint = "logs are deleted after the repository's retention period, and exist only once the job has finished"
		}
		if c.token == "" {
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
