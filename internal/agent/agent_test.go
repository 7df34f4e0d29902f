package agent

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
)

type recorder struct {
	mu      sync.Mutex
	msgs    []broker.Message
	batches int
}

func (r *recorder) Publish(_ context.Context, m broker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

type batchRecorder struct{ recorder }

func (r *batchRecorder) PublishBatch(_ context.Context, ms []broker.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, ms...)
	r.batches++
	return nil
}

func (r *recorder) topics() map[string]int {
	n := map[string]int{}
	for _, m := range r.msgs {
		n[m.Topic]++
	}
	return n
}

func chunkMessage(t *testing.T, c contracts.LogChunk) broker.Message {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return broker.Message{Topic: contracts.TopicLogsRaw, Key: c.Key(), Value: b}
}

func TestAnalyzeHandlerPublishesCardsThenProgressInOneBatch(t *testing.T) {
	rec := &batchRecorder{}
	h := AnalyzeHandler(analyze.New(analyze.Config{}), rec, nil)
	c := contracts.LogChunk{Version: contracts.Version, RequestID: "r", BuildID: "b", Job: contracts.Job{ID: "j"},
		LineStart: 1, LineEnd: 3, OwnedStart: 1, OwnedEnd: 3, Last: true, TotalChunks: 1,
		Content: "compiling\nsrc/a.c:3:1: error: expected ';' before '}' token\ndone"}
	if err := h(context.Background(), chunkMessage(t, c)); err != nil {
		t.Fatalf("handler = %v", err)
	}
	got := rec.topics()
	if got[contracts.TopicFindings] != 1 || got[contracts.TopicProgress] != 1 || rec.batches != 1 {
		t.Fatalf("published %v in %d batches, want 1 card and 1 progress event in one batch", got, rec.batches)
	}
	var p contracts.Progress
	if err := json.Unmarshal(rec.msgs[len(rec.msgs)-1].Value, &p); err != nil || p.Kind != contracts.ProgressChunkAnalyzed || p.Findings != 1 {
		t.Errorf("last message = %+v (%v), want chunk_analyzed announcing 1 finding", p, err)
	}
}

func TestAnalyzeHandlerDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		name         string
		value        string
		wantProgress int
	}{
		{"bad json", `not json`, 0},
		{"unknown version", `{"version":99,"request_id":"r","build_id":"b","job_id":"j","chunk_index":4}`, 1},
		{"inconsistent positions", `{"version":1,"request_id":"r","job_id":"j","line_start":10,"line_end":2,"owned_end":5}`, 1},
		{"lines before the first", `{"version":1,"request_id":"r","job_id":"j","line_start":-10,"line_end":-8,"owned_start":-10,"owned_end":-8}`, 1},
		{"owned lines reversed", `{"version":1,"request_id":"r","job_id":"j","line_start":1,"line_end":9,"owned_start":5,"owned_end":2}`, 1},
		{"negative index", `{"version":1,"request_id":"r","job_id":"j","chunk_index":-1,"line_start":1,"line_end":1}`, 0},
		{"no job", `{"version":1,"request_id":"x"}`, 0},
		{"not a request id", `{"version":1,"request_id":"a b","job_id":"j","line_start":1,"line_end":1}`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h := AnalyzeHandler(analyze.New(analyze.Config{}), rec, nil)
			m := broker.Message{Topic: contracts.TopicLogsRaw, Key: "b/j", Value: []byte(tc.value), Offset: 7}
			if err := h(context.Background(), m); err != nil {
				t.Fatalf("handler = %v, want nil (poison is committed)", err)
			}
			got := rec.topics()
			if got[contracts.TopicDLQ] != 1 || got[contracts.TopicProgress] != tc.wantProgress {
				t.Fatalf("published %v, want 1 dead letter and %d progress events", got, tc.wantProgress)
			}
			dl := rec.msgs[0]
			if dl.Headers[HeaderError] == "" || dl.Headers[HeaderTopic] != contracts.TopicLogsRaw || dl.Headers[HeaderOffset] != "7" || string(dl.Value) != tc.value {
				t.Errorf("dead letter = %+v, want the original value with reason, topic and offset headers", dl)
			}
		})
	}
}

func TestIngestHandlerDeadLettersBadRequests(t *testing.T) {
	rec := &recorder{}
	h := IngestHandler(nil, rec, nil)
	for _, v := range []string{`{"version":1,"request_id":`, `{"version":2,"request_id":"r"}`, `{"version":1}`, `{"version":1,"request_id":"\u001b]0;x\u0007"}`} {
		if err := h(context.Background(), broker.Message{Topic: contracts.TopicRequests, Value: []byte(v)}); err != nil {
			t.Fatalf("handler(%s) = %v, want nil", v, err)
		}
	}
	if got := rec.topics()[contracts.TopicDLQ]; got != 4 {
		t.Errorf("dead letters = %d, want 4", got)
	}
}
