// Package apiclient is the HTTP side shared by the sources that read a CI
// service's REST API: a bearer token sent only to the API host, retries of
// rate limits and transient server errors with bounded waits, the API's own
// error message kept in *HTTPError, and log streams capped in number.
//
// What differs between services stays in their packages: which headers
// tell when a rate limit resets (Config.Retry, Config.RateLimited), which
// headers the API wants, and what an error status means for the user.
package apiclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultConcurrency = 4
	DefaultMaxRetries  = 5
	DefaultMaxWait     = 2 * time.Minute
	maxRedirects       = 5
)

// Options are the settings every API source offers its users; each
// source's Config embeds them. Every field has a usable zero value.
type Options struct {
	// HTTPClient sends the requests. Nil means a client with a response
	// header timeout but no overall timeout, since logs can be large.
	HTTPClient *http.Client
	// Concurrency caps how many logs may be open (downloading) at once;
	// further Open calls wait for one to be closed. Zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxRetries is how many times a request is retried after a rate limit
	// or a transient 5xx. Zero means DefaultMaxRetries; negative means never.
	MaxRetries int
	// MaxWait is the longest single wait for a rate limit to reset; a
	// server asking for longer fails the request instead. Zero means
	// DefaultMaxWait.
	MaxWait time.Duration
	// UserAgent is sent with every request; empty means "destill".
	UserAgent string
	// Now returns the current time; nil means time.Now. Used to turn
	// rate-limit reset times and Retry-After dates into waits.
	Now func() time.Time
	// Sleep waits for d or until ctx is done; nil means a timer. Tests
	// inject one that returns at once.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Config configures a Client: the user's Options and what the source
// knows of its API. Every field but BaseURL has a usable zero value.
type Config struct {
	Options
	// BaseURL is the API root. Requests to its host carry Token and
	// Header; requests to other hosts (log storage) carry neither.
	BaseURL string
	// Token is sent as a bearer token to the API host; empty sends none.
	Token string
	// Header is sent with every request to the API host.
	Header http.Header
	// FollowRedirects makes the Client follow redirects itself, sending
	// Token and Header only to the API host, instead of leaving redirects
	// to HTTPClient's policy.
	FollowRedirects bool
	// RateLimited reports whether a failed response says the rate limit is
	// spent; it sets HTTPError.RateLimited. Nil means never.
	RateLimited func(*http.Response) bool
	// Retry says whether a failure is worth retrying and after how long; an
	// error ends the request with that error. Nil means RetryAfter.
	Retry func(Failure) (wait time.Duration, retry bool, err error)
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

// Failure is a response with an unexpected status, as Config.Retry sees
// it. The body has already been read into Err and closed.
type Failure struct {
	Response *http.Response
	Err      *HTTPError
	// Attempt is how many times the request has been retried so far.
	Attempt int
	// Now is when the response was read.
	Now time.Time
	// MaxWait is the Client's longest allowed wait.
	MaxWait time.Duration
}

// Backoff is the wait when the server does not say how long: one second,
// doubling with every attempt up to about a minute.
func (f Failure) Backoff() time.Duration {
	return time.Second << min(f.Attempt, 6)
}

// RetryAfter reads the Retry-After header, as seconds or as an HTTP date.
func (f Failure) RetryAfter() (time.Duration, bool) {
	v := strings.TrimSpace(f.Response.Header.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if d, ok := Seconds(v); ok {
		return d, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(f.Now), 0), true
}

// TooLong is the error for a server that asks to wait longer than MaxWait.
func (f Failure) TooLong(wait time.Duration) error {
	return fmt.Errorf("server asks to wait %s, longer than the %s limit: %w", wait.Round(time.Second), f.MaxWait, f.Err)
}

// RetryAfter is the default retry policy: HTTP 429 and the transient 502,
// 503 and 504 are retried after Retry-After, or after Backoff when the
// server does not say.
func RetryAfter(f Failure) (time.Duration, bool, error) {
	switch f.Response.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if d, ok := f.RetryAfter(); ok {
			return d, true, nil
		}
		return f.Backoff(), true, nil
	}
	return 0, false, nil
}

// Seconds reads a header value that counts whole seconds.
func Seconds(v string) (time.Duration, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(n) * time.Second, true
}

// Sleep waits for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Client sends GET requests to one API. It is safe for concurrent use.
type Client struct {
	base            *url.URL
	token           string
	header          http.Header
	http            *http.Client
	followRedirects bool
	slots           chan struct{}
	retries         int
	maxWait         time.Duration
	userAgent       string
	now             func() time.Time
	sleep           func(context.Context, time.Duration) error
	rateLimited     func(*http.Response) bool
	retry           func(Failure) (time.Duration, bool, error)
}

// New checks cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("API base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	c := &Client{
		base:            base,
		token:           strings.TrimSpace(cfg.Token),
		header:          cfg.Header,
		http:            cfg.HTTPClient,
		followRedirects: cfg.FollowRedirects,
		retries:         cfg.MaxRetries,
		maxWait:         cfg.MaxWait,
		userAgent:       cfg.UserAgent,
		now:             cfg.Now,
		sleep:           cfg.Sleep,
		rateLimited:     cfg.RateLimited,
		retry:           cfg.Retry,
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.ResponseHeaderTimeout = time.Minute
		c.http = &http.Client{Transport: t}
	}
	if c.followRedirects {
		hc := *c.http
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		c.http = &hc
	}
	n := cfg.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	c.slots = make(chan struct{}, n)
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
		c.sleep = Sleep
	}
	if c.rateLimited == nil {
		c.rateLimited = func(*http.Response) bool { return false }
	}
	if c.retry == nil {
		c.retry = RetryAfter
	}
	return c, nil
}

// URL returns the API root with path appended.
func (c *Client) URL(path string) *url.URL {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	return &u
}

// Get sends a GET and returns a 2xx response, retrying as Config.Retry
// says. Accept, when not empty, is sent with the request. Other statuses
// come back as *HTTPError. The caller closes the body.
func (c *Client) Get(ctx context.Context, rawURL, accept string) (*http.Response, error) {
	retries, redirects := 0, 0
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return nil, err
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		req.Header.Set("User-Agent", c.userAgent)
		if req.URL.Host == c.base.Host {
			maps.Copy(req.Header, c.header.Clone())
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
		case c.followRedirects && isRedirect(resp.StatusCode):
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
		f := Failure{Response: resp, Err: c.readError(resp), Attempt: retries, Now: c.now(), MaxWait: c.maxWait}
		wait, retry, err := c.retry(f)
		if err != nil {
			return nil, err
		}
		if !retry {
			return nil, f.Err
		}
		if retries >= c.retries {
			return nil, fmt.Errorf("gave up after %d attempts: %w", retries+1, f.Err)
		}
		if wait > c.maxWait {
			return nil, f.TooLong(wait)
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

// readError drains and closes resp, keeping the API's message.
func (c *Client) readError(resp *http.Response) *HTTPError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status}
	var msg struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &msg) == nil {
		e.Message = msg.Message
	}
	e.RateLimited = c.rateLimited(resp)
	return e
}

// Open streams the body of a GET, as Get sends it. At most
// Config.Concurrency streams are open at once: Open waits for a slot (or
// ctx) and closing the stream frees it, so close every stream. Read errors
// are prefixed with op, which names what is read.
func (c *Client) Open(ctx context.Context, rawURL, accept, op string) (io.ReadCloser, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	resp, err := c.Get(ctx, rawURL, accept)
	if err != nil {
		<-c.slots
		return nil, err
	}
	return &stream{body: resp.Body, op: op, release: func() { <-c.slots }}, nil
}

// stream names what is read in read errors and frees its slot once, when
// closed.
type stream struct {
	body    io.ReadCloser
	op      string
	once    sync.Once
	release func()
}

func (s *stream) Read(p []byte) (int, error) {
	n, err := s.body.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", s.op, err)
	}
	return n, err
}

func (s *stream) Close() error {
	err := s.body.Close()
	s.once.Do(s.release)
	return err
}
