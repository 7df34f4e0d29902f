package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/destill-ci/destill/internal/broker"
)

// Subscribe joins group on topics with a client of its own and runs h for
// each record, one at a time, until ctx ends or the broker closes. See the
// package documentation for the commit rules.
func (b *Broker) Subscribe(ctx context.Context, group string, topics []string, h broker.Handler) error {
	return b.consume(ctx, group, topics, b.cfg.MaxPollRecords, h, func(s *subscription, work []batch) {
		for _, w := range work {
			if !s.process(w) {
				break
			}
		}
	})
}

var _ broker.BatchSubscriber = (*Broker)(nil)

// SubscribeBatch is Subscribe with batches: each poll of up to max records
// (at least one) goes to h at once, and its offsets are committed after h
// returns nil. An error retries the same records after a backoff. When a
// rebalance takes a partition of the batch away, h's context is canceled,
// nothing of that partition is committed, and h runs again over the
// records of the partitions still held.
func (b *Broker) SubscribeBatch(ctx context.Context, group string, topics []string, max int, h broker.BatchHandler) error {
	if max < 1 {
		max = 1
	}
	return b.consume(ctx, group, topics, max, nil, func(s *subscription, work []batch) { s.processBatch(work, h) })
}

// consume joins group on topics with a client of its own and hands each
// poll of up to max records, paired with the partitions' assignments, to
// run, then commits what run marked as succeeded, until ctx ends or the
// broker closes. h is the subscription's per-record handler (Subscribe).
func (b *Broker) consume(ctx context.Context, group string, topics []string, max int, h broker.Handler, run func(*subscription, []batch)) error {
	if group == "" || len(topics) == 0 {
		return errors.New("kafka: subscribe needs a group and topics")
	}
	select {
	case <-b.done:
		return nil
	default:
	}
	s := &subscription{
		cfg:     b.cfg,
		group:   group,
		h:       h,
		log:     b.cfg.Logger.With("group", group),
		parts:   map[topicPartition]*partState{},
		pending: map[topicPartition]kgo.EpochOffset{},
	}

	// The handler's context outlives ctx by DrainTimeout, so work under way
	// when an agent is told to stop can finish and be committed.
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	s.hctx = hctx
	stopDrain := context.AfterFunc(ctx, func() {
		if b.cfg.DrainTimeout > 0 {
			time.AfterFunc(b.cfg.DrainTimeout, hcancel)
		} else {
			hcancel()
		}
	})
	defer stopDrain()

	// pollCtx ends when ctx does or the broker closes.
	pollCtx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	go func() {
		select {
		case <-b.done:
			hcancel()
			pcancel()
		case <-pollCtx.Done():
		}
	}()
	s.stop = pollCtx

	opts := append([]kgo.Opt{}, b.opts...)
	opts = append(opts,
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.assigned),
		kgo.OnPartitionsRevoked(s.revoked),
		kgo.OnPartitionsLost(s.lost),
	)
	opts = append(opts, b.cfg.groupOpts()...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: subscribe %s: %w", group, err)
	}
	s.cl = cl

	for {
		fs := cl.PollRecords(pollCtx, max)
		if fs.IsClientClosed() || pollCtx.Err() != nil {
			cl.AllowRebalance()
			break
		}
		work := s.claim(fs)
		// Rebalances may proceed while the batch is processed: a revoked
		// partition's handler is canceled and its remaining records are
		// dropped (see revoked).
		cl.AllowRebalance()
		run(s, work)
		s.commit(pollCtx, nil)
	}

	// Commit what succeeded, then leave the group.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.CommitTimeout)
	s.commit(cctx, nil)
	ccancel()
	cl.Close()
	return nil
}

type topicPartition struct {
	topic     string
	partition int32
}

// partState is one assigned partition. A new assignment makes a new
// partState; revoking or losing it cancels ctx.
type partState struct {
	ctx    context.Context
	cancel context.CancelFunc
	// busy is held while one of the partition's records is processed, so
	// a revoke waits for the handler before committing and letting go.
	busy sync.Mutex
}

type subscription struct {
	cfg   Config
	group string
	h     broker.Handler
	log   *slog.Logger
	cl    *kgo.Client
	hctx  context.Context // base of handler contexts
	stop  context.Context // ends when the subscriber must stop taking work

	mu      sync.Mutex
	parts   map[topicPartition]*partState
	pending map[topicPartition]kgo.EpochOffset // succeeded, not yet committed
}

type batch struct {
	tp      topicPartition
	st      *partState
	records []*kgo.Record
}

// claim pairs fetched records with their partition's current assignment.
// Called while rebalances are blocked, so the pairing is exact.
func (s *subscription) claim(fs kgo.Fetches) []batch {
	var work []batch
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.EachError(func(topic string, p int32, err error) {
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("kafka: fetch", "topic", topic, "partition", p, "err", err)
		}
	})
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		tp := topicPartition{p.Topic, p.Partition}
		if st := s.parts[tp]; st != nil {
			work = append(work, batch{tp: tp, st: st, records: p.Records})
		}
	})
	return work
}

// process runs the handler over a partition's records in order. It returns
// false when the subscriber is stopping.
func (s *subscription) process(w batch) bool {
	for _, r := range w.records {
		if s.stop.Err() != nil {
			return false
		}
		w.st.busy.Lock()
		if w.st.ctx.Err() != nil { // revoked or lost meanwhile
			w.st.busy.Unlock()
			return true
		}
		ok := s.handle(w.st.ctx, r)
		if ok {
			s.mu.Lock()
			s.pending[w.tp] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			s.mu.Unlock()
		}
		w.st.busy.Unlock()
		if !ok {
			// Stopping, or the partition went away: the record stays
			// uncommitted for whoever consumes the partition next.
			return s.stop.Err() == nil
		}
	}
	return true
}

// processBatch runs h over the records of work until it succeeds, the
// subscriber stops, or every partition of work is taken away. While h runs
// it holds each partition's busy lock, so a revoke waits for it; a revoke
// or loss cancels h, and the records of the partitions still held are
// handed to h again at once. On success every partition's offset becomes
// pending for commit.
func (s *subscription) processBatch(work []batch, h broker.BatchHandler) {
	type part struct {
		batch
		msgs []broker.Message
	}
	parts := make([]part, 0, len(work))
	for _, w := range work {
		ms := make([]broker.Message, len(w.records))
		for i, r := range w.records {
			ms[i] = message(r)
		}
		parts = append(parts, part{w, ms})
	}
	backoff := s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		if s.stop.Err() != nil {
			return
		}
		held := parts[:0]
		for _, p := range parts {
			p.st.busy.Lock()
			if p.st.ctx.Err() != nil { // revoked or lost
				p.st.busy.Unlock()
				continue
			}
			held = append(held, p)
		}
		parts = held
		if len(parts) == 0 {
			return
		}
		ctx, cancel := context.WithCancel(s.hctx)
		var msgs []broker.Message
		stops := make([]func() bool, len(parts))
		for i, p := range parts {
			msgs = append(msgs, p.msgs...)
			stops[i] = context.AfterFunc(p.st.ctx, cancel)
		}
		err := h(ctx, msgs)
		for _, stop := range stops {
			stop()
		}
		revoked := ctx.Err() != nil && s.hctx.Err() == nil
		cancel()
		if err == nil {
			s.mu.Lock()
			for _, p := range parts {
				last := p.records[len(p.records)-1]
				s.pending[p.tp] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
			}
			s.mu.Unlock()
		}
		for _, p := range parts {
			p.st.busy.Unlock()
		}
		if err == nil || s.stop.Err() != nil || s.hctx.Err() != nil {
			// Done, or stopping: what failed stays uncommitted for
			// whoever consumes the partitions next.
			return
		}
		if revoked {
			continue // retry at once with the partitions still held
		}
		s.log.Warn("kafka: batch handler failed; retrying", "records", len(msgs),
			"partitions", len(parts), "attempt", attempt, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.stop.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, s.cfg.MaxRetryBackoff)
	}
}

// handle runs h until it succeeds (true), or ctx ends or the subscriber
// stops (false).
func (s *subscription) handle(ctx context.Context, r *kgo.Record) bool {
	m := message(r)
	backoff := s.cfg.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := s.h(ctx, m)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || s.stop.Err() != nil {
			return false
		}
		s.log.Warn("kafka: handler failed; retrying", "topic", r.Topic, "partition", r.Partition,
			"offset", r.Offset, "attempt", attempt, "backoff", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		case <-s.stop.Done():
			t.Stop()
			return false
		}
		backoff = min(backoff*2, s.cfg.MaxRetryBackoff)
	}
}

// commit commits the pending offsets of the partitions in only (all when
// only is nil). Offsets that fail to commit stay pending.
func (s *subscription) commit(ctx context.Context, only map[topicPartition]bool) {
	s.mu.Lock()
	offsets := map[string]map[int32]kgo.EpochOffset{}
	taken := map[topicPartition]kgo.EpochOffset{}
	for tp, eo := range s.pending {
		if only != nil && !only[tp] {
			continue
		}
		if offsets[tp.topic] == nil {
			offsets[tp.topic] = map[int32]kgo.EpochOffset{}
		}
		offsets[tp.topic][tp.partition] = eo
		taken[tp] = eo
	}
	s.mu.Unlock()
	if len(taken) == 0 {
		return
	}
	var failed error
	s.cl.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			failed = err
			return
		}
		failed = commitError(resp)
	})
	if failed != nil {
		if ctx.Err() == nil {
			s.log.Warn("kafka: commit failed; offsets stay uncommitted", "err", failed)
		}
		return
	}
	s.mu.Lock()
	for tp, eo := range taken {
		if cur, ok := s.pending[tp]; ok && cur == eo {
			delete(s.pending, tp)
		}
	}
	s.mu.Unlock()
}

func (s *subscription) assigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if old := s.parts[tp]; old != nil {
				old.cancel()
			}
			ctx, cancel := context.WithCancel(s.hctx)
			s.parts[tp] = &partState{ctx: ctx, cancel: cancel}
		}
	}
	s.log.Debug("kafka: partitions assigned", "partitions", assigned)
}

// release cancels the partitions' handlers and waits for them to return.
func (s *subscription) release(gone map[string][]int32) map[topicPartition]bool {
	set := map[topicPartition]bool{}
	var states []*partState
	s.mu.Lock()
	for topic, ps := range gone {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			set[tp] = true
			if st := s.parts[tp]; st != nil {
				delete(s.parts, tp)
				st.cancel()
				states = append(states, st)
			}
		}
	}
	s.mu.Unlock()
	for _, st := range states {
		st.busy.Lock()
		st.busy.Unlock() //nolint:staticcheck // waiting for the in-flight record, nothing to guard
	}
	return set
}

// revoked commits what succeeded on the partitions being taken away, so
// their next owner starts right after it.
func (s *subscription) revoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	set := s.release(revoked)
	s.commit(ctx, set)
	s.dropPending(set)
	if len(set) > 0 {
		s.log.Debug("kafka: partitions revoked", "partitions", revoked)
	}
}

// lost drops the partitions without committing: the group has moved on.
func (s *subscription) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	set := s.release(lost)
	s.dropPending(set)
	if len(set) > 0 {
		s.log.Warn("kafka: partitions lost; uncommitted work will be redelivered", "partitions", lost)
	}
}

func (s *subscription) dropPending(set map[topicPartition]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tp := range set {
		delete(s.pending, tp)
	}
}

// commitError is the first partition error of a commit response.
func commitError(resp *kmsg.OffsetCommitResponse) error {
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("commit %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}
