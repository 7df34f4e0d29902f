package cli

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/sink"
	"github.com/destill-ci/destill/internal/store/postgres"
)

func (a *app) sinkCmd() *cobra.Command {
	var cfg sink.Config
	cmd := &cobra.Command{
		Use:   "sink",
		Short: "Store findings and request status from Redpanda in Postgres",
		Long: `Consume destill.requests, destill.analysis.findings and destill.progress
(consumer group destill-postgres-sink) and write them to the Postgres at
DATABASE_URL, migrating its schema first. Offsets are committed only after
the rows are written; rows Postgres refuses go to destill.dlq with the
reason. Runs until interrupted. Needs REDPANDA_BROKERS.

docker/connect.yaml does the same with Redpanda Connect.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runSink(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Members, "members", 0, "consumer group members in this process (default 8)")
	f.IntVar(&cfg.MaxBatch, "max-batch", 0, "rows per statement at most (default 1000)")
	f.DurationVar(&cfg.Linger, "linger", 0, "wait this long for a fuller batch (default 0: write as soon as the previous write ends)")
	return cmd
}

func (a *app) runSink(ctx context.Context, cfg sink.Config) error {
	kcfg, err := kafka.ConfigFromEnv(a.getenv)
	if err != nil {
		return usageError{err}
	}
	if !kcfg.Enabled() {
		return usageError{errors.New("destill sink needs REDPANDA_BROKERS (host:port,...)")}
	}
	log := slog.New(slog.NewTextHandler(a.stdio.Err, nil))
	kcfg.Logger = log
	cfg.Logger = log

	st, err := a.waitForStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()

	b, err := kafka.New(kcfg)
	if err != nil {
		return err
	}
	defer b.Close()
	log.Info("sink running", "group", sink.Group, "topics", sink.Topics, "database", redactURL(a.databaseURL()))
	if err := sink.New(b, st, cfg).Run(ctx); err != nil {
		return err
	}
	return nil
}

// waitForStore connects and migrates, retrying with backoff while Postgres
// is unreachable (it may start after the sink).
func (a *app) waitForStore(ctx context.Context, log *slog.Logger) (*postgres.Store, error) {
	wait := 500 * time.Millisecond
	for {
		st, err := a.openStore(ctx)
		if err == nil {
			applied, merr := st.Migrate(ctx)
			if merr == nil {
				for _, m := range applied {
					log.Info("migrated", "version", m.Version, "name", m.Name)
				}
				return st, nil
			}
			st.Close()
			err = merr
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !postgres.IsTransient(err) {
			return nil, err
		}
		log.Warn("postgres not ready; retrying", "error", err, "backoff", wait)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		if wait *= 2; wait > 10*time.Second {
			wait = 10 * time.Second
		}
	}
}
