package githubactions

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		want    RunRef
		wantErr string
	}{
		{url: "https://github.com/octo/widgets/actions/runs/9001", want: RunRef{Owner: "octo", Repo: "widgets", RunID: 9001}},
		{url: "https://github.com/octo/widgets/actions/runs/9001/", want: RunRef{Owner: "octo", Repo: "widgets", RunID: 9001}},
		{url: "https://github.com/octo/widgets/actions/runs/9001?pr=12#summary", want: RunRef{Owner: "octo", Repo: "widgets", RunID: 9001}},
		{url: " https://www.github.com/octo/my.repo_1/actions/runs/9001/attempts/3\n", want: RunRef{Owner: "octo", Repo: "my.repo_1", RunID: 9001, Attempt: 3}},
		{url: "https://github.com/octo/widgets/actions/runs/9001/job/21002", want: RunRef{Owner: "octo", Repo: "widgets", RunID: 9001, JobID: 21002}},
		{url: "https://gitlab.com/octo/widgets/actions/runs/9001", wantErr: "the host is gitlab.com, not github.com"},
		{url: "github.com/octo/widgets/actions/runs/9001", wantErr: "not an http(s) URL"},
		{url: "https://github.com/octo/widgets/pull/12", wantErr: "the path is not /<owner>/<repo>/actions/runs/<run-id>"},
		{url: "https://github.com/octo/widgets/actions/runs/abc", wantErr: `run id "abc" is not a positive integer`},
		{url: "https://github.com/octo/widgets/actions/runs/9001/attempts/0", wantErr: `attempt "0" is not a positive integer`},
		{url: "https://github.com/octo/widgets/actions/runs/9001/job/x", wantErr: `job id "x" is not a positive integer`},
		{url: "https://github.com/octo/widgets/actions/runs/99999999999999999999999", wantErr: `run id "99999999999999999999999" is too large (the largest is 9223372036854775807)`},
		{url: "https://github.com/octo/widgets/actions/runs/-99999999999999999999999", wantErr: `run id "-99999999999999999999999" is not a positive integer`},
		{url: "https://github.com/octo/widgets/actions/runs/9001/attempts/2000000", wantErr: `attempt "2000000" is too large (the largest is 1048576)`},
		{url: "https://github.com/octo/widgets/actions/runs/9001/job/99999999999999999999999", wantErr: `job id "99999999999999999999999" is too large`},
		{url: "https://github.com/octo/widgets/actions/runs/9001/usage", wantErr: "unexpected /usage after the run id"},
		{url: "https://github.com/oc%20to/widgets/actions/runs/9001", wantErr: `owner "oc to" is not a GitHub name`},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), urlForm) {
				t.Errorf("ParseURL(%q) error = %v, want containing %q and the expected form", tt.url, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseURL(%q) error = %v", tt.url, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseURL(%q) mismatch (-want +got):\n%s", tt.url, diff)
		}
	}
}

func TestRunRef(t *testing.T) {
	tests := []struct {
		ref        RunRef
		id, webURL string
	}{
		{RunRef{Owner: "o", Repo: "r", RunID: 5}, "o/r/5", "https://github.com/o/r/actions/runs/5"},
		{RunRef{Owner: "o", Repo: "r", RunID: 5, Attempt: 2}, "o/r/5/attempts/2", "https://github.com/o/r/actions/runs/5/attempts/2"},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.id {
			t.Errorf("%+v.String() = %q, want %q", tt.ref, got, tt.id)
		}
		if got := tt.ref.WebURL(); got != tt.webURL {
			t.Errorf("%+v.WebURL() = %q, want %q", tt.ref, got, tt.webURL)
		}
	}
}
