package githubactions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	testToken = "ghp_test_token"
	runURL    = "https://github.com/octo/widgets/actions/runs/9001"
	jobsPath  = "/repos/octo/widgets/actions/runs/9001/jobs"
)

// now is the injected clock of every test.
var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fakeAPI serves recorded-shape job lists and answers log requests with a
// redirect to a second server, standing in for GitHub's log storage.
type fakeAPI struct {
	t     *testing.T
	api   *httptest.Server
	blobs *httptest.Server
	sourcetest.Replies

	mu        sync.Mutex
	pages     []string
	logs      map[string][]byte
	blobAuth  []string // Authorization headers the storage host saw
	requested []string // API request URIs, in order
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{t: t, logs: map[string][]byte{
		"21001": []byte("2024-05-01T10:00:06.0000000Z ##[group]Run go build ./...\n2024-05-01T10:00:07.0000000Z ok\n"),
		"21002": []byte("2024-05-01T10:00:06.0000000Z --- FAIL: TestWidget\n2024-05-01T10:00:07.0000000Z ##[error]Process completed with exit code 1.\n"),
		"21004": {0xef, 0xbb, 0xbf, 0x00, 0xff, '\n'},
		"21005": bytes.Repeat([]byte("2024-05-01T10:00:06.0000000Z waiting\n"), 40_000),
		"21006": []byte("running\n"),
		"21008": []byte("lost\n"),
	}}
	f.api = httptest.NewServer(http.HandlerFunc(f.serveAPI))
	t.Cleanup(f.api.Close)
	f.blobs = httptest.NewServer(http.HandlerFunc(f.serveBlob))
	t.Cleanup(f.blobs.Close)
	for _, name := range []string{"testdata/jobs_page1.json", "testdata/jobs_page2.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f.pages = append(f.pages, strings.ReplaceAll(string(b), "{{API}}", f.api.URL))
	}
	return f
}

func (f *fakeAPI) serveAPI(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requested = append(f.requested, r.URL.RequestURI())
	f.mu.Unlock()
	if f.Serve(w, r) {
		return
	}
	if auth := r.Header.Get("Authorization"); auth != "" && auth != "Bearer "+testToken {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
		return
	}
	if r.Header.Get("User-Agent") == "" {
		f.t.Errorf("request without User-Agent: %s", r.URL)
	}
	switch {
	case r.URL.Path == jobsPath || r.URL.Path == "/repos/octo/widgets/actions/runs/9001/attempts/2/jobs":
		if got := r.URL.Query().Get("per_page"); got != "100" {
			f.t.Errorf("per_page = %q, want 100", got)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if r.URL.Query().Get("page") == "2" {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?per_page=100&page=1>; rel="prev", <%s%s?per_page=100&page=1>; rel="first"`, f.api.URL, r.URL.Path, f.api.URL, r.URL.Path))
			io.WriteString(w, f.pages[1])
			return
		}
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?per_page=100&page=2>; rel="next", <%s%s?per_page=100&page=2>; rel="last"`, f.api.URL, r.URL.Path, f.api.URL, r.URL.Path))
		io.WriteString(w, f.pages[0])
		return
	case strings.HasPrefix(r.URL.Path, "/repos/octo/widgets/actions/jobs/"):
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/repos/octo/widgets/actions/jobs/"), "/logs")
		if _, ok := f.logs[id]; ok {
			if r.Header.Get("Authorization") == "" {
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"message":"Must have admin rights to Repository."}`)
				return
			}
			http.Redirect(w, r, f.blobs.URL+"/logs/"+id+"?sig=abc", http.StatusFound)
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
}

func (f *fakeAPI) serveBlob(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.blobAuth = append(f.blobAuth, r.Header.Get("Authorization"))
	log, ok := f.logs[strings.TrimPrefix(r.URL.Path, "/logs/")]
	f.mu.Unlock()
	if !ok || r.URL.Query().Get("sig") != "abc" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(log)
}

func (f *fakeAPI) config(s *sourcetest.Sleeper) Config {
	return Config{Token: testToken, BaseURL: f.api.URL, Options: apiclient.Options{Sleep: s.Sleep, Now: func() time.Time { return now }}}
}

func newSource(t *testing.T, url string, cfg Config) *Source {
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

func TestBuildAndLogs(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, runURL, f.config(&sourcetest.Sleeper{}))
	got, err := s.Build(context.Background())
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	job := func(id, name string, o contracts.Outcome) contracts.Job {
		return contracts.Job{ID: id, Name: name, URL: runURL + "/job/" + id, Outcome: o}
	}
	want := source.Build{
		ID:     "octo/widgets/9001",
		URL:    runURL,
		Source: "github",
		Jobs: []contracts.Job{
			job("21001", "build (ubuntu-latest)", contracts.OutcomePassed),
			job("21002", "test (ubuntu-latest, 1.26)", contracts.OutcomeFailed),
			job("21004", "lint", contracts.OutcomeCanceled),
			job("21005", "e2e", contracts.OutcomeTimedOut),
			job("21006", "bench", contracts.OutcomeRunning),
			job("21008", "job 21008", contracts.OutcomeUnknown),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Build() mismatch (-want +got):\n%s", diff)
	}
	for _, j := range got.Jobs {
		t.Run(j.Name, func(t *testing.T) {
			if got, want := sourcetest.ReadLog(t, s, j), f.logs[j.ID]; !bytes.Equal(got, want) {
				t.Errorf("log of %s = %d bytes, want %d bytes equal to the stored log", j.ID, len(got), len(want))
			}
		})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, auth := range f.blobAuth {
		if auth != "" {
			t.Errorf("log storage host got Authorization %q, want none", auth)
		}
	}
	if len(f.blobAuth) != len(got.Jobs) {
		t.Errorf("log storage requests = %d, want %d", len(f.blobAuth), len(got.Jobs))
	}
}

func TestSelection(t *testing.T) {
	tests := []struct {
		name     string
		url      string
		wantIDs  []string
		wantPath string
		wantErr  string
	}{
		{name: "job", url: runURL + "/job/21002", wantIDs: []string{"21002"}, wantPath: jobsPath},
		{name: "skipped job selected", url: runURL + "/job/21003", wantIDs: []string{"21003"}, wantPath: jobsPath},
		{name: "attempt", url: runURL + "/attempts/2", wantIDs: []string{"21001", "21002", "21004", "21005", "21006", "21008"}, wantPath: "/repos/octo/widgets/actions/runs/9001/attempts/2/jobs"},
		{name: "unknown job", url: runURL + "/job/1", wantErr: "job 1 not found in run 9001 of octo/widgets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			s := newSource(t, tt.url, f.config(&sourcetest.Sleeper{}))
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
				t.Errorf("job ids mismatch (-want +got):\n%s", diff)
			}
			if got := f.requested[0]; !strings.HasPrefix(got, tt.wantPath+"?") {
				t.Errorf("first request = %s, want %s?…", got, tt.wantPath)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	primary := func(reset time.Time) sourcetest.Reply {
		return sourcetest.Reply{Status: http.StatusForbidden, Header: map[string]string{
			"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(reset.Unix()),
		}, Body: `{"message":"API rate limit exceeded for 192.0.2.1."}`}
	}
	tests := []struct {
		name      string
		token     string
		replies   []sourcetest.Reply
		wantWaits []time.Duration
		wantErr   string
	}{
		{
			name:      "primary limit resets soon",
			replies:   []sourcetest.Reply{primary(now.Add(30 * time.Second))},
			wantWaits: []time.Duration{31 * time.Second},
		},
		{
			name:      "primary limit as 429",
			replies:   []sourcetest.Reply{{Status: http.StatusTooManyRequests, Header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": fmt.Sprint(now.Unix())}}},
			wantWaits: []time.Duration{time.Second},
		},
		{
			name:    "primary limit resets too late",
			token:   "none",
			replies: []sourcetest.Reply{primary(now.Add(time.Hour))},
			wantErr: "API rate limit exceeded until 2024-05-01T13:00:00Z; set GITHUB_TOKEN for a higher limit: HTTP 403 Forbidden: API rate limit exceeded",
		},
		{
			name:      "secondary limit",
			replies:   []sourcetest.Reply{{Status: http.StatusForbidden, Header: map[string]string{"Retry-After": "60"}, Body: `{"message":"You have exceeded a secondary rate limit."}`}},
			wantWaits: []time.Duration{time.Minute},
		},
		{
			name:      "429 and 503 back off",
			replies:   []sourcetest.Reply{{Status: http.StatusTooManyRequests}, {Status: http.StatusServiceUnavailable}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.Queue(jobsPath, tt.replies...)
			sl := &sourcetest.Sleeper{}
			cfg := f.config(sl)
			if tt.token == "none" {
				cfg.Token = ""
			}
			s := newSource(t, runURL, cfg)
			b, err := s.Build(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Build() error = %v, want containing %q", err, tt.wantErr)
				}
			} else if err != nil || len(b.Jobs) != 6 {
				t.Errorf("Build() = %d jobs, %v; want 6 jobs, nil", len(b.Jobs), err)
			}
			if diff := cmp.Diff(tt.wantWaits, sl.Waits()); diff != "" {
				t.Errorf("waits mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	logPath := "/repos/octo/widgets/actions/jobs/21002/logs"
	tests := []struct {
		name    string
		token   string // "" keeps the good token, "none" sends none
		path    string
		reply   sourcetest.Reply
		openLog bool
		want    []string
	}{
		{
			name:  "bad token",
			token: "ghp_wrong",
			want:  []string{"github: list jobs of run octo/widgets/9001:", "token is invalid or expired; check GITHUB_TOKEN", "HTTP 401 Unauthorized: Bad credentials"},
		},
		{
			name:  "forbidden",
			path:  jobsPath,
			reply: sourcetest.Reply{Status: http.StatusForbidden, Body: `{"message":"Resource not accessible by personal access token"}`},
			want:  []string{"may not read run 9001 of octo/widgets", "Actions read access", "HTTP 403"},
		},
		{
			name:  "run not found",
			path:  jobsPath,
			reply: sourcetest.Reply{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`},
			want:  []string{"run 9001 of octo/widgets not found (check the URL)", "HTTP 404 Not Found: Not Found"},
		},
		{
			name:  "run not found without token",
			token: "none",
			path:  jobsPath,
			reply: sourcetest.Reply{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`},
			want:  []string{"not found (check the URL; private repositories need GITHUB_TOKEN)"},
		},
		{
			name:  "malformed json",
			path:  jobsPath,
			reply: sourcetest.Reply{Status: http.StatusOK, Body: `{"jobs": [{"id": 1,`},
			want:  []string{"github: list jobs of run octo/widgets/9001: decode page 1:", "unexpected EOF"},
		},
		{
			name:    "log not found",
			path:    logPath,
			reply:   sourcetest.Reply{Status: http.StatusNotFound, Body: `{"message":"Not Found"}`},
			openLog: true,
			want:    []string{"github: fetch log for job 21002:", "the log of job 21002 in run 9001 of octo/widgets not found", "retention period", "HTTP 404"},
		},
		{
			name:    "log gone",
			path:    logPath,
			reply:   sourcetest.Reply{Status: http.StatusGone, Body: `{"message":"Gone"}`},
			openLog: true,
			want:    []string{"not found", "HTTP 410"},
		},
		{
			name:    "log without token",
			token:   "none",
			openLog: true,
			want:    []string{"github: fetch log for job 21002: GitHub refused the log of job 21002 in run 9001 of octo/widgets without a token; set GITHUB_TOKEN", "HTTP 403"},
		},
		{
			name:    "redirect without location",
			path:    logPath,
			reply:   sourcetest.Reply{Status: http.StatusFound},
			openLog: true,
			want:    []string{"github: fetch log for job 21002: redirect from 127.0.0.1", "without a usable location"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			cfg := f.config(&sourcetest.Sleeper{})
			switch tt.token {
			case "":
			case "none":
				cfg.Token = ""
			default:
				cfg.Token = tt.token
			}
			s := newSource(t, runURL, cfg)
			var err error
			if tt.openLog {
				if _, err := s.Build(context.Background()); err != nil {
					t.Fatalf("Build() error = %v", err)
				}
				if tt.path != "" {
					f.Queue(tt.path, tt.reply)
				}
				_, err = s.Open(context.Background(), contracts.Job{ID: "21002"})
			} else {
				if tt.path != "" {
					f.Queue(tt.path, tt.reply)
				}
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
		})
	}
}

func TestNetworkErrorNamesHost(t *testing.T) {
	f := newFakeAPI(t)
	cfg := f.config(&sourcetest.Sleeper{})
	f.api.Close()
	s := newSource(t, runURL, cfg)
	_, err := s.Build(context.Background())
	host := strings.TrimPrefix(f.api.URL, "http://")
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+host) {
		t.Errorf("Build() error = %v, want cannot reach %s", err, host)
	}
}

func TestOpenUnknownJob(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, runURL, f.config(&sourcetest.Sleeper{}))
	if _, err := s.Open(context.Background(), contracts.Job{ID: "21003"}); err == nil || !strings.Contains(err.Error(), "job 21003 has no log in run octo/widgets/9001") {
		t.Errorf("Open(skipped job) error = %v, want has no log", err)
	}
}

func TestConcurrencyLimit(t *testing.T) {
	f := newFakeAPI(t)
	cfg := f.config(&sourcetest.Sleeper{})
	cfg.Concurrency = 1
	s := newSource(t, runURL, cfg)
	first, err := s.Open(context.Background(), contracts.Job{ID: "21001"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Open(ctx, contracts.Job{ID: "21002"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open() while the only slot is taken = %v, want context.Canceled", err)
	}
	first.Close()
	if got := sourcetest.ReadLog(t, s, contracts.Job{ID: "21002"}); !bytes.Equal(got, f.logs["21002"]) {
		t.Errorf("Open() after Close = %q, want the log", got)
	}
}

func TestConcurrentOpens(t *testing.T) {
	f := newFakeAPI(t)
	s := newSource(t, runURL, f.config(&sourcetest.Sleeper{}))
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.ReadConcurrently(t, s, b.Jobs, f.logs, 3)
}

func TestOutcome(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		status     string
		conclusion *string
		want       contracts.Outcome
	}{
		{"completed", str("success"), contracts.OutcomePassed},
		{"completed", str("neutral"), contracts.OutcomePassed},
		{"completed", str("failure"), contracts.OutcomeFailed},
		{"completed", str("cancelled"), contracts.OutcomeCanceled},
		{"completed", str("timed_out"), contracts.OutcomeTimedOut},
		{"completed", str("startup_failure"), contracts.OutcomeBroken},
		{"completed", str("action_required"), contracts.OutcomeUnknown},
		{"completed", nil, contracts.OutcomeUnknown},
		{"in_progress", nil, contracts.OutcomeRunning},
		{"queued", nil, contracts.OutcomeRunning},
	}
	for _, tt := range tests {
		if got := outcome(apiJob{Status: tt.status, Conclusion: tt.conclusion}); got != tt.want {
			c := "null"
			if tt.conclusion != nil {
				c = *tt.conclusion
			}
			t.Errorf("outcome(%s, %s) = %s, want %s", tt.status, c, got, tt.want)
		}
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", ""},
		{`<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last"`, "https://api.github.com/x?page=2"},
		{`<https://api.github.com/x?page=1>; rel="prev"`, ""},
		{`<https://api.github.com/x?page=3>; rel="last", <https://api.github.com/x?page=2>;rel=next`, "https://api.github.com/x?page=2"},
	}
	for _, tt := range tests {
		if got := nextLink(tt.header); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}

// TestJobNamesAreSafeToPrint checks that a job name from the API reaches
// destill without the escape sequences and control characters it may
// carry: every output (JSON, text, the terminal UI, Postgres) takes the
// name as the source gives it.
func TestJobNamesAreSafeToPrint(t *testing.T) {
	tests := []struct {
		name string // as the API gives it
		want string
	}{
		{"test (ubuntu-latest)", "test (ubuntu-latest)"},
		{"evil\x1b]0;pwned\x07\x1b[2J build", "evil build"},
		{"clip\x1b]52;c;ZXZpbA==\x07board", "clipboard"},
		{"c1\u009b31m csi", "c1 csi"},
		{"bidi \u202eesrever", "bidi esrever"},
		{"two\nlines", "two lines"},
		{"\x1b[31m\x1b[0m", "job 7"},
		{"  padded\t", "padded"},
	}
	f := newFakeAPI(t)
	var jobs []apiJob
	for i, tt := range tests {
		jobs = append(jobs, apiJob{ID: int64(i + 1), RunID: 9001, Name: tt.name, Status: "completed", Conclusion: new("failure")})
	}
	page, err := json.Marshal(apiJobs{TotalCount: len(jobs), Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	f.pages = []string{string(page), `{"total_count":0,"jobs":[]}`}
	b, err := newSource(t, runURL, f.config(&sourcetest.Sleeper{})).Build(context.Background())
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	if len(b.Jobs) != len(tests) {
		t.Fatalf("Build() listed %d jobs, want %d", len(b.Jobs), len(tests))
	}
	for i, tt := range tests {
		if got := b.Jobs[i].Name; got != tt.want {
			t.Errorf("job named %q: Name = %q, want %q", tt.name, got, tt.want)
		}
	}
}
