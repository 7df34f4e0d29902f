package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TopicSpec describes a topic to create.
type TopicSpec struct {
	Name       string
	Partitions int32
	// ReplicationFactor; 0 or less uses the cluster default.
	ReplicationFactor int16
	// Configs are topic configs; max.message.bytes defaults to
	// TopicMaxMessageBytes.
	Configs map[string]string
}

// TopicResult reports what CreateTopics did for one topic.
type TopicResult struct {
	Name    string
	Created bool // false: it already existed
}

// CreateTopics creates the topics that do not exist yet. A topic that
// already exists is left as it is and reported with Created false.
func (b *Broker) CreateTopics(ctx context.Context, specs ...TopicSpec) ([]TopicResult, error) {
	adm := b.Admin()
	var out []TopicResult
	for _, sp := range specs {
		rf := sp.ReplicationFactor
		if rf <= 0 {
			rf = -1
		}
		configs := map[string]*string{"max.message.bytes": kadm.StringPtr(strconv.Itoa(TopicMaxMessageBytes))}
		for k, v := range sp.Configs {
			configs[k] = kadm.StringPtr(v)
		}
		_, err := adm.CreateTopic(ctx, sp.Partitions, rf, configs, sp.Name)
		switch {
		case err == nil:
			out = append(out, TopicResult{Name: sp.Name, Created: true})
		case errors.Is(err, kerr.TopicAlreadyExists):
			out = append(out, TopicResult{Name: sp.Name})
		default:
			return out, fmt.Errorf("kafka: create topic %s: %w", sp.Name, err)
		}
	}
	return out, nil
}

// MissingTopics returns the names that do not exist on the cluster, sorted.
func (b *Broker) MissingTopics(ctx context.Context, names ...string) ([]string, error) {
	details, err := b.Admin().ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("kafka: list topics: %w", err)
	}
	var missing []string
	for _, n := range names {
		d, ok := details[n]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			missing = append(missing, n)
			continue
		}
		if d.Err != nil {
			return nil, fmt.Errorf("kafka: describe topic %s: %w", n, d.Err)
		}
	}
	sort.Strings(missing)
	return missing, nil
}

// Lag returns a group's consumer lag per topic (records published but not
// yet committed by the group).
func (b *Broker) Lag(ctx context.Context, group string) (map[string]int64, error) {
	lags, err := b.Admin().Lag(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	l, ok := lags[group]
	if !ok {
		return nil, fmt.Errorf("kafka: lag of %s: group not described", group)
	}
	if err := l.Error(); err != nil {
		return nil, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	out := map[string]int64{}
	for topic, tl := range l.Lag.TotalByTopic() {
		out[topic] = tl.Lag
	}
	return out, nil
}
