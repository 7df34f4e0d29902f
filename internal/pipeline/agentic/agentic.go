// Package agentic is the Pipeline of the agentic data plane: Submit
// publishes the request to destill.requests for the ingest agents, and
// Stream follows destill.analysis.findings and destill.progress for that
// request until it is complete, by the same rules as the local pipeline
// (pipeline.Tracker). The agents themselves run elsewhere (destill ingest,
// destill analyze).
package agentic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
)

// Follower reads one key's records without a consumer group. The kafka
// broker implements it; with a broker that does not, Stream joins a fresh
// consumer group of its own instead.
type Follower interface {
	Follow(ctx context.Context, topics []string, key string, opt kafka.FollowOptions, fn func(broker.Message) error) error
}

// Config tunes the pipeline; the zero value is usable.
type Config struct {
	// ClockSkew is how much earlier than a submitted request's timestamp
	// Stream starts reading, in case an agent's clock is behind; default
	// one minute. Requests not submitted through this Pipeline are read
	// from the start of the topics.
	ClockSkew time.Duration
	// IdleRestart is how long Stream waits without a message for the
	// request before it reads the request's messages again from the
	// start; default 10 s. Already-seen cards are not passed on twice.
	IdleRestart time.Duration
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
}

// Pipeline submits requests to the agents and follows their results.
type Pipeline struct {
	b   broker.Broker
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	submitted map[string]time.Time // request id → timestamp
	streaming map[string]*pipeline.Tracker
}

var _ pipeline.Pipeline = (*Pipeline)(nil)

// New returns a pipeline over b, which it takes over: Close closes it.
func New(b broker.Broker, cfg Config) *Pipeline {
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = time.Minute
	}
	if cfg.IdleRestart <= 0 {
		cfg.IdleRestart = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{b: b, cfg: cfg, log: log, submitted: map[string]time.Time{}, streaming: map[string]*pipeline.Tracker{}}
}

// Submit publishes req to destill.requests keyed by its id and returns the
// id once the broker acknowledged it.
func (p *Pipeline) Submit(ctx context.Context, req contracts.AnalysisRequest) (string, error) {
	if req.RequestID == "" {
		req.RequestID = contracts.NewRequestID()
	}
	req.Version = contracts.Version
	if req.Timestamp.IsZero() {
		req.Timestamp = time.Now().UTC()
	}
	m, err := ingest.Encode(contracts.TopicRequests, req.RequestID, ingest.KindRequest, req)
	if err != nil {
		return "", err
	}
	if err := p.b.Publish(ctx, m); err != nil {
		return "", fmt.Errorf("agentic: submit: %w", err)
	}
	p.mu.Lock()
	p.submitted[req.RequestID] = req.Timestamp
	p.mu.Unlock()
	return req.RequestID, nil
}

// errComplete ends a follow once the request is complete.
var errComplete = errors.New("request complete")

// Stream calls fn for every new card and every progress event of the
// request and returns once it is complete (nil), failed (an error wrapping
// pipeline.ErrRequestFailed: ingest reported a fatal error, or the request
// was dead-lettered), or fn fails. Redelivered cards are passed on once.
func (p *Pipeline) Stream(ctx context.Context, id string, fn func(pipeline.Event) error) error {
	tr := pipeline.NewTracker(id)
	p.mu.Lock()
	p.streaming[id] = tr
	since, ok := p.submitted[id]
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.streaming, id)
		p.mu.Unlock()
	}()
	var opt kafka.FollowOptions
	if ok {
		opt.Since = since.Add(-p.cfg.ClockSkew)
	}

	var fnErr error
	var dead string
	var err error
	for {
		// A follow that sees nothing for IdleRestart starts over (the
		// tracker keeps what it saw, so nothing is passed on twice).
		fctx, fcancel := context.WithCancel(ctx)
		idle := time.AfterFunc(p.cfg.IdleRestart, fcancel)
		err = p.follow(fctx, id, opt, func(m broker.Message) error {
			idle.Reset(p.cfg.IdleRestart)
			p.mu.Lock() // Status reads the tracker
			ev, reason, err := p.fold(tr, m)
			done := tr.Done()
			p.mu.Unlock()
			if err != nil {
				p.log.Warn("agentic: undecodable message", "topic", m.Topic, "offset", m.Offset, "error", err)
				return nil
			}
			if reason != "" {
				dead = reason
				return errComplete
			}
			if ev != nil {
				if err := fn(*ev); err != nil {
					fnErr = err
					return err
				}
			}
			if done {
				return errComplete
			}
			return nil
		})
		idle.Stop()
		restart := fctx.Err() != nil && ctx.Err() == nil && fnErr == nil && dead == "" && !tr.Done()
		fcancel()
		if !restart {
			break
		}
		p.log.Debug("agentic: no news for a while; reading the request again", "request_id", id)
	}
	switch {
	case fnErr != nil:
		return fnErr
	case dead != "":
		return fmt.Errorf("%w: request %s was dead-lettered: %s", pipeline.ErrRequestFailed, id, dead)
	case err != nil && !errors.Is(err, errComplete):
		return err
	case tr.Done():
		if st := tr.Status(); st.State == pipeline.StateFailed {
			return fmt.Errorf("%w: %s", pipeline.ErrRequestFailed, st.Error)
		}
		return nil
	}
	return ctx.Err()
}

// fold applies one message to the tracker. It returns the event to pass on
// (nil for a redelivered card), or the reason the request was dead-lettered.
func (p *Pipeline) fold(tr *pipeline.Tracker, m broker.Message) (*pipeline.Event, string, error) {
	switch m.Topic {
	case contracts.TopicFindings:
		var c contracts.TriageCard
		if err := json.Unmarshal(m.Value, &c); err != nil {
			return nil, "", err
		}
		if !tr.Card(c) {
			return nil, "", nil
		}
		return &pipeline.Event{Card: &c}, "", nil
	case contracts.TopicProgress:
		var pr contracts.Progress
		if err := json.Unmarshal(m.Value, &pr); err != nil {
			return nil, "", err
		}
		tr.Progress(pr)
		return &pipeline.Event{Progress: &pr}, "", nil
	case contracts.TopicDLQ:
		// Only a request itself is dead-lettered under its id.
		if m.Headers[agent.HeaderTopic] == contracts.TopicRequests {
			reason := m.Headers[agent.HeaderError]
			if reason == "" {
				reason = "no reason given"
			}
			return nil, reason, nil
		}
	}
	return nil, "", nil
}

// follow reads the request's messages from the result topics.
func (p *Pipeline) follow(ctx context.Context, id string, opt kafka.FollowOptions, fn func(broker.Message) error) error {
	topics := []string{contracts.TopicProgress, contracts.TopicFindings, contracts.TopicDLQ}
	if f, ok := p.b.(Follower); ok {
		return f.Follow(ctx, topics, id, opt, fn)
	}
	if opt.StopAtEnd {
		return errors.New("agentic: this broker cannot read a request's history")
	}
	// A group of our own, from the earliest offset, filtered by key.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ferr error
	group := "destill-stream-" + contracts.NewRequestID()
	err := p.b.Subscribe(ctx, group, topics, func(_ context.Context, m broker.Message) error {
		if m.Key != id || ferr != nil {
			return nil
		}
		if err := fn(m); err != nil {
			ferr = err
			cancel()
		}
		return nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

// Status reports a request's progress: live while this pipeline streams
// it, otherwise by reading what the topics hold about it so far.
func (p *Pipeline) Status(ctx context.Context, id string) (pipeline.Status, error) {
	p.mu.Lock()
	tr, live := p.streaming[id]
	var st pipeline.Status
	if live {
		st = tr.Status()
	}
	p.mu.Unlock()
	if live {
		return st, nil
	}
	tr = pipeline.NewTracker(id)
	seen := false
	var dead string
	err := p.follow(ctx, id, kafka.FollowOptions{StopAtEnd: true}, func(m broker.Message) error {
		seen = true
		_, reason, err := p.fold(tr, m)
		if err == nil && reason != "" {
			dead = reason
		}
		return nil
	})
	if err != nil {
		return pipeline.Status{}, err
	}
	if !seen {
		return pipeline.Status{}, fmt.Errorf("%w: %s", pipeline.ErrUnknownRequest, id)
	}
	st = tr.Status()
	if dead != "" && !st.State.Done() {
		st.State, st.Error = pipeline.StateFailed, "dead-lettered: "+dead
	}
	return st, nil
}

// Close closes the broker.
func (p *Pipeline) Close() error { return p.b.Close() }
