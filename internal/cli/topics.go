package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker/kafka"
)

// destillTopics is the topic layout of the agentic data plane. Raw chunks
// get the most partitions: they are keyed per job, so one large build
// spreads over as many analyze agents as it has partitions.
func destillTopics(replication int16) []kafka.TopicSpec {
	specs := []kafka.TopicSpec{
		{Name: contracts.TopicRequests, Partitions: 3},
		{Name: contracts.TopicLogsRaw, Partitions: 12},
		{Name: contracts.TopicFindings, Partitions: 6},
		{Name: contracts.TopicProgress, Partitions: 6},
		{Name: contracts.TopicDLQ, Partitions: 3,
			// Dead letters wait for a person: keep them for 30 days.
			Configs: map[string]string{"retention.ms": "2592000000"}},
	}
	for i := range specs {
		specs[i].ReplicationFactor = replication
	}
	return specs
}

func (a *app) topicsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "Manage the Redpanda topics of the agentic data plane",
	}
	var (
		replication int16
		wait        time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create destill's topics (existing ones are left as they are)",
		Long: `Create the topics the agents use, on the cluster named by REDPANDA_BROKERS:

  destill.requests            3 partitions   analysis requests, keyed by request id
  destill.logs.raw           12 partitions   log chunks, keyed by <build_id>/<job_id>
  destill.analysis.findings   6 partitions   triage cards, keyed by request id
  destill.progress            6 partitions   progress events, keyed by request id
  destill.dlq                 3 partitions   dead letters, kept 30 days

Every topic allows records up to 9 MiB (max.message.bytes). Running it again
is safe: topics that exist are reported and left unchanged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.topicsCreate(cmd.Context(), replication, wait)
		},
	}
	create.Flags().Int16Var(&replication, "replication-factor", 0, "replicas per partition (default: the cluster's default)")
	create.Flags().DurationVar(&wait, "wait", 10*time.Second, "how long to wait for a broker that refuses connections (one just started)")
	cmd.AddCommand(create)
	return cmd
}

func (a *app) topicsCreate(ctx context.Context, replication int16, wait time.Duration) error {
	b, err := a.kafkaBroker(kafka.Config{})
	if err != nil {
		return err
	}
	defer b.Close()
	// A broker started a moment ago may not listen yet: wait for it a
	// little, as a script that starts it and then creates topics expects.
	res, err := b.CreateTopics(ctx, destillTopics(replication)...)
	for deadline := time.Now().Add(wait); err != nil && errors.Is(err, syscall.ECONNREFUSED) && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		res, err = b.CreateTopics(ctx, destillTopics(replication)...)
	}
	w := tabwriter.NewWriter(a.stdio.Out, 0, 4, 2, ' ', 0)
	for _, r := range res {
		state := "exists"
		if r.Created {
			state = "created"
		}
		fmt.Fprintf(w, "%s\t%s\n", state, r.Name)
	}
	w.Flush()
	if err != nil {
		return fmt.Errorf("topics create: %w", err)
	}
	return nil
}

// requireTopics fails with what to do when topics are missing.
func requireTopics(ctx context.Context, b *kafka.Broker, names ...string) error {
	missing, err := b.MissingTopics(ctx, names...)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing topics %s: run destill topics create", strings.Join(missing, ", "))
	}
	return nil
}
