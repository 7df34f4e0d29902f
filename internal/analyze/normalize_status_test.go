package analyze

import "testing"

func TestNormalizeKeepsExitStatus(t *testing.T) {
	for _, pair := range [][2]string{
		{"make: *** [all] exit status 1", "make: *** [all] exit status 2"},
		{"Process completed with exit code 1.", "Process completed with exit code 137."},
		{`The command "make" exited with 1.`, `The command "make" exited with 2.`},
		{"subprocess returned non-zero exit status 1", "subprocess returned non-zero exit status 127"},
		{"request failed with status code 404", "request failed with status code 500"},
	} {
		a, b := Normalize(pair[0]), Normalize(pair[1])
		if a == b {
			t.Errorf("Normalize(%q) = Normalize(%q) = %q, want them apart", pair[0], pair[1], a)
		}
		if Normalize(a) != a {
			t.Errorf("Normalize not idempotent on %q", a)
		}
	}
	if a, b := Normalize("exit status 1 after 12.5s"), Normalize("exit status 1 after 3.1s"); a != b {
		t.Errorf("durations split an exit status: %q vs %q", a, b)
	}
}
