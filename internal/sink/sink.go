// Package sink writes the agentic data plane's results to Postgres: it
// consumes destill.requests, destill.analysis.findings and destill.progress
// as consumer group destill-postgres-sink and acknowledges a message only
// once its row is written (or, if Postgres refuses the row, once it is on
// destill.dlq with the reason).
//
// Writes are batched by group commit: each topic has one writer; messages
// that arrive while it writes wait and go in the next statement together, up
// to MaxBatch rows. With one busy partition every message is written at
// once; with many, batches fill by themselves. Redelivery is harmless:
// findings have deterministic ids (ON CONFLICT DO NOTHING) and progress is
// folded by idempotent SQL functions.
package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// Group is the sink's consumer group.
const Group = "destill-postgres-sink"

// Topics the sink consumes.
var Topics = []string{contracts.TopicRequests, contracts.TopicFindings, contracts.TopicProgress}

// Store is what the sink needs of Postgres.
type Store interface {
	InsertFindings(ctx context.Context, cards []contracts.TriageCard) (int64, error)
	ApplyRequests(ctx context.Context, reqs []contracts.AnalysisRequest) error
	ApplyProgress(ctx context.Context, events []contracts.Progress) error
	// Settle folds requests again once a write has committed.
	Settle(ctx context.Context, requestIDs []string) error
}

// BatchHandler processes several messages; nil acknowledges all of them.
// It is broker.BatchHandler, so brokers implementing
// broker.BatchSubscriber satisfy BatchSubscriber.
type BatchHandler = broker.BatchHandler

// BatchSubscriber is a broker that can hand a consumer whole batches (up to
// max messages of one poll). The sink uses it when the broker offers it: it
// batches even a single partition. Other brokers get the per-message
// Handler and group commit.
type BatchSubscriber interface {
	SubscribeBatch(ctx context.Context, group string, topics []string, max int, h BatchHandler) error
}

// Config tunes the sink. The zero value is usable.
type Config struct {
	// Group overrides the consumer group (tests); default Group.
	Group string
	// Members is how many Subscribe calls share the topics; messages of
	// different partitions handled at once are written together. Default 8.
	Members int
	// MaxBatch bounds the rows per statement; default 1000.
	MaxBatch int
	// PartRows splits a larger batch of findings into statements of about
	// this many rows, run concurrently (up to Parallel at once) on separate
	// connections, so decoding one overlaps storing another and Postgres
	// works on several cores. Default 250.
	PartRows int
	// Parallel bounds the concurrent statements of one batch; default 4.
	Parallel int
	// Linger makes the writer wait this long for more messages before a
	// statement that is not full. Default 0: group commit alone.
	Linger time.Duration
	// RetryMin and RetryMax bound the backoff while Postgres is unreachable;
	// defaults 100 ms and 5 s.
	RetryMin, RetryMax time.Duration
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
	// Metrics observes the writes; default observes nothing.
	Metrics Metrics
}

// Metrics observes what the sink does, for Prometheus or a test. Its
// methods are called from several goroutines at once.
type Metrics interface {
	// Batch: n messages of topic are stored or dead-lettered, so they may
	// be acknowledged; storing them took d, retries included.
	Batch(topic string, n int, d time.Duration)
	// Wrote: one write stored rows messages of topic in Postgres, taking d.
	Wrote(topic string, rows int, d time.Duration)
	// Inserted: Postgres inserted n new findings rows (a redelivered card
	// is not new). Reported as soon as they are committed, even if the
	// write then fails (settling its requests) and is retried.
	Inserted(n int64)
	// DeadLettered: a message of topic went to destill.dlq.
	DeadLettered(topic string)
	// Failed: storing a batch of topic failed and is retried; cause is
	// "postgres" (Postgres unreachable or failing) or "publish" (a dead
	// letter could not be published).
	Failed(topic, cause string)
}

type noMetrics struct{}

func (noMetrics) Batch(string, int, time.Duration) {}
func (noMetrics) Wrote(string, int, time.Duration) {}
func (noMetrics) Inserted(int64)                   {}
func (noMetrics) DeadLettered(string)              {}
func (noMetrics) Failed(string, string)            {}

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = Group
	}
	if c.Members <= 0 {
		c.Members = 8
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.PartRows <= 0 {
		c.PartRows = 250
	}
	if c.Parallel <= 0 {
		c.Parallel = 4
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	return c
}

// Sink consumes the topics into a Store.
type Sink struct {
	b   broker.Broker
	st  Store
	cfg Config
	log *slog.Logger
	obs Metrics
}

// New returns a sink reading from b into st.
func New(b broker.Broker, st Store, cfg Config) *Sink {
	cfg = cfg.withDefaults()
	return &Sink{b: b, st: st, cfg: cfg, log: cfg.Logger, obs: cfg.Metrics}
}

// Run consumes until ctx ends, then returns nil; or the first error that
// stops a member.
func (s *Sink) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, s.cfg.Members)
	member := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	if bs, ok := s.b.(BatchSubscriber); ok {
		for range s.cfg.Members {
			member(func() error {
				return bs.SubscribeBatch(ctx, s.cfg.Group, Topics, s.cfg.MaxBatch, s.WriteBatch)
			})
		}
	} else {
		writers := map[string]*writer{}
		for _, t := range Topics {
			w := newWriter(s, t)
			writers[t] = w
			wg.Add(1)
			go func() { defer wg.Done(); w.run(ctx) }()
		}
		h := func(ctx context.Context, m broker.Message) error {
			w := writers[m.Topic]
			if w == nil {
				start := time.Now()
				if err := s.deadLetter(ctx, m, fmt.Errorf("sink: unexpected topic %s", m.Topic)); err != nil {
					return err
				}
				s.obs.Batch(m.Topic, 1, time.Since(start))
				return nil
			}
			return w.submit(ctx, m)
		}
		for range s.cfg.Members {
			member(func() error { return s.b.Subscribe(ctx, s.cfg.Group, Topics, h) })
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// WriteBatch writes messages of any of the sink's topics and returns nil once
// every one is stored or dead-lettered. While Postgres is unreachable it
// retries with backoff until ctx ends; then it returns the error and nothing
// may be acknowledged.
func (s *Sink) WriteBatch(ctx context.Context, ms []broker.Message) error {
	byTopic := map[string][]broker.Message{}
	var order []string
	for _, m := range ms {
		if _, ok := byTopic[m.Topic]; !ok {
			order = append(order, m.Topic)
		}
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	for _, t := range order {
		if err := s.write(ctx, t, byTopic[t]); err != nil {
			return err
		}
	}
	return nil
}

// write stores ms, all of topic, retrying transient failures.
func (s *Sink) write(ctx context.Context, topic string, ms []broker.Message) error {
	if len(ms) == 0 {
		return nil
	}
	start := time.Now()
	wait := s.cfg.RetryMin
	// dead marks the messages dead-lettered by an earlier attempt: a
	// retry neither stores nor dead-letters them again.
	dead := make([]bool, len(ms))
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, topic, ms, dead)
		if err == nil {
			s.obs.Batch(topic, len(ms), time.Since(start))
			return nil
		}
		if ctx.Err() != nil {
			// Stopping: the messages stay unacknowledged and are
			// redelivered; nothing failed that a retry would fix.
			return fmt.Errorf("sink: write %s: %w (gave up: %w)", topic, err, ctx.Err())
		}
		cause := "postgres"
		if errors.As(err, new(deadLetterError)) {
			cause = "publish"
		}
		s.obs.Failed(topic, cause)
		s.log.Warn("sink: write failed; retrying", "topic", topic, "messages", len(ms), "attempt", attempt, "error", err, "backoff", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sink: write %s: %w (gave up: %w)", topic, err, ctx.Err())
		case <-t.C:
		}
		if wait *= 2; wait > s.cfg.RetryMax {
			wait = s.cfg.RetryMax
		}
	}
}

// writeOnce writes ms once: a large batch of findings in concurrent parts
// (see Config.PartRows), anything else in one statement. Each part is
// written or fails as a whole; retrying them all is harmless. dead[i]
// says ms[i] was dead-lettered already, and is set when it is.
func (s *Sink) writeOnce(ctx context.Context, topic string, ms []broker.Message, dead []bool) error {
	parts := (len(ms) + s.cfg.PartRows - 1) / s.cfg.PartRows
	if topic != contracts.TopicFindings || parts < 2 || s.cfg.Parallel < 2 {
		return s.writePart(ctx, topic, ms, dead)
	}
	size := (len(ms) + parts - 1) / parts
	errs := make([]error, parts)
	sem := make(chan struct{}, s.cfg.Parallel)
	var wg sync.WaitGroup
	for i := range parts {
		if i*size >= len(ms) {
			break
		}
		from, to := i*size, min((i+1)*size, len(ms))
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = s.writePart(ctx, topic, ms[from:to], dead[from:to])
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writePart decodes ms, dead-letters what cannot be decoded, and writes the
// rest in one statement. If Postgres refuses the statement because of its
// data, it writes the messages one by one and dead-letters those refused.
// Any other error is returned for a retry of the whole batch (idempotent).
func (s *Sink) writePart(ctx context.Context, topic string, ms []broker.Message, dead []bool) error {
	var (
		good []int // indexes in ms
		rows []any
	)
	decoded := decodeAll(topic, ms)
	for i, m := range ms {
		if dead[i] {
			continue
		}
		v, err := decoded[i].v, decoded[i].err
		if err != nil {
			if err := s.deadLetter(ctx, m, err); err != nil {
				return err
			}
			dead[i] = true
			continue
		}
		good = append(good, i)
		rows = append(rows, v)
	}
	if len(rows) == 0 {
		return nil
	}
	err := s.store(ctx, topic, rows)
	if err == nil || !rejected(err) {
		return err
	}
	for i, row := range rows {
		err := s.store(ctx, topic, []any{row})
		if err == nil {
			continue
		}
		if !rejected(err) {
			return err
		}
		if err := s.deadLetter(ctx, ms[good[i]], err); err != nil {
			return err
		}
		dead[good[i]] = true
	}
	return nil
}

// rejected reports whether err means Postgres refused the data itself.
func rejected(err error) bool { return postgres.IsRejected(err) }

// store writes rows, all of topic, in one statement (and settles the
// requests they touch).
func (s *Sink) store(ctx context.Context, topic string, rows []any) error {
	start := time.Now()
	err := s.storeOnce(ctx, topic, rows)
	if err == nil {
		s.obs.Wrote(topic, len(rows), time.Since(start))
	}
	return err
}

func (s *Sink) storeOnce(ctx context.Context, topic string, rows []any) error {
	switch topic {
	case contracts.TopicFindings:
		cards := make([]contracts.TriageCard, len(rows))
		for i, r := range rows {
			cards[i] = *r.(*contracts.TriageCard)
		}
		n, err := s.st.InsertFindings(ctx, cards)
		if err != nil {
			return err
		}
		s.obs.Inserted(n)
		ids := make([]string, len(cards))
		for i := range cards {
			ids[i] = cards[i].RequestID
		}
		return s.st.Settle(ctx, ids)
	case contracts.TopicRequests:
		reqs := make([]contracts.AnalysisRequest, len(rows))
		for i, r := range rows {
			reqs[i] = *r.(*contracts.AnalysisRequest)
		}
		return s.st.ApplyRequests(ctx, reqs)
	case contracts.TopicProgress:
		evs := make([]contracts.Progress, len(rows))
		for i, r := range rows {
			evs[i] = *r.(*contracts.Progress)
		}
		if err := s.st.ApplyProgress(ctx, evs); err != nil {
			return err
		}
		ids := make([]string, len(evs))
		for i := range evs {
			ids[i] = evs[i].RequestID
		}
		return s.st.Settle(ctx, ids)
	}
	return fmt.Errorf("sink: unexpected topic %s", topic)
}

type decoded struct {
	v   any
	err error
}

// parallelDecode is the batch size from which decodeAll spreads the work
// over the available cores.
const parallelDecode = 128

// decodeAll decodes ms, of topic, in order; large batches on every core.
func decodeAll(topic string, ms []broker.Message) []decoded {
	out := make([]decoded, len(ms))
	workers := min(runtime.GOMAXPROCS(0), len(ms)/(parallelDecode/2))
	if workers <= 1 {
		for i, m := range ms {
			out[i] = decodeMessage(topic, m)
		}
		return out
	}
	var wg sync.WaitGroup
	per := (len(ms) + workers - 1) / workers
	for lo := 0; lo < len(ms); lo += per {
		hi := min(lo+per, len(ms))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				out[i] = decodeMessage(topic, ms[i])
			}
		})
	}
	wg.Wait()
	return out
}

func decodeMessage(topic string, m broker.Message) decoded {
	b, err := value(m)
	if err != nil {
		return decoded{err: fmt.Errorf("encode payload: %w", err)}
	}
	v, err := decode(topic, b)
	return decoded{v: v, err: err}
}

// value is m's JSON. A broker within the process may carry the value
// itself instead (Message.Payload); the sink reads it as Kafka would carry it.
func value(m broker.Message) ([]byte, error) {
	if m.Value != nil || m.Payload == nil {
		return m.Value, nil
	}
	return json.Marshal(m.Payload)
}

// decode reads a message of topic strictly, checking its contract version
// and the fields a row needs.
func decode(topic string, value []byte) (any, error) {
	var (
		v       any
		version func() int
		check   func() error
	)
	switch topic {
	case contracts.TopicFindings:
		c := &contracts.TriageCard{}
		v, version = c, func() int { return c.Version }
		check = func() error {
			if c.ID == "" || c.RequestID == "" || c.MessageHash == "" {
				return errors.New("card lacks id, request_id or message_hash")
			}
			return nil
		}
	case contracts.TopicRequests:
		r := &contracts.AnalysisRequest{}
		v, version = r, func() int { return r.Version }
		check = func() error {
			if r.RequestID == "" {
				return errors.New("request lacks request_id")
			}
			return nil
		}
	case contracts.TopicProgress:
		p := &contracts.Progress{}
		v, version = p, func() int { return p.Version }
		check = func() error {
			if p.RequestID == "" || p.Kind == "" {
				return errors.New("progress lacks request_id or kind")
			}
			return nil
		}
	default:
		return nil, fmt.Errorf("unexpected topic %s", topic)
	}
	if c, ok := v.(*contracts.TriageCard); ok && decodeCardFast(value, c) {
		// decoded like encoding/json would
	} else if err := decodeJSON(value, v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if got := version(); got != contracts.Version {
		return nil, fmt.Errorf("unknown contract version %d (this build reads %d)", got, contracts.Version)
	}
	return v, check()
}

// decodeJSON decodes the first JSON value of b into v (zeroed first).
func decodeJSON(b []byte, v any) error {
	if c, ok := v.(*contracts.TriageCard); ok {
		*c = contracts.TriageCard{} // the fast path may have filled some of it
	}
	return json.NewDecoder(bytes.NewReader(b)).Decode(v)
}

// deadLetter logs why m cannot be stored and publishes it to destill.dlq
// with that reason.
func (s *Sink) deadLetter(ctx context.Context, m broker.Message, reason error) error {
	s.log.Warn("sink: dead-lettering a message", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", reason)
	if err := agent.DeadLetter(ctx, s.b, s.cfg.Group, m, reason); err != nil {
		return deadLetterError{err}
	}
	s.obs.DeadLettered(m.Topic)
	return nil
}

// deadLetterError is a dead letter that could not be published.
type deadLetterError struct{ err error }

func (e deadLetterError) Error() string { return "sink: dead-letter: " + e.err.Error() }
func (e deadLetterError) Unwrap() error { return e.err }
