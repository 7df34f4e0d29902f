package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
)

func TestAgenticSubmitChecksFirst(t *testing.T) {
	env := map[string]string{"REDPANDA_BROKERS": "127.0.0.1:1"} // nothing listens: submit would fail with exit 1
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"run", "/nonexistent/x.log"}, "no such file"},
		{"unsupported URL", []string{"run", "https://gitlab.com/x/y/-/jobs/1"}, "unsupported build URL"},
		{"malformed buildkite URL", []string{"run", "https://buildkite.com/acme/api/builds/x"}, "not a build URL"},
		{"stdin", []string{"run", "-"}, "stdin cannot be sent"},
		{"local-only format", []string{"run", "--format", "jsonl", "https://buildkite.com/acme/api/builds/1"}, "destill view --format jsonl"},
		{"local-only baseline", []string{"run", "--baseline", "b.log", "https://buildkite.com/acme/api/builds/1"}, "--baseline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(context.Background(), env, tc.args...)
			if r.code != exitUsage || !strings.Contains(r.err, tc.want) {
				t.Errorf("%v = exit %d, stderr %q; want %d mentioning %q", tc.args, r.code, r.err, exitUsage, tc.want)
			}
		})
	}
}

func TestAgenticSubmitMakesFilesAbsolute(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte("error: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	a := &app{getenv: func(string) string { return "" }}
	req := contracts.AnalysisRequest{Files: []string{"a.log"}}
	if err := a.checkAgentic(context.Background(), &req, runOptions{}); err != nil {
		t.Fatalf("checkAgentic = %v", err)
	}
	if want := filepath.Join(dir, "a.log"); req.Files[0] != want {
		t.Errorf("file = %q, want %q", req.Files[0], want)
	}
}

// TestFileRequestSameBuildInBothModes: the source an ingest agent opens for
// a submitted request describes the same build (id, job ids, job names) as
// the source local mode opens for the same command line, however the paths
// are written; a request without file_names (from an older destill run)
// still opens, its jobs named after the absolute paths.
func TestFileRequestSameBuildInBothModes(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"a.log", "sub/b.log"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("error: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	ctx := context.Background()
	a := &app{getenv: func(string) string { return "" }, stdio: Stdio{In: strings.NewReader("")}}
	build := func(t *testing.T, req contracts.AnalysisRequest) source.Build {
		t.Helper()
		src, err := a.openSource(ctx, req)
		if err != nil {
			t.Fatalf("openSource(%+v) = %v", req, err)
		}
		b, err := src.Build(ctx)
		if err != nil {
			t.Fatalf("Build() = %v", err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"relative", []string{"a.log"}},
		{"dot slash", []string{"./a.log"}},
		{"subdirectory", []string{"sub/b.log", "a.log"}},
		{"dot dot", []string{"sub/../a.log"}},
		{"absolute", []string{filepath.Join(dir, "a.log")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, err := requestFor(tc.args, "R")
			if err != nil {
				t.Fatal(err)
			}
			want := build(t, local)

			submitted, err := requestFor(tc.args, "R")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.checkAgentic(ctx, &submitted, runOptions{}); err != nil {
				t.Fatalf("checkAgentic = %v", err)
			}
			// The request travels as JSON to the agent.
			b, err := json.Marshal(submitted)
			if err != nil {
				t.Fatal(err)
			}
			var received contracts.AnalysisRequest
			if err := json.Unmarshal(b, &received); err != nil {
				t.Fatal(err)
			}
			for _, f := range received.Files {
				if !filepath.IsAbs(f) {
					t.Errorf("submitted file %q is not absolute", f)
				}
			}
			got := build(t, received)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the agent's build differs from local mode's (-local +agent):\n%s", diff)
			}
			for i, j := range got.Jobs {
				if j.Name != tc.args[i] {
					t.Errorf("job %d name = %q, want %q as typed", i, j.Name, tc.args[i])
				}
			}

			// An older request carries absolute files only.
			old := received
			old.FileNames = nil
			ob := build(t, old)
			if ob.ID != want.ID {
				t.Errorf("build id of a request without file_names = %s, want %s", ob.ID, want.ID)
			}
			for i, j := range ob.Jobs {
				if j.Name != received.Files[i] {
					t.Errorf("job %d of a request without file_names is named %q, want its file %q", i, j.Name, received.Files[i])
				}
			}
		})
	}
}
