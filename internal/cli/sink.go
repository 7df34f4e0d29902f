package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/sink"
	"github.com/destill-ci/destill/internal/store/postgres"
)

func (a *app) sinkCmd() *cobra.Command {
	var cfg sink.Config
	var o agentOptions
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
			return a.runSink(cmd.Context(), cfg, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Members, "members", 0, "consumer group members in this process (default 8)")
	f.IntVar(&cfg.MaxBatch, "max-batch", 0, "rows per statement at most (default 1000)")
	f.DurationVar(&cfg.Linger, "linger", 0, "wait this long for a fuller batch (default 0: write as soon as the previous write ends)")
	o.register(f)
	return cmd
}

func (a *app) runSink(ctx context.Context, cfg sink.Config, o agentOptions) error {
	log, err := a.newLogger(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	log = log.With("agent", "sink")
	tune := kafka.Config{DrainTimeout: o.drainTimeout, Logger: log}
	if o.sessionTimeout > 0 {
		tune.SessionTimeout = o.sessionTimeout
		tune.HeartbeatInterval = max(o.sessionTimeout/10, 100*time.Millisecond)
		tune.RebalanceTimeout = 2 * o.sessionTimeout
	}
	b, err := a.kafkaBroker(tune)
	if err != nil {
		return err
	}
	defer b.Close()
	cfg.Logger = log

	st, err := a.waitForStore(ctx, log)
	if err != nil {
		return err
	}
	defer st.Close()

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = b.Ping(cctx)
	if err == nil {
		err = requireTopics(cctx, b, append(append([]string{}, sink.Topics...), contracts.TopicDLQ)...)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("sink: %w", err)
	}
	m := newSinkMetrics(b)
	cfg.Metrics = m
	if o.metricsAddr != "" {
		healthy := func(ctx context.Context) error {
			if err := brokerHealth(b)(ctx); err != nil {
				return err
			}
			if err := st.Ping(ctx); err != nil {
				return fmt.Errorf("postgres unreachable: %w", err)
			}
			return nil
		}
		stop, err := serveMetrics(o.metricsAddr, m.reg, healthy, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	log.Info("sink running", "group", sink.Group, "topics", sink.Topics, "database", redactURL(a.databaseURL()))
	err = sink.New(b, st, cfg).Run(ctx)
	log.Info("sink stopped")
	return err
}

// sinkMetrics are the metrics every agent has (agentMetrics: messages
// consumed, dead letters, failures, time per message, consumer lag) and
// what the sink writes to Postgres. It is the sink's sink.Metrics.
type sinkMetrics struct {
	*agentMetrics
	rows     *prometheus.CounterVec
	inserted prometheus.Counter
	batches  *prometheus.HistogramVec
	writes   *prometheus.HistogramVec
}

func newSinkMetrics(b *kafka.Broker) *sinkMetrics {
	am := newAgentMetrics(agentSpec{name: "sink", group: sink.Group, in: sink.Topics}, b)
	labels := prometheus.Labels{"agent": "sink", "group": sink.Group}
	buckets := prometheus.ExponentialBuckets(0.001, 2, 16)
	m := &sinkMetrics{
		agentMetrics: am,
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "destill_sink_rows_written_total", Help: "Messages written to Postgres, by topic (a redelivered card counts again).",
			ConstLabels: labels}, []string{"topic"}),
		inserted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "destill_sink_findings_inserted_total", Help: "Findings rows inserted, as Postgres reported them: cards not stored before.",
			ConstLabels: labels}),
		batches: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "destill_sink_batch_seconds", Help: "Time to store a batch of messages of one topic, retries included; its count is the batches written.",
			ConstLabels: labels, Buckets: buckets}, []string{"topic"}),
		writes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "destill_sink_write_seconds", Help: "Time of one successful write to Postgres (a statement of up to --max-batch rows, or a part of one), by topic.",
			ConstLabels: labels, Buckets: buckets}, []string{"topic"}),
	}
	am.reg.MustRegister(m.rows, m.inserted, m.batches, m.writes)
	for _, t := range sink.Topics {
		m.rows.WithLabelValues(t)
		m.batches.WithLabelValues(t)
		m.writes.WithLabelValues(t)
	}
	for _, kind := range []string{"postgres", "publish"} {
		am.errs.WithLabelValues(kind)
	}
	return m
}

func (m *sinkMetrics) Batch(topic string, n int, d time.Duration) {
	m.in.WithLabelValues(topic).Add(float64(n))
	m.batches.WithLabelValues(topic).Observe(d.Seconds())
	// Every message of the batch waited for all of it.
	for range n {
		m.processing.Observe(d.Seconds())
	}
}

func (m *sinkMetrics) Wrote(topic string, rows int, d time.Duration) {
	m.rows.WithLabelValues(topic).Add(float64(rows))
	m.writes.WithLabelValues(topic).Observe(d.Seconds())
}

func (m *sinkMetrics) Inserted(n int64) { m.inserted.Add(float64(n)) }

func (m *sinkMetrics) DeadLettered(string) { m.out.WithLabelValues(contracts.TopicDLQ).Inc() }

func (m *sinkMetrics) Failed(_, cause string) { m.errs.WithLabelValues(cause).Inc() }

// waitForStore connects and migrates, retrying with backoff while Postgres
// is unreachable (it may start after the sink).
func (a *app) waitForStore(ctx context.Context, log *slog.Logger) (*postgres.Store, error) {
	if strings.TrimSpace(a.getenv(envDatabaseURL)) == "" {
		log.Warn(envDatabaseURL+" is not set; using the default of docker/docker-compose.yml", "database", redactURL(defaultDatabaseURL))
	}
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
		if errors.As(err, new(postgres.ErrBadURL)) {
			return nil, usageError{err}
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
