// Package sourcetest holds what the tests of source.Source implementations
// share: canned HTTP replies for fake APIs, a sleeper that records waits
// instead of waiting, and checks that read logs through a Source.
package sourcetest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
)

// Reply is a canned response that replaces a fake API's default answer.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
}

// Replies queues canned responses by URL path. The zero value is ready to
// use and safe for concurrent use.
type Replies struct {
	mu sync.Mutex
	m  map[string][]Reply
}

// Queue makes the next requests for path answer with rs, in order.
func (q *Replies) Queue(path string, rs ...Reply) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.m == nil {
		q.m = make(map[string][]Reply)
	}
	q.m[path] = append(q.m[path], rs...)
}

// Serve answers r with the next reply queued for its path, if there is one,
// and reports whether it did.
func (q *Replies) Serve(w http.ResponseWriter, r *http.Request) bool {
	q.mu.Lock()
	var next *Reply
	if rs := q.m[r.URL.Path]; len(rs) > 0 {
		next, q.m[r.URL.Path] = &rs[0], rs[1:]
	}
	q.mu.Unlock()
	if next == nil {
		return false
	}
	for k, v := range next.Header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(next.Status)
	io.WriteString(w, next.Body)
	return true
}

// Sleeper records the waits asked for instead of waiting.
type Sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

// Sleep records d and returns at once, with ctx's error if it is done.
func (s *Sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

// Waits returns the waits asked for so far, in order.
func (s *Sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waits
}

// ReadLog opens job's log, reads it whole and closes it, failing the test
// on any error.
func ReadLog(t *testing.T, s source.Source, job contracts.Job) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), job)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", job.ID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read log of %s: %v", job.ID, err)
	}
	return b
}

// ReadConcurrently reads every job's log rounds times, all at once, and
// checks each read against logs (job id → log).
func ReadConcurrently(t *testing.T, s source.Source, jobs []contracts.Job, logs map[string][]byte, rounds int) {
	t.Helper()
	var wg sync.WaitGroup
	for range rounds {
		for _, job := range jobs {
			wg.Go(func() {
				rc, err := s.Open(context.Background(), job)
				if err != nil {
					t.Error(err)
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil || !bytes.Equal(got, logs[job.ID]) {
					t.Errorf("concurrent read of %s = %d bytes, %v; want %d bytes", job.ID, len(got), err, len(logs[job.ID]))
				}
			})
		}
	}
	wg.Wait()
}

// Live lists a real build's jobs through s and reads each log, logging
// what it found. It is for tests run by hand against a real service.
func Live(t *testing.T, s source.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := s.Build(ctx)
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	t.Logf("build %s (%s): %d jobs", b.ID, b.URL, len(b.Jobs))
	if len(b.Jobs) == 0 {
		t.Fatal("Build() found no jobs with logs")
	}
	for _, job := range b.Jobs {
		rc, err := s.Open(ctx, job)
		if err != nil {
			t.Fatalf("Open(%s) error = %v", job.ID, err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read log of %s: %v", job.ID, err)
		}
		t.Logf("job %s %q %s: %d bytes", job.ID, job.Name, job.Outcome, n)
	}
}
