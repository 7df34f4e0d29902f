//go:build live

package buildkite

import (
	"os"
	"testing"

	"github.com/destill-ci/destill/internal/source/sourcetest"
)

// TestLive reads a real build. Run it by hand:
//
//	BUILDKITE_API_TOKEN=… DESTILL_LIVE_BUILD_URL=https://buildkite.com/<org>/<pipeline>/builds/<n> \
//	  go test -tags live -run TestLive ./internal/source/buildkite/
func TestLive(t *testing.T) {
	token, rawURL := os.Getenv("BUILDKITE_API_TOKEN"), os.Getenv("DESTILL_LIVE_BUILD_URL")
	if token == "" || rawURL == "" {
		t.Skip("set BUILDKITE_API_TOKEN and DESTILL_LIVE_BUILD_URL to a Buildkite build")
	}
	ref, err := ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(ref, Config{Token: token, BaseURL: os.Getenv("BUILDKITE_API_URL")})
	if err != nil {
		t.Fatal(err)
	}
	sourcetest.Live(t, s)
}
