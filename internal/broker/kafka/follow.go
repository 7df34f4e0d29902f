package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/destill-ci/destill/internal/broker"
)

// FollowOptions tune Follow.
type FollowOptions struct {
	// Since starts at the first record at or after this time; zero starts
	// at the earliest record.
	Since time.Time
	// StopAtEnd makes Follow return once it has read every record that
	// existed when it started, instead of waiting for new ones.
	StopAtEnd bool
}

// Follow reads the records published with key to topics, without a
// consumer group and without committing: it consumes only the partition of
// each topic that the key maps to, and calls fn for each record whose key
// matches, in order per topic. It returns nil when ctx ends (or, with
// StopAtEnd, at the end), and fn's error if fn fails.
func (b *Broker) Follow(ctx context.Context, topics []string, key string, opt FollowOptions, fn func(broker.Message) error) error {
	details, err := b.Admin().ListTopics(ctx, topics...)
	if err != nil {
		return fmt.Errorf("kafka: follow: list topics: %w", err)
	}
	start := kgo.NewOffset().AtStart()
	if !opt.Since.IsZero() {
		start = kgo.NewOffset().AfterMilli(opt.Since.UnixMilli())
	}
	part := kgo.StickyKeyPartitioner(nil)
	assign := map[string]map[int32]kgo.Offset{}
	for _, t := range topics {
		d, ok := details[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			return fmt.Errorf("kafka: follow %s: topic missing (create it: destill topics create)", t)
		}
		p := int32(part.ForTopic(t).Partition(&kgo.Record{Key: []byte(key)}, len(d.Partitions)))
		assign[t] = map[int32]kgo.Offset{p: start}
	}

	// With StopAtEnd, the end offsets as of now bound the read.
	var ends map[string]int64
	if opt.StopAtEnd {
		listed, err := b.Admin().ListEndOffsets(ctx, topics...)
		if err != nil {
			return fmt.Errorf("kafka: follow: list end offsets: %w", err)
		}
		ends = map[string]int64{}
		for t, ps := range assign {
			for p := range ps {
				lo, ok := listed.Lookup(t, p)
				if !ok || lo.Err != nil {
					return fmt.Errorf("kafka: follow: end offset of %s/%d: %v", t, p, lo.Err)
				}
				if lo.Offset > 0 {
					ends[t] = lo.Offset
				}
			}
		}
		if len(ends) == 0 {
			return nil
		}
	}

	opts := append([]kgo.Opt{}, b.opts...)
	opts = append(opts, kgo.ConsumePartitions(assign))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka: follow: %w", err)
	}
	defer cl.Close()

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-b.done:
			cancel()
		case <-pctx.Done():
		}
	}()

	for {
		fs := cl.PollFetches(pctx)
		if fs.IsClientClosed() || pctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("kafka: follow %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			if ends != nil {
				if end, ok := ends[r.Topic]; !ok || r.Offset >= end {
					continue
				}
				if r.Offset == ends[r.Topic]-1 {
					delete(ends, r.Topic)
				}
			}
			if string(r.Key) != key {
				continue
			}
			if err := fn(message(r)); err != nil {
				return err
			}
		}
		if ends != nil && len(ends) == 0 {
			return nil
		}
	}
}
