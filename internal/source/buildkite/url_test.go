package buildkite

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseURL(t *testing.T) {
	const job = "01890f1e-0000-4000-8000-000000000002"
	tests := []struct {
		url     string
		want    BuildRef
		wantErr string
	}{
		{url: "https://buildkite.com/acme/web-app/builds/42", want: BuildRef{Org: "acme", Pipeline: "web-app", Number: 42}},
		{url: "https://buildkite.com/acme/web-app/builds/42/", want: BuildRef{Org: "acme", Pipeline: "web-app", Number: 42}},
		{url: "  https://www.buildkite.com/acme/web-app/builds/42\n", want: BuildRef{Org: "acme", Pipeline: "web-app", Number: 42}},
		{url: "https://buildkite.com/acme/web-app/builds/42#" + job, want: BuildRef{Org: "acme", Pipeline: "web-app", Number: 42, JobID: job}},
		{url: "https://buildkite.com/acme/web-app/builds/42/steps/canvas?jid=" + job, want: BuildRef{Org: "acme", Pipeline: "web-app", Number: 42, JobID: job}},
		{url: "http://buildkite.com/my_org/p.1/builds/7", want: BuildRef{Org: "my_org", Pipeline: "p.1", Number: 7}},
		{url: "https://github.com/acme/web-app/builds/42", wantErr: "the host is github.com, not buildkite.com"},
		{url: "buildkite.com/acme/web-app/builds/42", wantErr: "not an http(s) URL"},
		{url: "https://buildkite.com/acme/web-app", wantErr: "the path is not /<org>/<pipeline>/builds/<number>"},
		{url: "https://buildkite.com/acme/web-app/builds/latest", wantErr: `build number "latest" is not a positive integer`},
		{url: "https://buildkite.com/acme/web-app/builds/0", wantErr: "not a positive integer"},
		{url: "https://buildkite.com/acme/web-app/builds/-3", wantErr: `build number "-3" is not a positive integer`},
		{url: "https://buildkite.com/acme/web-app/builds/99999999999999999999999", wantErr: `build number "99999999999999999999999" is too large (the largest is ` + strconv.Itoa(math.MaxInt) + ")"},
		{url: "https://buildkite.com/acme/web-app/builds/-99999999999999999999999", wantErr: `build number "-99999999999999999999999" is not a positive integer`},
		{url: "https://buildkite.com/acme/web-app/builds/42#annotations", wantErr: `"annotations" is not a job id`},
		{url: "https://buildkite.com/ac%20me/web-app/builds/42", wantErr: `organization "ac me" is not a slug`},
		{url: "https://buildkite.com/acme/web-app/pipelines/42", wantErr: "the path is not"},
		{url: "://", wantErr: "cannot parse it"},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseURL(%q) error = %v, want containing %q", tt.url, err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), urlForm) {
				t.Errorf("ParseURL(%q) error = %v, want it to show the expected form", tt.url, err)
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

func TestBuildRef(t *testing.T) {
	r := BuildRef{Org: "acme", Pipeline: "web-app", Number: 42}
	if got, want := r.String(), "acme/web-app/42"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := r.WebURL(), "https://buildkite.com/acme/web-app/builds/42"; got != want {
		t.Errorf("WebURL() = %q, want %q", got, want)
	}
}
