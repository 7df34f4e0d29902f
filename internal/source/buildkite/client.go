package buildkite

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

// DefaultBaseURL is the root of Buildkite's REST API.
const DefaultBaseURL = "https://api.buildkite.com"

// Defaults for the zero values of Config.
const (
	DefaultConcurrency = 4
	DefaultMaxRetries  = 5
	DefaultMaxWait     = 2 * time.Minute
)

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
	// HTTPClient sends the requests. Nil means a client with a response
	// header timeout but no overall timeout, since logs can be large.
	HTTPClient *http.Client
	// Concurrency caps how many logs may be open (downloading) at once;
	// further Open calls wait for one to be closed. Zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxRetries is how many times a request is retried after HTTP 429 or
	// a transient 5xx. Zero means DefaultMaxRetries; negative means never.
	MaxRetries int
	// MaxWait is the longest single wait for a rate limit to reset; a
	// server asking for longer fails the request instead. Zero means
	// DefaultMaxWait.
	MaxWait time.Duration
	// UserAgent is sent with every request; empty means "destill".
	UserAgent string
	// Now returns the current time; nil means time.Now. Used to read
	// Retry-After dates.
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

// client is the HTTP side of a Source: authentication, retries and error
// messages. It is safe for concurrent use.
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
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("buildkite: no API token: set BUILDKITE_API_TOKEN to an access token with the read_builds and read_build_logs scopes (https://buildkite.com/user/api-access-tokens)")
	}
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("buildkite: API base URL %q is not an http(s) URL", raw)
	}
	c := &client{
		token:     strings.TrimSpace(cfg.Token),
		base:      base,
		http:      cfg.HTTPClient,
		retries:   cfg.MaxRetries,
		maxWait:   cfg.MaxWait,
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		sleep:     cfg.Sleep,
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		c.http = &http.Client{Transport: t}
	}
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

// apiURL joins path (starting with /v2/) to the base URL.
func (c *client) apiURL(path string) string {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	return u.String()
}

// resolveLogURL returns where to download a job's raw log from. The API
// answers with absolute URLs on its own host; when BaseURL points elsewhere
// those are moved to BaseURL so a fixture server or proxy serves them too.
func (c *client) resolveLogURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bad raw_log_url %q: %w", raw, err)
	}
	u = c.base.ResolveReference(u)
	def, _ := url.Parse(DefaultBaseURL)
	if u.Host == def.Host && c.base.Host != def.Host {
		u.Scheme, u.Host = c.base.Scheme, c.base.Host
	}
	return u.String(), nil
}

// get sends an authenticated GET and returns a 2xx response, retrying rate
// limits and transient server errors. Other statuses come back as
// *HTTPError. The caller closes the body.
func (c *client) get(ctx context.Context, rawURL, accept string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", accept)
		req.Header.Set("User-Agent", c.userAgent)
		if req.URL.Host == c.base.Host {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			return nil, fmt.Errorf("cannot reach %s: %w", req.URL.Host, err)
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return resp, nil
		}
		herr := readHTTPError(resp)
		wait, retry := c.retryAfter(resp, attempt)
		if !retry {
			return nil, herr
		}
		if attempt >= c.retries {
			return nil, fmt.Errorf("gave up after %d attempts: %w", attempt+1, herr)
		}
		if wait > c.maxWait {
			return nil, fmt.Errorf("server asks to wait %s, longer than the %s limit: %w", wait.Round(time.Second), c.maxWait, herr)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryAfter says whether resp is worth retrying, and after how long.
func (c *client) retryAfter(resp *http.Response, attempt int) (time.Duration, bool) {
	backoff := time.Second << min(attempt, 6)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if d, ok := parseSeconds(resp.Header.Get("RateLimit-Reset")); ok {
			return d, true
		}
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			return d, true
		}
		return backoff, true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
			return d, true
		}
		return backoff, true
	}
	return 0, false
}

func parseSeconds(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if d, ok := parseSeconds(v); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}

// readHTTPError drains and closes resp, keeping the API's message.
func readHTTPError(resp *http.Response) *HTTPError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil {
		e.Message = msg.Message
	}
	return e
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
