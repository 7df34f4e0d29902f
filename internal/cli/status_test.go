package cli

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// syncBuffer is a buffer a command writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// background runs destill in a goroutine; its result arrives on the channel.
func background(ctx context.Context, env map[string]string, args ...string) (*syncBuffer, <-chan cliResult) {
	errb := &syncBuffer{}
	done := make(chan cliResult, 1)
	go func() {
		var out bytes.Buffer
		code := Main(ctx, args, Stdio{In: strings.NewReader(""), Out: &out, Err: errb}, func(k string) string { return env[k] })
		done <- cliResult{code, out.String(), errb.String()}
	}()
	return errb, done
}

// awaitStderr waits until a command started by background has written
// want to stderr, failing if it ends first.
func awaitStderr(t *testing.T, errb *syncBuffer, done <-chan cliResult, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(errb.String(), want) {
		select {
		case r := <-done:
			t.Fatalf("destill ended before writing %q: exit %d, stdout %q, stderr %q", want, r.code, r.out, r.err)
		case <-deadline:
			t.Fatalf("timed out waiting for %q on stderr; stderr so far:\n%s", want, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// completeRequest finishes the job seedRequest left running, retrying while
// a restarted server does not answer yet.
func completeRequest(t *testing.T, dsn, id string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	waitUntil(t, "the request to be completed", func() bool {
		st, err := postgres.Open(ctx, dsn, postgres.Config{})
		if err != nil {
			return false
		}
		defer st.Close()
		return st.ApplyProgress(ctx, []contracts.Progress{
			{RequestID: id, Kind: contracts.ProgressJobDone, JobID: "j1", Chunks: 1, Time: now},
			{RequestID: id, Kind: contracts.ProgressChunkAnalyzed, JobID: "j1", Time: now},
		}) == nil
	})
}

// TestStatusWatchWaitsForPostgres stops the Postgres a `destill status
// --watch` reads and starts it again: the watch says once that it waits for
// Postgres and reports the request completed afterwards. An outage longer
// than --postgres-wait, and any error without --watch, end with
// exitNoStatus, not with the failed request's code.
func TestStatusWatchWaitsForPostgres(t *testing.T) {
	srv := pgtest.Start(t) // private: this test stops it
	dsn := srv.CreateDatabase(t)
	env := map[string]string{envDatabaseURL: dsn}
	ctx := context.Background()
	if r := runCLI(ctx, env, "migrate"); r.code != 0 {
		t.Fatalf("migrate = %d %q", r.code, r.err)
	}
	st, err := postgres.Open(ctx, dsn, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"r-restart", "r-outage"} {
		seedRequest(t, st, id, "https://ci/b/"+id, "")
	}
	st.Close()
	const waitLine = "destill: waiting for Postgres at "

	t.Run("restart during --watch", func(t *testing.T) {
		errb, done := background(ctx, env, "status", "--watch", "--interval", "50ms", "r-restart")
		awaitStderr(t, errb, done, "processing: jobs 0/1")
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		defer srv.Restart() // a no-op once restarted below
		awaitStderr(t, errb, done, waitLine)
		time.Sleep(3 * time.Second) // several retries while the server is down
		select {
		case r := <-done:
			t.Fatalf("status --watch ended while Postgres was down: exit %d, stderr %q", r.code, r.err)
		default:
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		completeRequest(t, dsn, "r-restart")
		select {
		case r := <-done:
			if r.code != 0 || !strings.Contains(r.out, "state     completed") {
				t.Errorf("status --watch across a restart = exit %d, stdout %q, stderr %q; want 0 and completed", r.code, r.out, r.err)
			}
			if n := strings.Count(r.err, waitLine); n != 1 {
				t.Errorf("stderr says %d times that it waits for Postgres, want once:\n%s", n, r.err)
			}
			if strings.Contains(r.err, "destill: postgres:") || hasTerminalControls(r.err) {
				t.Errorf("stderr reports the outage as an error or holds terminal controls:\n%q", r.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("status --watch did not end after the request completed; stderr:\n%s", errb.String())
		}
	})

	t.Run("outage longer than --postgres-wait", func(t *testing.T) {
		errb, done := background(ctx, env, "status", "--watch", "--interval", "50ms", "--postgres-wait", "2s", "r-outage")
		awaitStderr(t, errb, done, "processing: jobs 0/1")
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}()
		select {
		case r := <-done:
			if r.code != exitNoStatus || strings.Count(r.err, waitLine) != 1 || !strings.Contains(r.err, "gave up waiting for Postgres at ") {
				t.Errorf("status --watch with Postgres down for good = exit %d, stderr %q; want %d, one waiting line, then gave up", r.code, r.err, exitNoStatus)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("status --watch --postgres-wait 2s did not give up; stderr:\n%s", errb.String())
		}

		start := time.Now()
		r := runCLI(ctx, env, "status", "r-outage")
		if r.code != exitNoStatus || !strings.Contains(r.err, "cannot reach Postgres") || strings.Contains(r.err, waitLine) || time.Since(start) > 15*time.Second {
			t.Errorf("status without --watch, Postgres down = exit %d after %s, stderr %q; want %d at once", r.code, time.Since(start), r.err, exitNoStatus)
		}
	})

	t.Run("an error that waiting cannot fix ends the watch", func(t *testing.T) {
		tests := []struct {
			name, dsn, want string
		}{
			{"unknown database", strings.Replace(dsn, "dbname=", "dbname=nosuch_", 1), "does not exist"},
			{"unknown role", strings.Replace(dsn, "user=", "user=nosuch_", 1), "does not exist"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runCLI(ctx, map[string]string{envDatabaseURL: tt.dsn}, "status", "--watch", "r-outage")
				if r.code != exitNoStatus || !strings.Contains(r.err, tt.want) || strings.Contains(r.err, waitLine) {
					t.Errorf("status --watch = exit %d, stderr %q; want %d with %q, without waiting", r.code, r.err, exitNoStatus, tt.want)
				}
			})
		}
	})
}
