package local_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/pipeline/local"
	"github.com/destill-ci/destill/internal/source"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// memSource serves logs held in memory; a job whose log is nil fails to open.
type memSource struct {
	logs     map[string][]byte
	order    []string
	buildErr error
}

func (m *memSource) Build(context.Context) (source.Build, error) {
	if m.buildErr != nil {
		return source.Build{}, m.buildErr
	}
	b := source.Build{ID: "b1", Source: "test"}
	for _, id := range m.order {
		b.Jobs = append(b.Jobs, contracts.Job{ID: id, Name: "job " + id, Outcome: contracts.OutcomeFailed})
	}
	return b, nil
}

func (m *memSource) Open(_ context.Context, j contracts.Job) (io.ReadCloser, error) {
	l := m.logs[j.ID]
	if l == nil {
		return nil, errors.New("log gone")
	}
	return io.NopCloser(bytes.NewReader(l)), nil
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "logs", name))
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

func fixtures(t *testing.T) *memSource {
	t.Helper()
	src := &memSource{logs: map[string][]byte{}}
	for _, n := range []string{"cidiff-metamutator-1765.log.gz", "cidiff-java8workshop-2462.log.gz", "bugswarm-jest-2545414624.log.gz", "bugswarm-python-109787645.log"} {
		src.logs[n] = readFixture(t, n)
		src.order = append(src.order, n)
	}
	return src
}

// analyse runs one request to completion and returns its cards sorted by
// job and line, with the final status.
func analyse(t *testing.T, src source.Source, cfg local.Config) ([]contracts.TriageCard, pipeline.Status, error) {
	t.Helper()
	cfg.Open = func(context.Context, contracts.AnalysisRequest) (source.Source, error) { return src, nil }
	p := local.New(cfg)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id, err := p.Submit(ctx, contracts.AnalysisRequest{RequestID: "req-1"})
	if err != nil {
		t.Fatalf("Submit = %v", err)
	}
	var cards []contracts.TriageCard
	err = p.Stream(ctx, id, func(ev pipeline.Event) error {
		if ev.Card != nil {
			cards = append(cards, *ev.Card)
		}
		return nil
	})
	st, serr := p.Status(ctx, id)
	if serr != nil {
		t.Fatalf("Status = %v", serr)
	}
	sort.Slice(cards, func(i, j int) bool {
		if cards[i].Job.ID != cards[j].Job.ID {
			return cards[i].Job.ID < cards[j].Job.ID
		}
		return cards[i].LineNumber < cards[j].LineNumber
	})
	return cards, st, err
}

func TestSameCardsWhateverTheChunkSize(t *testing.T) {
	src := fixtures(t)
	whole, st, err := analyse(t, src, local.Config{Chunker: ingest.ChunkerConfig{MaxBytes: 64 << 20}})
	if err != nil {
		t.Fatalf("Stream = %v", err)
	}
	if len(whole) == 0 {
		t.Fatal("no cards from real failing logs")
	}
	for _, j := range st.Jobs {
		if j.ChunksTotal != 1 {
			t.Fatalf("job %s: %d chunks with a 64 MiB budget, want 1", j.ID, j.ChunksTotal)
		}
	}
	for _, size := range []int{20000, 30000} {
		tiny, st, err := analyse(t, src, local.Config{Workers: 3, Chunker: ingest.ChunkerConfig{MaxBytes: size}})
		if err != nil {
			t.Fatalf("Stream = %v", err)
		}
		chunks := 0
		for _, j := range st.Jobs {
			chunks += j.ChunksTotal
		}
		if chunks < 10 {
			t.Fatalf("%d-byte chunks: only %d chunks, want many boundaries", size, chunks)
		}
		ignore := cmpopts.IgnoreFields(contracts.TriageCard{}, "ChunkIndex", "LineInChunk")
		if diff := cmp.Diff(whole, tiny, ignore); diff != "" {
			t.Errorf("cards with %d-byte chunks differ from one chunk (-one +tiny):\n%s", size, diff)
		}
	}
}

func TestNoDuplicatesAndWholeContext(t *testing.T) {
	src := fixtures(t)
	cards, _, err := analyse(t, src, local.Config{Chunker: ingest.ChunkerConfig{MaxBytes: 20000}})
	if err != nil {
		t.Fatalf("Stream = %v", err)
	}
	lines := map[string]int{}
	for id, l := range src.logs {
		lines[id] = bytes.Count(l, []byte("\n"))
		if len(l) > 0 && l[len(l)-1] != '\n' {
			lines[id]++
		}
	}
	seen := map[string]bool{}
	for _, c := range cards {
		if seen[c.ID] {
			t.Errorf("card %s (job %s line %d) reported twice", c.ID, c.Job.ID, c.LineNumber)
		}
		seen[c.ID] = true
		if want := contracts.FindingID("req-1", c.Job.ID, c.LineNumber); c.ID != want {
			t.Errorf("card id = %s, want %s", c.ID, want)
		}
		if want := min(contracts.ContextBefore, c.LineNumber-1); len(c.PreContext) != want {
			t.Errorf("job %s line %d: %d lines before, want %d", c.Job.ID, c.LineNumber, len(c.PreContext), want)
		}
		if want := min(contracts.ContextAfter, lines[c.Job.ID]-c.LineNumber); len(c.PostContext) != want {
			t.Errorf("job %s line %d: %d lines after, want %d", c.Job.ID, c.LineNumber, len(c.PostContext), want)
		}
	}
}

func TestFailuresAreReportedAndTheRequestEnds(t *testing.T) {
	t.Run("a job log cannot be read", func(t *testing.T) {
		src := &memSource{logs: map[string][]byte{"ok": []byte("step\nerror: boom\n")}, order: []string{"ok", "gone"}}
		cards, st, err := analyse(t, src, local.Config{})
		if err != nil {
			t.Fatalf("Stream = %v, want nil (one job is still analysed)", err)
		}
		if st.State != pipeline.StateCompleted {
			t.Errorf("state = %s, want completed", st.State)
		}
		var failed []string
		for _, j := range st.Jobs {
			if j.State == pipeline.JobFailed {
				failed = append(failed, j.ID+": "+j.Error)
			}
		}
		if diff := cmp.Diff([]string{"gone: log gone"}, failed); diff != "" {
			t.Errorf("failed jobs (-want +got):\n%s", diff)
		}
		if len(cards) == 0 {
			t.Errorf("no card from the readable job")
		}
	})
	t.Run("the build cannot be read", func(t *testing.T) {
		_, st, err := analyse(t, &memSource{buildErr: errors.New("api says 404")}, local.Config{})
		if !errors.Is(err, pipeline.ErrRequestFailed) || !strings.Contains(err.Error(), "api says 404") {
			t.Errorf("Stream = %v, want ErrRequestFailed with the reason", err)
		}
		if st.State != pipeline.StateFailed {
			t.Errorf("state = %s, want failed", st.State)
		}
	})
	t.Run("no jobs", func(t *testing.T) {
		_, st, err := analyse(t, &memSource{}, local.Config{})
		if err != nil || st.State != pipeline.StateCompleted {
			t.Errorf("Stream = %v, state %s; want nil, completed", err, st.State)
		}
	})
	t.Run("empty log", func(t *testing.T) {
		cards, st, err := analyse(t, &memSource{logs: map[string][]byte{"e": {}}, order: []string{"e"}}, local.Config{})
		if err != nil || st.State != pipeline.StateCompleted || len(cards) != 0 {
			t.Errorf("Stream = %v, state %s, %d cards; want nil, completed, 0", err, st.State, len(cards))
		}
	})
}
