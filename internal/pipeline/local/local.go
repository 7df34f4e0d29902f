// Package local runs destill's stages in one process: ingest and several
// analyze workers exchange messages over the in-memory broker, exactly as
// the agents do over Redpanda, and cards stream back as they are found.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/memory"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
)

const groupCollect = "destill-local"

// Config configures the local pipeline. The zero value needs only Open.
type Config struct {
	// Open resolves a request to its log source. Required.
	Open ingest.Opener
	// Workers is the number of analyze workers; default GOMAXPROCS.
	Workers int
	// Chunker sizes chunks.
	Chunker ingest.ChunkerConfig
	// Fetchers is how many job logs are read at once; default 4.
	Fetchers int
	// Engine configures the analyzer.
	Engine analyze.Config
	// MaxBufferedBytes bounds the chunks in flight; default 16 MiB.
	MaxBufferedBytes int64
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
}

// Pipeline is the local pipeline.
type Pipeline struct {
	b      *memory.Broker
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger

	mu       sync.Mutex
	requests map[string]*request
}

// request buffers one request's events for Stream.
type request struct {
	tracker *pipeline.Tracker
	events  []pipeline.Event
	notify  chan struct{} // closed and replaced when events grow
}

var _ pipeline.Pipeline = (*Pipeline)(nil)

// New starts the stages.
func New(cfg Config) *Pipeline {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = 16 << 20
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := memory.New(memory.Config{
		MaxTopicBytes: cfg.MaxBufferedBytes,
		Retain: map[string][]string{
			contracts.TopicRequests: {agent.GroupIngest},
			contracts.TopicLogsRaw:  {agent.GroupAnalyze},
			contracts.TopicFindings: {groupCollect},
			contracts.TopicProgress: {groupCollect},
			contracts.TopicDLQ:      {groupCollect},
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{b: b, cancel: cancel, log: log, requests: map[string]*request{}}
	stage := &ingest.Stage{Open: cfg.Open, Pub: b, Chunker: cfg.Chunker, Concurrency: cfg.Fetchers, Logger: log}
	eng := analyze.New(cfg.Engine)
	p.run(ctx, agent.GroupIngest, []string{contracts.TopicRequests}, agent.IngestHandler(stage, b, log))
	for i := 0; i < cfg.Workers; i++ {
		p.run(ctx, agent.GroupAnalyze, []string{contracts.TopicLogsRaw}, agent.AnalyzeHandler(eng, b, log))
	}
	p.run(ctx, groupCollect, []string{contracts.TopicFindings, contracts.TopicProgress, contracts.TopicDLQ}, p.collect)
	return p
}

func (p *Pipeline) run(ctx context.Context, group string, topics []string, h broker.Handler) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.b.Subscribe(ctx, group, topics, h); err != nil {
			p.log.Error("stage stopped", "group", group, "error", err)
		}
	}()
}

// collect folds findings and progress into the request they belong to.
func (p *Pipeline) collect(_ context.Context, m broker.Message) error {
	var ev pipeline.Event
	var id string
	switch m.Topic {
	case contracts.TopicFindings:
		c, err := ingest.Payload[contracts.TriageCard](m)
		if err != nil {
			p.log.Error("undecodable card", "error", err)
			return nil
		}
		id, ev.Card = c.RequestID, &c
	case contracts.TopicProgress:
		pr, err := ingest.Payload[contracts.Progress](m)
		if err != nil {
			p.log.Error("undecodable progress", "error", err)
			return nil
		}
		id, ev.Progress = pr.RequestID, &pr
	case contracts.TopicDLQ:
		// In one process a dead letter is a bug in destill itself.
		p.log.Error("message dead-lettered", "topic", m.Headers[agent.HeaderTopic], "reason", m.Headers[agent.HeaderError])
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.requests[id]
	if r == nil {
		return nil // not a request of this pipeline
	}
	if ev.Card != nil {
		if !r.tracker.Card(*ev.Card) {
			return nil
		}
	} else {
		r.tracker.Progress(*ev.Progress)
	}
	r.events = append(r.events, ev)
	close(r.notify)
	r.notify = make(chan struct{})
	return nil
}

// Submit starts analysing req.
func (p *Pipeline) Submit(ctx context.Context, req contracts.AnalysisRequest) (string, error) {
	if req.RequestID == "" {
		req.RequestID = contracts.NewRequestID()
	}
	req.Version = contracts.Version
	if req.Timestamp.IsZero() {
		req.Timestamp = time.Now().UTC()
	}
	p.mu.Lock()
	if _, dup := p.requests[req.RequestID]; dup {
		p.mu.Unlock()
		return "", fmt.Errorf("local: request %s already submitted", req.RequestID)
	}
	p.requests[req.RequestID] = &request{tracker: pipeline.NewTracker(req.RequestID), notify: make(chan struct{})}
	p.mu.Unlock()
	m, err := ingest.NewMessage(p.b, contracts.TopicRequests, req.RequestID, ingest.KindRequest, req)
	if err != nil {
		return "", err
	}
	if err := p.b.Publish(ctx, m); err != nil {
		return "", fmt.Errorf("local: submit: %w", err)
	}
	return req.RequestID, nil
}

// Status reports a request's progress.
func (p *Pipeline) Status(_ context.Context, id string) (pipeline.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.requests[id]
	if r == nil {
		return pipeline.Status{}, fmt.Errorf("%w: %s", pipeline.ErrUnknownRequest, id)
	}
	return r.tracker.Status(), nil
}

// Stream delivers the request's events until it completes. Events are
// buffered until delivered and then dropped, so memory stays bounded by
// what the consumer has not yet taken: call Stream once per request.
func (p *Pipeline) Stream(ctx context.Context, id string, fn func(pipeline.Event) error) error {
	for {
		p.mu.Lock()
		r := p.requests[id]
		if r == nil {
			p.mu.Unlock()
			return fmt.Errorf("%w: %s", pipeline.ErrUnknownRequest, id)
		}
		batch := r.events
		r.events = nil
		done, st := r.tracker.Done(), r.tracker.Status()
		notify := r.notify
		p.mu.Unlock()
		for _, ev := range batch {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			continue
		}
		if done {
			if st.State == pipeline.StateFailed {
				return fmt.Errorf("%w: %s", pipeline.ErrRequestFailed, st.Error)
			}
			return nil
		}
		select {
		case <-notify:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops every stage and waits for them.
func (p *Pipeline) Close() error {
	p.cancel()
	p.b.Close()
	p.wg.Wait()
	return nil
}
