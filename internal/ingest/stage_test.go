package ingest

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/source"
)

type recorder struct {
	mu   sync.Mutex
	msgs []broker.Message
}

func (r *recorder) Publish(_ context.Context, m broker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) progress(t *testing.T) []contracts.Progress {
	t.Helper()
	var out []contracts.Progress
	for _, m := range r.msgs {
		if m.Topic == contracts.TopicProgress {
			var p contracts.Progress
			if err := json.Unmarshal(m.Value, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, p)
		}
	}
	return out
}

// stallSource serves a log that sends one line and then stalls until closed.
type stallSource struct{}

func (stallSource) Build(context.Context) (source.Build, error) {
	return source.Build{ID: "b", Jobs: []contracts.Job{{ID: "j", Name: "stalls"}}}, nil
}

func (stallSource) Open(context.Context, contracts.Job) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go pw.Write([]byte("error: first line arrives\n"))
	return pr, nil
}

func TestStalledLogFailsTheJob(t *testing.T) {
	rec := &recorder{}
	st := &Stage{
		Open:        func(context.Context, contracts.AnalysisRequest) (source.Source, error) { return stallSource{}, nil },
		Pub:         rec,
		IdleTimeout: 50 * time.Millisecond,
	}
	done := make(chan error, 1)
	go func() { done <- st.Handle(context.Background(), contracts.AnalysisRequest{RequestID: "r"}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Handle = %v, want nil (the failure is reported as progress)", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Handle did not return: a stalled log hangs the stage")
	}
	var failed *contracts.Progress
	for _, p := range rec.progress(t) {
		if p.Kind == contracts.ProgressJobFailed {
			failed = &p
		}
	}
	if failed == nil || !strings.Contains(failed.Error, "stalled") || failed.Chunks != 1 {
		t.Errorf("job_failed = %+v, want a stall error with the 1 chunk read before it", failed)
	}
}
