package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/internal/store/pgtest"
)

// TestRelativePathsSameCardsInBothModes: `destill run` with log files given
// relative to the working directory shows the same cards in local mode as
// the agents store for it (read back with destill view): the same build id,
// the same job names (the paths as typed) and the same card ids, although
// the ingest agent runs in another directory and reads the files by their
// absolute paths.
func TestRelativePathsSameCardsInBothModes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several processes")
	}
	work := t.TempDir()
	if err := os.Mkdir(filepath.Join(work, "big"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, fx := range map[string]string{
		"big/job1.log":    "bugswarm-python-109787645.log",
		"big/job2.log.gz": "bugswarm-jest-2545414624.log.gz",
	} {
		b, err := os.ReadFile(fixture(fx))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	logs := []string{"big/job1.log", "./big/job2.log.gz"}
	const id = "e2e-relative-1"

	env, _ := startPlane(t, pgtest.Start(t).CreateDatabase(t), nil)
	// The agents run in this package's directory, not in work.
	flags := []string{"--session-timeout", "2s"}
	start(t, "ingest", env, append([]string{"ingest"}, flags...)...)
	start(t, "analyze", env, append([]string{"analyze"}, flags...)...)
	start(t, "sink", env, "sink")

	if r := runIn(t, work, nil, env, append([]string{"run", "--request-id", id}, logs...)...); r.code != 0 || !strings.Contains(r.stdout, id) {
		t.Fatalf("destill run (agentic) in %s: exit %d, stdout %q, stderr %s", work, r.code, r.stdout, r.stderr)
	}
	if st := run(t, nil, env, "status", "--watch", "--interval", "100ms", id); st.code != 0 {
		t.Fatalf("status --watch: exit %d, stdout %q, stderr %s; want 0", st.code, st.stdout, st.stderr)
	}
	view := run(t, nil, env, "view", "--format", "json", id)
	if view.code != 0 {
		t.Fatalf("view: exit %d, stderr %s", view.code, view.stderr)
	}
	local := runIn(t, work, nil, nil, append([]string{"run", "--format", "json", "--request-id", id}, logs...)...)
	if local.code != 0 {
		t.Fatalf("run in %s: exit %d, stderr %s", work, local.code, local.stderr)
	}

	var stored, want []map[string]any
	if err := json.Unmarshal([]byte(view.stdout), &stored); err != nil {
		t.Fatalf("view --format json: %v\n%s", err, view.stdout)
	}
	if err := json.Unmarshal([]byte(local.stdout), &want); err != nil {
		t.Fatalf("run --format json: %v\n%s", err, local.stdout)
	}
	if len(want) == 0 {
		t.Fatal("local mode found no cards")
	}
	names := map[any]bool{}
	for _, c := range want {
		names[c["job_name"]] = true
		if !strings.HasPrefix(c["build_id"].(string), "files-") {
			t.Fatalf("local card build_id = %v, want files-…", c["build_id"])
		}
	}
	if len(names) != len(logs) || !names[logs[0]] || !names[logs[1]] {
		t.Errorf("local cards name jobs %v, want the paths as typed %q", names, logs)
	}
	for _, c := range stored {
		delete(c, "history") // only view knows a message's past
	}
	for _, cards := range [][]map[string]any{want, stored} {
		for _, c := range cards {
			delete(c, "line_in_chunk") // Postgres does not store it
		}
	}
	if diff := cmp.Diff(want, stored); diff != "" {
		t.Errorf("destill view differs from local mode for relative paths (-local +view):\n%s", diff)
	}
}
