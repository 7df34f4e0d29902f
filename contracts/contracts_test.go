package contracts

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestFindingIDAgrees checks the stack-hashed finding ids against the
// UUID library's version 5 UUIDs of the same names.
func TestFindingIDAgrees(t *testing.T) {
	ns := uuid.UUID(findingNamespace)
	long := strings.Repeat("r", 300)
	for _, req := range []string{"", "req-1", "bench", "0b1f6c3e-7e0a-4d2b-9a7e-3f0c1d2e4b5a", long} {
		for _, job := range []string{"", "job", "job-1", "build/step: 7", "é", long} {
			for _, n := range []int{-12, -1, 0, 1, 9, 10, 99, 100, 12345, 1 << 40} {
				want := uuid.NewSHA1(ns, []byte(req+"\x00"+job+"\x00"+strconv.Itoa(n))).String()
				if got := FindingID(req, job, n); got != want {
					t.Errorf("FindingID(%q, %q, %d) = %s, want %s", req, job, n, got, want)
				}
			}
		}
	}
}

func TestCheckRequestID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{NewRequestID(), true},
		{"nightly-2026-12-04_run.3:a", true},
		{strings.Repeat("a", MaxRequestIDLen), true},
		{"", false},
		{strings.Repeat("a", MaxRequestIDLen+1), false},
		{"a b", false},
		{"a/b", false},
		{"\x1b]0;x\x07", false},
		{"é", false},
	}
	for _, tt := range tests {
		if err := CheckRequestID(tt.id); (err == nil) != tt.ok {
			t.Errorf("CheckRequestID(%q) = %v, want ok %v", tt.id, err, tt.ok)
		}
	}
}
