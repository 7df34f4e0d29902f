//go:build live

package githubactions

import (
	"context"
	"io"
	"os"
	"testing"
	"time"
)

// TestLive reads a real workflow run. Run it by hand:
//
//	GITHUB_TOKEN=… DESTILL_LIVE_RUN_URL=https://github.com/<owner>/<repo>/actions/runs/<id> \
//	  go test -tags live -run TestLive ./internal/source/githubactions/
func TestLive(t *testing.T) {
	token, rawURL := os.Getenv("GITHUB_TOKEN"), os.Getenv("DESTILL_LIVE_RUN_URL")
	if token == "" || rawURL == "" {
		t.Skip("set GITHUB_TOKEN and DESTILL_LIVE_RUN_URL to a GitHub Actions run")
	}
	ref, err := ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ref, Config{Token: token, BaseURL: os.Getenv("GITHUB_API_URL")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := s.Build(ctx)
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	t.Logf("build %s (%s): %d jobs", b.ID, b.URL, len(b.Jobs))
	if len(b.Jobs) == 0 {
		t.Fatal("Build() found no jobs with logs")
	}
	for _, job := range b.Jobs {
		rc, err := s.Open(ctx, job)
		if err != nil {
			t.Fatalf("Open(%s) error = %v", job.ID, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read log of %s: %v", job.ID, err)
		}
		t.Logf("job %s %q %s: %d bytes", job.ID, job.Name, job.Outcome, n)
	}
}
