package cli

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/buildkite"
	"github.com/destill-ci/destill/internal/source/file"
	"github.com/destill-ci/destill/internal/source/githubactions"
	"github.com/google/go-cmp/cmp"
)

func testApp(env map[string]string) *app {
	return &app{
		stdio:  Stdio{In: strings.NewReader("from stdin\n"), Out: io.Discard, Err: io.Discard},
		getenv: func(k string) string { return env[k] },
	}
}

func TestOpenSourceChoosesSource(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "build.log")
	if err := os.WriteFile(logFile, []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withToken := map[string]string{envBuildkiteToken: "bk"}
	tests := []struct {
		name      string
		env       map[string]string
		req       contracts.AnalysisRequest
		wantKind  string // "buildkite", "github", "file"
		wantErr   string
		wantUsage bool
	}{
		{name: "buildkite", env: withToken, req: contracts.AnalysisRequest{BuildURL: "https://buildkite.com/acme/app/builds/3"}, wantKind: "buildkite"},
		{name: "buildkite job", env: withToken, req: contracts.AnalysisRequest{BuildURL: " https://buildkite.com/acme/app/builds/3#01890f1e-0000-4000-8000-000000000001 "}, wantKind: "buildkite"},
		{name: "buildkite without token", req: contracts.AnalysisRequest{BuildURL: "https://buildkite.com/acme/app/builds/3"}, wantErr: "set BUILDKITE_API_TOKEN"},
		{name: "buildkite bad URL", env: withToken, req: contracts.AnalysisRequest{BuildURL: "https://buildkite.com/acme/app"}, wantErr: "is not a build URL", wantUsage: true},
		{name: "github without token", req: contracts.AnalysisRequest{BuildURL: "https://github.com/o/r/actions/runs/5"}, wantKind: "github"},
		{name: "github job", req: contracts.AnalysisRequest{BuildURL: "https://github.com/o/r/actions/runs/5/job/7"}, wantKind: "github"},
		{name: "github bad URL", req: contracts.AnalysisRequest{BuildURL: "https://github.com/o/r/pull/5"}, wantErr: "is not a workflow run URL", wantUsage: true},
		{name: "other host", req: contracts.AnalysisRequest{BuildURL: "https://gitlab.com/o/r/-/pipelines/5"}, wantErr: "unsupported build URL \"https://gitlab.com/o/r/-/pipelines/5\"\ndestill reads:\n  https://buildkite.com/", wantUsage: true},
		{name: "files", req: contracts.AnalysisRequest{Files: []string{logFile, "-"}}, wantKind: "file"},
		{name: "stdin twice", req: contracts.AnalysisRequest{Files: []string{"-", "-"}}, wantErr: "more than once", wantUsage: true},
		{name: "both", req: contracts.AnalysisRequest{BuildURL: "https://github.com/o/r/actions/runs/5", Files: []string{logFile}}, wantErr: "not both", wantUsage: true},
		{name: "nothing", wantErr: "nothing to analyse", wantUsage: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := testApp(tt.env).openSource(context.Background(), tt.req)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("openSource(%+v) error = %v, want containing %q", tt.req, err, tt.wantErr)
				}
				var ue usageError
				if got := errors.As(err, &ue); got != tt.wantUsage {
					t.Errorf("openSource(%+v) error is usageError = %v, want %v", tt.req, got, tt.wantUsage)
				}
				return
			}
			if err != nil {
				t.Fatalf("openSource(%+v) error = %v", tt.req, err)
			}
			var kind string
			switch src.(type) {
			case *buildkite.Source:
				kind = "buildkite"
			case *githubactions.Source:
				kind = "github"
			case *file.Source:
				kind = "file"
			}
			if kind != tt.wantKind {
				t.Errorf("openSource(%+v) = %T, want a %s source", tt.req, src, tt.wantKind)
			}
		})
	}
}

// TestOpenSourceUsesAPIURLs checks that the environment points the sources
// at another API host, as the end-to-end tests of the binary do.
func TestOpenSourceUsesAPIURLs(t *testing.T) {
	bk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/organizations/acme/pipelines/app/builds/3" || r.Header.Get("Authorization") != "Bearer bk-token" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		io.WriteString(w, `{"number":3,"web_url":"https://buildkite.com/acme/app/builds/3","jobs":[
			{"id":"01890f1e-0000-4000-8000-000000000001","type":"script","name":"test","state":"failed","exit_status":1,"started_at":"2024-05-01T10:00:00Z",
			 "raw_log_url":"https://api.buildkite.com/v2/organizations/acme/pipelines/app/builds/3/jobs/01890f1e-0000-4000-8000-000000000001/log.txt"}]}`)
	}))
	defer bk.Close()
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/o/r/actions/runs/5/jobs" || r.Header.Get("Authorization") != "Bearer gh-token" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		io.WriteString(w, `{"total_count":1,"jobs":[{"id":7,"name":"build","status":"completed","conclusion":"failure","html_url":"https://github.com/o/r/actions/runs/5/job/7"}]}`)
	}))
	defer gh.Close()
	a := testApp(map[string]string{
		envBuildkiteToken: "bk-token", envBuildkiteAPI: bk.URL,
		envGitHubToken: "gh-token", envGitHubAPI: gh.URL,
	})

	one := 1
	tests := []struct {
		url  string
		want source.Build
	}{
		{"https://buildkite.com/acme/app/builds/3", source.Build{
			ID: "acme/app/3", URL: "https://buildkite.com/acme/app/builds/3", Source: "buildkite",
			Jobs: []contracts.Job{{ID: "01890f1e-0000-4000-8000-000000000001", Name: "test", URL: "https://buildkite.com/acme/app/builds/3#01890f1e-0000-4000-8000-000000000001", Outcome: contracts.OutcomeFailed, ExitStatus: &one}},
		}},
		{"https://github.com/o/r/actions/runs/5", source.Build{
			ID: "o/r/5", URL: "https://github.com/o/r/actions/runs/5", Source: "github",
			Jobs: []contracts.Job{{ID: "7", Name: "build", URL: "https://github.com/o/r/actions/runs/5/job/7", Outcome: contracts.OutcomeFailed}},
		}},
	}
	for _, tt := range tests {
		src, err := a.openSource(context.Background(), contracts.AnalysisRequest{BuildURL: tt.url})
		if err != nil {
			t.Fatalf("openSource(%s) error = %v", tt.url, err)
		}
		got, err := src.Build(context.Background())
		if err != nil {
			t.Fatalf("Build() of %s error = %v", tt.url, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Build() of %s mismatch (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestIsBuildURL(t *testing.T) {
	tests := []struct {
		arg  string
		want bool
	}{
		{"https://buildkite.com/acme/app/builds/3", true},
		{"https://github.com/o/r/actions/runs/5", true},
		{"HTTP://example.com/x", true},
		{"https://gitlab.com/o/r/-/pipelines/5", true},
		{"build.log", false},
		{"-", false},
		{"./logs/https.log", false},
		{"/tmp/http:x", false},
		{"http:relative", false},
		{"ftp://example.com/x", true}, // reported as an unsupported URL, not a missing file
		{"http://[::1", true},
		{"a b://x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isBuildURL(tt.arg); got != tt.want {
			t.Errorf("isBuildURL(%q) = %v, want %v", tt.arg, got, tt.want)
		}
	}
}

func TestAgentHintNamesTheIngestHost(t *testing.T) {
	base := errors.New("buildkite: no API token: set BUILDKITE_API_TOKEN")
	got := agentHint(base)
	if !errors.Is(got, base) || !strings.Contains(got.Error(), "in the environment of destill ingest") {
		t.Errorf("agentHint(%v) = %v, want the error wrapped with where to set the token", base, got)
	}
	other := errors.New("file: open x: no such file")
	if agentHint(other) != other || agentHint(nil) != nil {
		t.Error("agentHint changed an error that names no token")
	}
}

// TestStdinThatIsATerminalIsRefused checks that "-" with nothing piped in
// fails at once, as a usage error, rather than waiting for a log to be
// typed (and sharing the keyboard with the terminal UI).
func TestStdinThatIsATerminalIsRefused(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "build.log")
	if err := os.WriteFile(logFile, []byte("ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		files         []string
		stdinTerminal bool
		wantErr       string
	}{
		{"stdin on a terminal", []string{"-"}, true, "standard input is a terminal"},
		{"stdin on a terminal beside a file", []string{logFile, "-"}, true, "standard input is a terminal"},
		{"a file with stdin on a terminal", []string{logFile}, true, ""},
		{"stdin piped", []string{"-"}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(nil)
			a.terminal = func(stream any) bool { return tt.stdinTerminal && stream == a.stdio.In }
			_, err := a.openSource(context.Background(), contracts.AnalysisRequest{Files: tt.files})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("openSource(%q) error = %v", tt.files, err)
				}
				return
			}
			var ue usageError
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ue) {
				t.Fatalf("openSource(%q) error = %v, want a usage error containing %q", tt.files, err, tt.wantErr)
			}
		})
	}
}
