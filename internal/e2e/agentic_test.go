package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/pipeline/agentic"
)

// output is a process's stdout or stderr, readable while it runs.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// await waits until re matches the output and returns the first submatch
// (or the whole match).
func (o *output) await(t *testing.T, what string, re *regexp.Regexp, d time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		o.mu.Lock()
		m := re.FindStringSubmatch(o.buf.String())
		ch := o.changed
		o.mu.Unlock()
		if m != nil {
			return m[len(m)-1]
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s; output so far:\n%s", d, what, o.String())
		}
	}
}

// proc is a destill process running in the background.
type proc struct {
	name     string
	cmd      *exec.Cmd
	out, err *output
	done     chan struct{}
}

func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(binary(t), args...), out: newOutput(), err: newOutput(), done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s stderr:\n%s", p.name, p.err.String())
		}
	})
	return p
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t *testing.T, d time.Duration) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s did not exit %v after SIGTERM", p.name, d)
		return -1
	}
}

// buildkiteFixture serves one Buildkite build whose jobs' logs are the
// given fixture files.
func buildkiteFixture(t *testing.T, logs map[string]string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /v2/organizations/acme/pipelines/api/builds/1", func(w http.ResponseWriter, r *http.Request) {
		var jobs []map[string]any
		for _, id := range slices.Sorted(maps.Keys(logs)) {
			jobs = append(jobs, map[string]any{
				"id": id, "name": "test " + id, "type": "script", "state": "failed", "exit_status": 1, "soft_failed": false,
				"web_url":     "https://buildkite.com/acme/api/builds/1#" + id,
				"raw_log_url": srv.URL + "/v2/organizations/acme/pipelines/api/builds/1/jobs/" + id + "/log",
			})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"id": "build-uuid-1", "number": 1, "state": "failed",
			"web_url": "https://buildkite.com/acme/api/builds/1", "jobs": jobs})
	})
	mux.HandleFunc("GET /v2/organizations/acme/pipelines/api/builds/1/jobs/{job}/log", func(w http.ResponseWriter, r *http.Request) {
		name, ok := logs[r.PathValue("job")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(readLog(t, name))
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func readLog(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

var (
	listeningRE = regexp.MustCompile(`listening on (\S+)`)
	metricsRE   = regexp.MustCompile(`"msg":"serving metrics".*?"addr":"([^"]+)"`)
)

// TestAgenticProcesses runs the data plane as separate processes: a
// development broker, the ingest agent and two analyze agents, with
// `destill run` submitting a Buildkite build served by a fixture API.
// The cards on destill.analysis.findings are those local mode finds.
func TestAgenticProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several processes")
	}
	api := buildkiteFixture(t, map[string]string{
		"job-python": "bugswarm-python-109787645.log",
		"job-jest":   "bugswarm-jest-2545414624.log.gz",
		"job-java":   "cidiff-java8workshop-2462.log.gz",
	})
	const url = "https://buildkite.com/acme/api/builds/1"
	const id = "e2e-agentic-1"
	srcEnv := []string{"BUILDKITE_API_URL=" + api.URL, "BUILDKITE_API_TOKEN=test-token"}

	brk := start(t, "dev broker", nil, "dev", "broker", "--addr", "127.0.0.1:0", "--data", t.TempDir())
	addr := brk.out.await(t, "the broker's address", listeningRE, 30*time.Second)
	env := append([]string{"REDPANDA_BROKERS=" + addr}, srcEnv...)

	if r := run(t, nil, env, "topics", "create"); r.code != 0 || strings.Count(r.stdout, "created") != 5 {
		t.Fatalf("topics create: exit %d, stdout %q, stderr %q; want 5 topics created", r.code, r.stdout, r.stderr)
	}
	agentFlags := []string{"--log-format", "json", "--session-timeout", "2s", "--metrics-addr", "127.0.0.1:0"}
	ing := start(t, "ingest", env, append([]string{"ingest"}, agentFlags...)...)
	an1 := start(t, "analyze 1", env, append([]string{"analyze", "--workers", "2"}, agentFlags...)...)
	an2 := start(t, "analyze 2", env, append([]string{"analyze", "--workers", "1"}, agentFlags...)...)

	r := run(t, nil, env, "run", "--request-id", id, url)
	if r.code != 0 {
		t.Fatalf("destill run (agentic): exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, id) {
		t.Fatalf("destill run with REDPANDA_BROKERS set: stdout = %q, want the request id %s (it must submit, not analyse locally)", r.stdout, id)
	}

	// Follow the findings as a user's tool would, until the request is complete.
	b, err := kafka.New(kafka.Config{Brokers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	pl := agentic.New(b, agentic.Config{})
	defer pl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	got := map[string]contracts.TriageCard{}
	if err := pl.Stream(ctx, id, func(ev pipeline.Event) error {
		if ev.Card != nil {
			got[ev.Card.ID] = *ev.Card
		}
		return nil
	}); err != nil {
		t.Fatalf("following request %s: %v", id, err)
	}
	st, err := pl.Status(ctx, id)
	if err != nil {
		t.Fatalf("Status() = %v", err)
	}
	if st.State != pipeline.StateCompleted || len(st.Jobs) != 3 {
		t.Errorf("status = %s with %d jobs, want completed with 3", st.State, len(st.Jobs))
	}

	// The same build analysed locally: every card it shows is among the
	// agents' cards, identical in every field, and the agents found no other
	// message.
	lr := run(t, nil, srcEnv, "run", "--local", "--format", "jsonl", "--limit", "0", "--request-id", id, url)
	if lr.code != 0 {
		t.Fatalf("destill run --local: exit %d, stderr %s", lr.code, lr.stderr)
	}
	local := parseCards(t, "jsonl", lr.stdout)
	if len(local) == 0 {
		t.Fatal("local run found no cards")
	}
	localHashes := map[string]bool{}
	for _, c := range local {
		localHashes[c["message_hash"].(string)] = true
		g, ok := got[c["id"].(string)]
		if !ok {
			t.Errorf("local card %s (line %v %q) not found by the agents", c["id"], c["line_number"], c["message"])
			continue
		}
		// What grouping adds to the card that stands for its message.
		for _, key := range []string{"recurrence", "jobs", "in_baseline"} {
			delete(c, key)
		}
		if diff := cmp.Diff(c, cardJSON(t, g)); diff != "" {
			t.Errorf("card %s differs (-local +agents):\n%s", c["id"], diff)
		}
	}
	for _, g := range got {
		if !localHashes[g.MessageHash] {
			t.Errorf("agents' card %s (job %s line %d) has a message local mode did not report", g.ID, g.Job.ID, g.LineNumber)
		}
	}

	// The agents serve health and metrics.
	for _, p := range []*proc{ing, an1} {
		maddr := p.err.await(t, p.name+"'s metrics address", metricsRE, 10*time.Second)
		if body := httpGet(t, "http://"+maddr+"/healthz"); strings.TrimSpace(body) != "ok" {
			t.Errorf("%s /healthz = %q, want ok", p.name, body)
		}
		if body := httpGet(t, "http://"+maddr+"/metrics"); !strings.Contains(body, "destill_agent_messages_in_total") ||
			!strings.Contains(body, "destill_agent_consumer_lag") {
			t.Errorf("%s /metrics lacks the agent metrics:\n%s", p.name, body)
		}
	}

	// SIGTERM: each agent finishes, leaves its group and exits 0.
	for _, p := range []*proc{ing, an1, an2} {
		if code := p.stop(t, 30*time.Second); code != 0 {
			t.Errorf("%s exit code after SIGTERM = %d, want 0; stderr:\n%s", p.name, code, p.err.String())
		}
		if !strings.Contains(p.err.String(), `"msg":"agent stopped"`) {
			t.Errorf("%s did not log that it stopped", p.name)
		}
	}
	if code := brk.stop(t, 30*time.Second); code != 0 {
		t.Errorf("dev broker exit code after SIGTERM = %d, want 0", code)
	}
}

// cardJSON is c as destill prints it, a JSON object with numbers as written.
func cardJSON(t *testing.T, c contracts.TriageCard) map[string]any {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b)
}

// TestAgentNeedsTopics: an agent started before the topics exist says
// how to create them.
func TestAgentNeedsTopics(t *testing.T) {
	brk := start(t, "dev broker", nil, "dev", "broker", "--addr", "127.0.0.1:0")
	addr := brk.out.await(t, "the broker's address", listeningRE, 30*time.Second)
	r := run(t, nil, []string{"REDPANDA_BROKERS=" + addr}, "analyze")
	if r.code == 0 || !strings.Contains(r.stderr, "destill topics create") {
		t.Errorf("analyze without topics: exit %d, stderr %q; want a failure naming destill topics create", r.code, r.stderr)
	}
	r = run(t, nil, nil, "ingest")
	if r.code != 2 || !strings.Contains(r.stderr, "REDPANDA_BROKERS") {
		t.Errorf("ingest without REDPANDA_BROKERS: exit %d, stderr %q; want exit 2 naming REDPANDA_BROKERS", r.code, r.stderr)
	}
}

// TestTopicsCreateWaitsForABrokerStarting: `destill dev broker … &` then at
// once `destill topics create`, as a script does, creates the topics.
func TestTopicsCreateWaitsForABrokerStarting(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := []string{"REDPANDA_BROKERS=" + addr}
	done := make(chan result, 1)
	go func() { done <- run(t, nil, env, "topics", "create", "--wait", "20s") }()
	time.Sleep(time.Second)
	start(t, "dev broker", nil, "dev", "broker", "--addr", addr)
	r := <-done
	if r.code != 0 || !strings.Contains(r.stdout, "created  destill.requests") {
		t.Errorf("topics create before the broker listened: exit %d, stdout %q, stderr %q; want the topics created", r.code, r.stdout, r.stderr)
	}
}
