package buildkite

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/apiclient"
	"github.com/destill-ci/destill/internal/source/sourcetest"
	"github.com/google/go-cmp/cmp"
)

var _ source.Source = (*Source)(nil)

const (
	testToken = "bkua_test_token"
	buildPath = "/v2/organizations/acme/pipelines/web-app/builds/42"
	jobBuild  = "01890f1e-0000-4000-8000-000000000001"
	jobTest   = "01890f1e-0000-4000-8000-000000000002"
	jobWaiter = "01890f1e-0000-4000-8000-000000000003"
	jobLint   = "01890f1e-0000-4000-8000-000000000004"
	jobInteg  = "01890f1e-0000-4000-8000-000000000005"
	jobRetry  = "01890f1e-0000-4000-8000-000000000009"
	jobDocs   = "01890f1e-0000-4000-8000-00000000000a"
)

// fakeAPI serves a recorded-shape build and its raw logs, checking the
// token like the real API.
type fakeAPI struct {
	t   *testing.T
	srv *httptest.Server
	sourcetest.Replies

	mu       sync.Mutex
	build    string            // build JSON with {{API}} for the server URL
	logs     map[string][]byte // job id → raw log
	requests []string          // paths, in order
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	build, err := os.ReadFile("testdata/build.json")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{t: t, logs: map[string][]byte{
		jobBuild: []byte("--- building\nok\n"),
		jobTest:  []byte("\x1b_bk;t=1714557670000\x07--- FAIL: TestThing (0.01s)\n    thing_test.go:12: want 1, got 2\nFAIL\n"),
		jobLint:  []byte("lint: unused variable x\n"),
		jobInteg: []byte("agent lost\n"),
		jobRetry: bytes.Repeat([]byte("still waiting for the database...\n"), 50_000),
		jobDocs:  {},
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	f.build = strings.ReplaceAll(string(build), "{{API}}", f.srv.URL)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path)
	f.mu.Unlock()
	if f.Serve(w, r) {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Authentication required. Please supply a valid API Access Token"}`)
		return
	}
	if r.URL.Path == buildPath {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		io.WriteString(w, f.build)
		return
	}
	if id, ok := strings.CutPrefix(r.URL.Path, buildPath+"/jobs/"); ok {
		if id, ok = strings.CutSuffix(id, "/log.txt"); ok {
			if log, ok := f.logs[id]; ok {
				if r.Header.Get("Accept") != "text/plain" {
					f.t.Errorf("log request Accept = %q, want text/plain", r.Header.Get("Accept"))
				}
				w.Header().Set("Content-Type", "text/plain")
				w.Write(log)
				return
			}
		}
	}
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"message":"No build found"}`)
}

func (f *fakeAPI) config(s *sourcetest.Sleeper) Config {
	return Config{
		Token:   testToken,
		BaseURL: f.srv.URL,
		Options: apiclient.Options{
			Sleep: s.Sleep,
			Now:   func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) },
		},
	}
}

func newSource(t *testing.T, f *fakeAPI, url string, cfg Config) *Source {
	t.Helper()
	ref, err := ParseURL(url)
	if err != nil {
		t.Fatalf("ParseURL(%q) error = %v", url, err)
	}
	s, err := New(ref, cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return s
}

func intp(n int) *int { return &n }

func TestBuildAndLogs(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", f.config(&sourcetest.Sleeper{}))

	got, err := s.Build(context.Background())
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	webURL := "https://buildkite.com/acme/web-app/builds/42"
	want := source.Build{
		ID:     "acme/web-app/42",
		URL:    webURL,
		Source: "buildkite",
		Jobs: []contracts.Job{
			{ID: jobBuild, Name: ":go: build", URL: webURL + "#" + jobBuild, Outcome: contracts.OutcomePassed, ExitStatus: intp(0)},
			{ID: jobTest, Name: ":go: test %n (2/2)", URL: webURL + "#" + jobTest, Outcome: contracts.OutcomeFailed, ExitStatus: intp(1)},
			{ID: jobLint, Name: "lint", URL: webURL + "#" + jobLint, Outcome: contracts.OutcomeSoftFailed, ExitStatus: intp(2)},
			{ID: jobInteg, Name: "integration", URL: webURL + "#" + jobInteg, Outcome: contracts.OutcomeUnknown},
			{ID: jobRetry, Name: "flaky e2e", URL: webURL + "#" + jobRetry, Outcome: contracts.OutcomeTimedOut, ExitStatus: intp(-1)},
			{ID: jobDocs, Name: "docs", URL: webURL + "#" + jobDocs, Outcome: contracts.OutcomeCanceled},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Build() mismatch (-want +got):\n%s", diff)
	}

	for _, job := range got.Jobs {
		t.Run(job.Name, func(t *testing.T) {
			if got, want := sourcetest.ReadLog(t, s, job), f.logs[job.ID]; !bytes.Equal(got, want) {
				t.Errorf("log of %s = %d bytes, want %d bytes equal to the served log", job.ID, len(got), len(want))
			}
		})
	}
}

func TestOpenWithoutBuildFetchesTheBuild(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", f.config(&sourcetest.Sleeper{}))
	if got, want := string(sourcetest.ReadLog(t, s, contracts.Job{ID: jobLint})), string(f.logs[jobLint]); got != want {
		t.Errorf("Open(lint) = %q, want %q", got, want)
	}
	if _, err := s.Open(context.Background(), contracts.Job{ID: jobWaiter}); err == nil || !strings.Contains(err.Error(), "has no log") {
		t.Errorf("Open(waiter) error = %v, want has no log", err)
	}
}

func TestJobSelection(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		wantIDs []string
		wantErr string
	}{
		{name: "fragment", url: "https://buildkite.com/acme/web-app/builds/42#" + jobTest, wantIDs: []string{jobTest}},
		{name: "jid query", url: "https://buildkite.com/acme/web-app/builds/42/steps/canvas?jid=" + jobLint, wantIDs: []string{jobLint}},
		{name: "upper case id", url: "https://buildkite.com/acme/web-app/builds/42#" + strings.ToUpper(jobInteg), wantIDs: []string{jobInteg}},
		{name: "retried job can be selected", url: "https://buildkite.com/acme/web-app/builds/42#01890f1e-0000-4000-8000-000000000008", wantIDs: []string{"01890f1e-0000-4000-8000-000000000008"}},
		{name: "waiter", url: "https://buildkite.com/acme/web-app/builds/42#" + jobWaiter, wantErr: "is a waiter step, which has no log"},
		{name: "unknown job", url: "https://buildkite.com/acme/web-app/builds/42#01890f1e-0000-4000-8000-0000000000ff", wantErr: "job 01890f1e-0000-4000-8000-0000000000ff not found in build 42 of pipeline acme/web-app"},
	}
	f := newFakeAPI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSource(t, f, tt.url, f.config(&sourcetest.Sleeper{}))
			b, err := s.Build(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Build() error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build() error = %v", err)
			}
			var ids []string
			for _, j := range b.Jobs {
				ids = append(ids, j.ID)
			}
			if diff := cmp.Diff(tt.wantIDs, ids); diff != "" {
				t.Errorf("Build() job ids mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	limited := func(h map[string]string) sourcetest.Reply {
		return sourcetest.Reply{Status: http.StatusTooManyRequests, Header: h, Body: `{"message":"You have exceeded your API rate limit"}`}
	}
	tests := []struct {
		name       string
		replies    []sourcetest.Reply
		maxRetries int
		wantWaits  []time.Duration
		wantErr    string
	}{
		{
			name:      "RateLimit-Reset",
			replies:   []sourcetest.Reply{limited(map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "7"})},
			wantWaits: []time.Duration{7 * time.Second},
		},
		{
			name:      "Retry-After seconds",
			replies:   []sourcetest.Reply{limited(map[string]string{"Retry-After": "3"})},
			wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name:      "Retry-After date",
			replies:   []sourcetest.Reply{limited(map[string]string{"Retry-After": "Wed, 01 May 2024 12:00:30 GMT"})},
			wantWaits: []time.Duration{30 * time.Second},
		},
		{
			name:      "no header backs off",
			replies:   []sourcetest.Reply{limited(nil), limited(nil), {Status: http.StatusBadGateway}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
		},
		{
			name:       "gives up",
			replies:    []sourcetest.Reply{limited(map[string]string{"RateLimit-Reset": "1"}), limited(map[string]string{"RateLimit-Reset": "1"}), limited(map[string]string{"RateLimit-Reset": "1"})},
			maxRetries: 2,
			wantWaits:  []time.Duration{time.Second, time.Second},
			wantErr:    "gave up after 3 attempts: HTTP 429 Too Many Requests: You have exceeded your API rate limit",
		},
		{
			name:      "wait too long",
			replies:   []sourcetest.Reply{limited(map[string]string{"RateLimit-Reset": "3600"})},
			wantWaits: nil,
			wantErr:   "server asks to wait 1h0m0s, longer than the 2m0s limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.Queue(buildPath, tt.replies...)
			sl := &sourcetest.Sleeper{}
			cfg := f.config(sl)
			cfg.MaxRetries = tt.maxRetries
			s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", cfg)
			b, err := s.Build(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Build() error = %v, want containing %q", err, tt.wantErr)
				}
			} else if err != nil || len(b.Jobs) != 6 {
				t.Errorf("Build() = %d jobs, %v, want 6 jobs, nil", len(b.Jobs), err)
			}
			if diff := cmp.Diff(tt.wantWaits, sl.Waits()); diff != "" {
				t.Errorf("waits mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRateLimitOnLogThenSuccess(t *testing.T) {
	f := newFakeAPI(t)
	f.Queue(buildPath+"/jobs/"+jobTest+"/log.txt", sourcetest.Reply{Status: http.StatusTooManyRequests, Header: map[string]string{"RateLimit-Reset": "5"}})
	sl := &sourcetest.Sleeper{}
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", f.config(sl))
	if got, want := string(sourcetest.ReadLog(t, s, contracts.Job{ID: jobTest})), string(f.logs[jobTest]); got != want {
		t.Errorf("log after 429 = %q, want %q", got, want)
	}
	if diff := cmp.Diff([]time.Duration{5 * time.Second}, sl.Waits()); diff != "" {
		t.Errorf("waits mismatch (-want +got):\n%s", diff)
	}
}

func TestRateLimitWaitRespectsContext(t *testing.T) {
	f := newFakeAPI(t)
	f.Queue(buildPath, sourcetest.Reply{Status: http.StatusTooManyRequests, Header: map[string]string{"RateLimit-Reset": "60"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := f.config(nil)
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		cancel() // the user gives up while destill waits
		return apiclient.Sleep(ctx, d)
	}
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", cfg)
	if _, err := s.Build(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Build() error = %v, want context.Canceled", err)
	}
}

func TestHTTPErrors(t *testing.T) {
	logPath := buildPath + "/jobs/" + jobTest + "/log.txt"
	tests := []struct {
		name    string
		token   string
		path    string // where the reply is queued
		reply   sourcetest.Reply
		openLog bool
		want    []string
	}{
		{
			name:  "invalid token",
			token: "wrong",
			want:  []string{"buildkite: get build acme/web-app/42:", "token is missing or invalid", "HTTP 401"},
		},
		{
			name:  "build forbidden",
			path:  buildPath,
			reply: sourcetest.Reply{Status: http.StatusForbidden, Body: `{"message":"Your access token does not have the read_builds scope"}`},
			want:  []string{"may not read build 42 of pipeline acme/web-app", "read_builds scope", "HTTP 403 Forbidden: Your access token does not have the read_builds scope"},
		},
		{
			name:  "build not found",
			path:  buildPath,
			reply: sourcetest.Reply{Status: http.StatusNotFound, Body: `{"message":"No build found"}`},
			want:  []string{"build 42 of pipeline acme/web-app not found", "HTTP 404"},
		},
		{
			name:  "malformed json",
			path:  buildPath,
			reply: sourcetest.Reply{Status: http.StatusOK, Body: `{"jobs": [{"id": "x", `},
			want:  []string{"buildkite: get build acme/web-app/42: decode response:", "unexpected EOF"},
		},
		{
			name:  "wrong json shape",
			path:  buildPath,
			reply: sourcetest.Reply{Status: http.StatusOK, Body: `{"jobs": "none"}`},
			want:  []string{"decode response: json: cannot unmarshal string"},
		},
		{
			name:  "server error",
			path:  buildPath,
			reply: sourcetest.Reply{Status: http.StatusInternalServerError, Body: `oops`},
			want:  []string{"buildkite: get build acme/web-app/42: HTTP 500 Internal Server Error"},
		},
		{
			name:    "log forbidden",
			path:    logPath,
			reply:   sourcetest.Reply{Status: http.StatusForbidden, Body: `{"message":"Forbidden"}`},
			openLog: true,
			want:    []string{"buildkite: fetch log for job " + jobTest + ":", "read_build_logs scope", "HTTP 403"},
		},
		{
			name:    "log not found",
			path:    logPath,
			reply:   sourcetest.Reply{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`},
			openLog: true,
			want:    []string{"buildkite: fetch log for job " + jobTest + ":", "the log of job " + jobTest + " in build acme/web-app/42 not found", "HTTP 404"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			if tt.path != "" {
				f.Queue(tt.path, tt.reply)
			}
			cfg := f.config(&sourcetest.Sleeper{})
			if tt.token != "" {
				cfg.Token = tt.token
			}
			s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", cfg)
			var err error
			if tt.openLog {
				if _, err = s.Build(context.Background()); err != nil {
					t.Fatalf("Build() error = %v", err)
				}
				_, err = s.Open(context.Background(), contracts.Job{ID: jobTest})
			} else {
				_, err = s.Build(context.Background())
			}
			if err == nil {
				t.Fatalf("error = nil, want one containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q, want containing %q", err, w)
				}
			}
			var herr *HTTPError
			if tt.reply.Status != http.StatusOK && !errors.As(err, &herr) {
				t.Errorf("error = %v, want an *HTTPError inside", err)
			}
		})
	}
}

func TestNetworkErrorNamesHost(t *testing.T) {
	f := newFakeAPI(t)
	cfg := f.config(&sourcetest.Sleeper{})
	f.srv.Close()
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", cfg)
	_, err := s.Build(context.Background())
	host := strings.TrimPrefix(f.srv.URL, "http://")
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+host) {
		t.Errorf("Build() error = %v, want cannot reach %s", err, host)
	}
}

func TestTokenStaysOnTheAPIHost(t *testing.T) {
	var gotAuth []string
	var mu sync.Mutex
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		io.WriteString(w, "log from elsewhere\n")
	}))
	defer other.Close()
	f := newFakeAPI(t)
	f.build = strings.ReplaceAll(f.build, f.srv.URL+buildPath+"/jobs/"+jobBuild+"/log.txt", other.URL+"/logs/1")
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", f.config(&sourcetest.Sleeper{}))
	if got := string(sourcetest.ReadLog(t, s, contracts.Job{ID: jobBuild})); got != "log from elsewhere\n" {
		t.Errorf("log = %q, want the other host's log", got)
	}
	if diff := cmp.Diff([]string{""}, gotAuth); diff != "" {
		t.Errorf("Authorization sent to another host (-want +got):\n%s", diff)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	f := newFakeAPI(t)
	cfg := f.config(&sourcetest.Sleeper{})
	cfg.Concurrency = 1
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", cfg)
	first, err := s.Open(context.Background(), contracts.Job{ID: jobBuild})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Open(ctx, contracts.Job{ID: jobLint}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open() while the only slot is taken = %v, want context.Canceled", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	first.Close() // a second Close must not free a second slot
	if got := string(sourcetest.ReadLog(t, s, contracts.Job{ID: jobLint})); got != string(f.logs[jobLint]) {
		t.Errorf("Open() after Close = %q, want the log", got)
	}
	// The slot is free again: a held log plus a canceled Open shows the
	// double Close did not leave a spare slot.
	held, err := s.Open(context.Background(), contracts.Job{ID: jobBuild})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if _, err := s.Open(ctx, contracts.Job{ID: jobLint}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open() after double Close = %v, want context.Canceled", err)
	}
}

func TestConcurrentOpens(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, f, "https://buildkite.com/acme/web-app/builds/42", f.config(&sourcetest.Sleeper{}))
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.ReadConcurrently(t, s, b.Jobs, f.logs, 4)
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no token", Config{}, "buildkite: no API token: set BUILDKITE_API_TOKEN"},
		{"blank token", Config{Token: "  "}, "no API token"},
		{"bad base URL", Config{Token: "t", BaseURL: "ftp://example.com"}, `API base URL "ftp://example.com" is not an http(s) URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(BuildRef{Org: "a", Pipeline: "b", Number: 1}, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%+v) error = %v, want containing %q", tt.cfg, err, tt.want)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := []struct {
		state string
		soft  bool
		exit  *int
		want  contracts.Outcome
	}{
		{"passed", false, intp(0), contracts.OutcomePassed},
		{"passed", false, nil, contracts.OutcomeUnknown},
		{"failed", false, intp(1), contracts.OutcomeFailed},
		{"failed", true, intp(1), contracts.OutcomeSoftFailed},
		{"failed", false, nil, contracts.OutcomeUnknown},
		{"timed_out", false, nil, contracts.OutcomeTimedOut},
		{"canceled", false, nil, contracts.OutcomeCanceled},
		{"canceling", false, nil, contracts.OutcomeCanceled},
		{"broken", false, nil, contracts.OutcomeBroken},
		{"skipped", false, nil, contracts.OutcomeBroken},
		{"not_run", false, nil, contracts.OutcomeBroken},
		{"running", false, nil, contracts.OutcomeRunning},
		{"something_new", false, nil, contracts.OutcomeUnknown},
	}
	for _, tt := range tests {
		j := apiJob{State: tt.state, SoftFailed: tt.soft, ExitStatus: tt.exit}
		if got := outcome(j); got != tt.want {
			t.Errorf("outcome(state=%s soft=%v exit=%v) = %s, want %s", tt.state, tt.soft, tt.exit, got, tt.want)
		}
	}
}

// TestJobName checks the name a job is shown by: the first non-blank of
// name, label and command, its first line only, with no escape sequence or
// control character left (every output takes the name as it is here).
func TestJobName(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name string
		job  apiJob
		want string
	}{
		{"name", apiJob{Name: str(":go: test"), Label: str("label")}, ":go: test"},
		{"blank name falls back to label", apiJob{Name: str("  "), Label: str("lint")}, "lint"},
		{"command's first line", apiJob{Command: str("make deps\nmake test")}, "make deps …"},
		{"nothing", apiJob{ID: "01890f1e"}, "job 01890f1e"},
		{"parallel", apiJob{Name: str("shard"), ParallelGroupIndex: intp(1), ParallelGroupTotal: intp(4)}, "shard (2/4)"},
		{"title and screen sequences", apiJob{Name: str("evil\x1b]0;pwned\x07\x1b[2J step")}, "evil step"},
		{"clipboard sequence", apiJob{Name: str("clip\x1b]52;c;ZXZpbA==\x07board")}, "clipboard"},
		{"8-bit CSI", apiJob{Name: str("c1\u009b31m step")}, "c1 step"},
		{"bidi override", apiJob{Name: str("bidi \u202eesrever")}, "bidi esrever"},
		{"CRLF command", apiJob{Command: str("make\r\nmore")}, "make …"},
		{"only escapes falls back to label", apiJob{Name: str("\x1b[31m\x1b[0m"), Label: str("label")}, "label"},
		{"only escapes everywhere", apiJob{ID: "01890f1e", Name: str("\x1b]0;x\x07")}, "job 01890f1e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jobName(tt.job); got != tt.want {
				t.Errorf("jobName() = %q, want %q", got, tt.want)
			}
		})
	}
}
