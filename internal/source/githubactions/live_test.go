//go:build live

package githubactions

import (
	"os"
	"testing"

	"github.com/destill-ci/destill/internal/source/sourcetest"
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
	sourcetest.Live(t, s)
}
