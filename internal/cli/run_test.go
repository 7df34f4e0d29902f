package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/destill-ci/destill/contracts"
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
