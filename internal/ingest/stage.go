package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/source"
)

// Publisher is what the ingest stage needs of a broker.
type Publisher interface {
	Publish(ctx context.Context, m broker.Message) error
}

// Opener resolves a request to the source of its logs.
type Opener func(ctx context.Context, req contracts.AnalysisRequest) (source.Source, error)

// Stage reads the logs of a request and publishes them as chunks, with
// progress events, for the analyze stage.
type Stage struct {
	Open    Opener
	Pub     Publisher
	Chunker ChunkerConfig
	// Concurrency is how many job logs are read at once; default 4.
	Concurrency int
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// IdleTimeout fails a job whose log stream delivers no byte for this
	// long (a stalled download); default one minute.
	IdleTimeout time.Duration
}

// Headers marking destill messages.
const (
	HeaderKind    = "destill-kind"
	HeaderVersion = "destill-version"
)

// Message kinds, in HeaderKind.
const (
	KindRequest  = "analysis_request"
	KindChunk    = "log_chunk"
	KindCard     = "triage_card"
	KindProgress = "progress"
)

// Encode wraps a contract value as a message for topic.
func Encode(topic, key, kind string, v any) (broker.Message, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return broker.Message{}, fmt.Errorf("encode %s: %w", kind, err)
	}
	return broker.Message{Topic: topic, Key: key, Value: b,
		Headers: map[string]string{HeaderKind: kind, HeaderVersion: fmt.Sprint(contracts.Version), "content-type": "application/json"}}, nil
}

func (s *Stage) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Stage) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// NewMessage wraps a contract value for pub: as JSON, or, when pub
// delivers payloads within the process, as the value itself (v must then
// not change after publishing).
func NewMessage(pub Publisher, topic, key, kind string, v any) (broker.Message, error) {
	if pc, ok := pub.(broker.PayloadCarrier); ok && pc.CarriesPayload() {
		return broker.Message{Topic: topic, Key: key, Payload: v,
			Headers: map[string]string{HeaderKind: kind, HeaderVersion: fmt.Sprint(contracts.Version)}}, nil
	}
	return Encode(topic, key, kind, v)
}

// Payload returns a message's value as T: its Payload when it carries one
// (a T or *T), else Value decoded from JSON.
func Payload[T any](m broker.Message) (T, error) {
	switch p := m.Payload.(type) {
	case *T:
		return *p, nil
	case T:
		return p, nil
	}
	var v T
	if err := json.Unmarshal(m.Value, &v); err != nil {
		return v, err
	}
	return v, nil
}

// PublishProgress publishes one progress event keyed by its request.
func PublishProgress(ctx context.Context, pub Publisher, p contracts.Progress) error {
	p.Version = contracts.Version
	m, err := NewMessage(pub, contracts.TopicProgress, p.RequestID, KindProgress, p)
	if err != nil {
		return err
	}
	return pub.Publish(ctx, m)
}

func (s *Stage) progress(ctx context.Context, p contracts.Progress) error {
	if p.Time.IsZero() {
		p.Time = s.now()
	}
	return PublishProgress(ctx, s.Pub, p)
}

// Handle ingests one request. Failures to reach the source are reported as
// progress events (request_failed, job_failed), not returned: the request
// was handled. It returns an error only when publishing fails or ctx ends,
// so that the request is delivered again.
func (s *Stage) Handle(ctx context.Context, req contracts.AnalysisRequest) error {
	log := s.logger().With("request_id", req.RequestID)
	fail := func(err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		log.Warn("request failed", "error", err)
		return s.progress(ctx, contracts.Progress{RequestID: req.RequestID, Kind: contracts.ProgressRequestFailed, Error: err.Error()})
	}
	src, err := s.Open(ctx, req)
	if err != nil {
		return fail(err)
	}
	build, err := src.Build(ctx)
	if err != nil {
		return fail(err)
	}
	if err := s.progress(ctx, contracts.Progress{RequestID: req.RequestID, Kind: contracts.ProgressRequestStarted,
		BuildID: build.ID, Jobs: len(build.Jobs)}); err != nil {
		return err
	}
	for _, j := range build.Jobs {
		if err := s.progress(ctx, contracts.Progress{RequestID: req.RequestID, Kind: contracts.ProgressJobDiscovered,
			BuildID: build.ID, JobID: j.ID, JobName: j.Name, JobURL: j.URL, JobOutcome: j.Outcome}); err != nil {
			return err
		}
	}

	n := s.Concurrency
	if n <= 0 {
		n = 4
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, j := range build.Jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func(j contracts.Job) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.job(ctx, req, build, j, src); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(j)
	}
	wg.Wait()
	return firstErr
}

// job streams one job's log into chunks. A read failure is reported as
// job_failed with the chunks already published; a publish failure is
// returned.
func (s *Stage) job(ctx context.Context, req contracts.AnalysisRequest, build source.Build, j contracts.Job, src source.Source) error {
	base := contracts.Progress{RequestID: req.RequestID, BuildID: build.ID, JobID: j.ID, JobName: j.Name, JobURL: j.URL, JobOutcome: j.Outcome}
	p := base
	p.Kind = contracts.ProgressJobFetching
	if err := s.progress(ctx, p); err != nil {
		return err
	}
	failed := func(chunks int, bytes int64, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.logger().Warn("job log unreadable", "request_id", req.RequestID, "job_id", j.ID, "error", err)
		p := base
		p.Kind, p.Chunks, p.Bytes, p.Error = contracts.ProgressJobFailed, chunks, bytes, err.Error()
		return s.progress(ctx, p)
	}
	opened, err := src.Open(ctx, j)
	if err != nil {
		return failed(0, 0, err)
	}
	idle := s.IdleTimeout
	if idle <= 0 {
		idle = time.Minute
	}
	rc := newIdleReader(opened, idle)
	defer rc.Close()

	tmpl := contracts.LogChunk{RequestID: req.RequestID, BuildID: build.ID, BuildURL: build.URL, Source: build.Source, Job: j}
	var pubErr error
	st, err := Chunk(rc, tmpl, s.Chunker, func(c *contracts.LogChunk) error {
		m, err := NewMessage(s.Pub, contracts.TopicLogsRaw, c.Key(), KindChunk, c)
		if err == nil {
			err = s.Pub.Publish(ctx, m)
		}
		if err != nil {
			pubErr = err
		}
		return err
	})
	if pubErr != nil {
		return pubErr
	}
	if err != nil {
		return failed(st.Chunks, st.Bytes, err)
	}
	p = base
	p.Kind, p.Chunks, p.Bytes, p.Lines = contracts.ProgressJobDone, st.Chunks, st.Bytes, st.Lines
	return s.progress(ctx, p)
}

// idleReader fails a stream that stalls: when no byte arrives for d, it
// closes the underlying stream, which unblocks the pending Read.
type idleReader struct {
	rc       io.ReadCloser
	d        time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
}

func newIdleReader(rc io.ReadCloser, d time.Duration) *idleReader {
	r := &idleReader{rc: rc, d: d}
	r.timer = time.AfterFunc(d, func() {
		r.timedOut.Store(true)
		rc.Close()
	})
	return r
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	if n > 0 {
		r.timer.Reset(r.d)
	}
	if err != nil && r.timedOut.Load() {
		return n, fmt.Errorf("log stream stalled: no data for %s", r.d)
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	if r.timedOut.Load() {
		return nil
	}
	return r.rc.Close()
}
