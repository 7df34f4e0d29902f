package postgres

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestContextRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		pre, post []string
	}{
		{"none", nil, nil},
		{"one empty line", []string{""}, nil},
		{"empty lines after", nil, []string{"", ""}},
		{"plain", []string{"a", "b"}, []string{"c"}},
		{"escapes", []string{`C:\dir\`, "two\nlines", `\n`, `\\n`, "\\"}, []string{"\n", "x\\\ny"}},
		{"cleaned", []string{"nul\x00byte", "bad \xff byte"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := string(appendContext(nil, tt.pre, tt.post))
			pre, post := splitContext(s, len(tt.pre))
			wantPre, wantPost := make([]string, len(tt.pre)), make([]string, len(tt.post))
			for i, l := range tt.pre {
				wantPre[i] = Clean(l)
			}
			for i, l := range tt.post {
				wantPost[i] = Clean(l)
			}
			if diff := cmp.Diff(wantPre, pre, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("pre of %q (-want +got):\n%s", s, diff)
			}
			if diff := cmp.Diff(wantPost, post, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("post of %q (-want +got):\n%s", s, diff)
			}
		})
	}
}

func TestSplitContextTolerates(t *testing.T) {
	pre, post := splitContext("a\nb", 5) // no final newline, count too large
	if diff := cmp.Diff([]string{"a", "b"}, pre); diff != "" || len(post) != 0 {
		t.Errorf("splitContext = %q, %q; want [a b], []", pre, post)
	}
	pre, post = splitContext("a\\x\n", -1)
	if len(pre) != 0 || len(post) != 1 || post[0] != `a\x` {
		t.Errorf("splitContext = %q, %q; want [], [a\\x]", pre, post)
	}
}
