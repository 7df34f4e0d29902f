package analyze

import (
	"strings"
	"testing"

	"github.com/destill-ci/destill/contracts"
)

// TestFindingIDAgrees checks the analyzer's finding ids against the
// contract's.
func TestFindingIDAgrees(t *testing.T) {
	long := strings.Repeat("r", 300)
	for _, req := range []string{"", "req-1", "bench", "0b1f6c3e-7e0a-4d2b-9a7e-3f0c1d2e4b5a", long} {
		for _, job := range []string{"", "job", "job-1", "build/step: 7", "é", long} {
			for _, n := range []int{-12, -1, 0, 1, 9, 10, 99, 100, 12345, 1 << 40} {
				if got, want := findingID(req, job, n), contracts.FindingID(req, job, n); got != want {
					t.Errorf("findingID(%q, %q, %d) = %s, want %s", req, job, n, got, want)
				}
			}
		}
	}
}
