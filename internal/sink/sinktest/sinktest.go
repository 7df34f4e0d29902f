// Package sinktest produces real event streams for the sink tests and
// compares what the sinks wrote. Events come from the real ingest and
// analyze stages run over the in-memory broker on real log files.
package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/memory"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/file"
)

// Request is one analysis of log files.
type Request struct {
	ID       string
	BuildURL string // stands for a build, so history spans requests
	Files    []string
}

// Events runs ingest and analyze on the requests and returns every message
// they published to destill.requests, destill.analysis.findings and
// destill.progress, in the order one consumer saw them.
func Events(tb testing.TB, reqs ...Request) []broker.Message {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := memory.New(memory.Config{})
	defer b.Close()
	files := map[string][]string{}
	for _, r := range reqs {
		files[r.ID] = r.Files
	}
	open := func(_ context.Context, req contracts.AnalysisRequest) (source.Source, error) {
		return file.New(files[req.RequestID], nil)
	}
	stage := &ingest.Stage{Open: open, Pub: b, Chunker: ingest.ChunkerConfig{MaxBytes: 64 << 10}}
	eng := analyze.New(analyze.Config{})
	log := discard()

	var (
		mu   sync.Mutex
		out  []broker.Message
		done = map[string]bool{}
		cond = make(chan struct{}, 1)
	)
	// A request's events are all recorded when its tracker says it is
	// complete: every job done, every chunk analyzed and every card those
	// chunks announced received (cards and progress travel on different
	// topics, so the last card can come after the last progress event).
	tracked := map[string]*pipeline.Tracker{}
	for _, r := range reqs {
		tracked[r.ID] = pipeline.NewTracker(r.ID)
	}
	collect := func(_ context.Context, m broker.Message) error {
		if m.Value == nil && m.Payload != nil {
			// The in-memory broker carries values; Kafka carries their JSON,
			// which is what the sinks read.
			v, err := json.Marshal(m.Payload)
			if err != nil {
				return err
			}
			m.Value, m.Payload = v, nil
		}
		mu.Lock()
		defer mu.Unlock()
		out = append(out, m)
		var t *pipeline.Tracker
		switch m.Topic {
		case contracts.TopicProgress:
			var p contracts.Progress
			if err := jsonUnmarshal(m.Value, &p); err != nil {
				return err
			}
			if t = tracked[p.RequestID]; t != nil {
				t.Progress(p)
			}
		case contracts.TopicFindings:
			var c contracts.TriageCard
			if err := jsonUnmarshal(m.Value, &c); err != nil {
				return err
			}
			if t = tracked[c.RequestID]; t != nil {
				t.Card(c)
			}
		}
		if t != nil && t.Done() {
			done[t.Status().RequestID] = true
			select {
			case cond <- struct{}{}:
			default:
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	run := func(group string, topics []string, h broker.Handler) {
		wg.Add(1)
		go func() { defer wg.Done(); b.Subscribe(ctx, group, topics, h) }()
	}
	run(agent.GroupIngest, []string{contracts.TopicRequests}, agent.IngestHandler(stage, b, log))
	run(agent.GroupAnalyze, []string{contracts.TopicLogsRaw}, agent.AnalyzeHandler(eng, b, log))
	run("sinktest-collect", []string{contracts.TopicRequests, contracts.TopicFindings, contracts.TopicProgress}, collect)

	for i, r := range reqs {
		req := contracts.AnalysisRequest{Version: contracts.Version, RequestID: r.ID, BuildURL: r.BuildURL,
			Files: r.Files, Timestamp: time.Date(2026, 3, 1, 12, i, 0, 0, time.UTC)}
		m, err := ingest.Encode(contracts.TopicRequests, r.ID, ingest.KindRequest, req)
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.Publish(ctx, m); err != nil {
			tb.Fatal(err)
		}
	}
	for {
		mu.Lock()
		n := len(done)
		mu.Unlock()
		if n == len(reqs) {
			break
		}
		select {
		case <-cond:
		case <-ctx.Done():
			tb.Fatalf("sinktest: requests not done: %v", ctx.Err())
		}
	}
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return out
}

// Tables returns every destill table of the database at url as sorted JSON
// rows, without the columns that record when a sink wrote (created_at,
// updated_at): what two sinks given the same events must agree on.
func Tables(tb testing.TB, url string) map[string][]string {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	out := map[string][]string{}
	for _, table := range []string{"requests", "request_jobs", "request_chunks", "findings", "findings_summary"} {
		rows, err := conn.Query(ctx, fmt.Sprintf(
			"SELECT (to_jsonb(t) - 'created_at' - 'updated_at' - 'first_seen' - 'last_seen')::text FROM %s t", table))
		if err != nil {
			tb.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatal(err)
		}
		sort.Strings(lines)
		out[table] = lines
	}
	return out
}

// Count returns the number of rows of a table.
func Count(tb testing.TB, url, table string) int {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
