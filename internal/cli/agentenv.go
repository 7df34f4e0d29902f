package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/pipeline/agentic"
	"github.com/destill-ci/destill/internal/sanitize"
)

// kafkaBroker connects to the cluster named by REDPANDA_BROKERS (and the
// other REDPANDA_* variables); tuning, which the environment does not
// carry, comes from tune.
func (a *app) kafkaBroker(tune kafka.Config) (*kafka.Broker, error) {
	cfg, err := kafka.ConfigFromEnv(a.getenv)
	if err != nil {
		return nil, usageError{err}
	}
	if !cfg.Enabled() {
		return nil, usageError{fmt.Errorf("%s is not set: point it at Redpanda (host:port[,host:port...]), or start a development broker with destill dev broker", kafka.EnvBrokers)}
	}
	cfg.SessionTimeout = tune.SessionTimeout
	cfg.RebalanceTimeout = tune.RebalanceTimeout
	cfg.HeartbeatInterval = tune.HeartbeatInterval
	cfg.DrainTimeout = tune.DrainTimeout
	cfg.Logger = tune.Logger
	return kafka.New(cfg)
}

// agentOptions are the flags every agent shares.
type agentOptions struct {
	logFormat      string
	logLevel       string
	metricsAddr    string
	drainTimeout   time.Duration
	sessionTimeout time.Duration
}

func (o *agentOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /healthz and Prometheus /metrics on this host:port (default: off)")
	f.DurationVar(&o.drainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, how long in-flight work may take to finish before it is abandoned (and redelivered)")
	f.DurationVar(&o.sessionTimeout, "session-timeout", 0, "consumer group session timeout: how soon a dead agent's work moves to the others (default 45s)")
}

// newLogger builds the agent's structured logger on stderr.
func (a *app) newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(a.stdio.Err, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(escapeJSONControls{a.stdio.Err}, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log-format %q: want text or json", format)}
}

// escapeJSONControls writes JSON with the C1 controls (U+0080..U+009F) and
// the bidirectional controls, which encoding/json leaves as they are, as
// \u escapes: a terminal showing the log might act on them. The JSON
// decodes to the same values. The text handler quotes them already.
type escapeJSONControls struct{ w io.Writer }

func (e escapeJSONControls) Write(p []byte) (int, error) {
	if !bytes.ContainsFunc(p, isJSONRawControl) {
		return e.w.Write(p)
	}
	out := make([]byte, 0, len(p)+32)
	for rest := p; len(rest) > 0; {
		r, n := utf8.DecodeRune(rest)
		if isJSONRawControl(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, rest[:n]...)
		}
		rest = rest[n:]
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isJSONRawControl(r rune) bool {
	return r >= 0x80 && r <= 0x9f || sanitize.IsBidiControl(r)
}

// agentSpec describes one kind of agent.
type agentSpec struct {
	name    string   // ingest, analyze
	group   string   // consumer group
	in      []string // topics consumed
	out     []string // topics published
	workers int      // group members in this process
	// handler builds the message handler over an instrumented publisher.
	handler func(pub agent.Publisher, log *slog.Logger) broker.Handler
}

// runAgent runs an agent until ctx ends: on SIGTERM the in-flight messages
// finish (up to --drain-timeout), are committed, and the agent leaves its
// group.
func (a *app) runAgent(ctx context.Context, spec agentSpec, o agentOptions) error {
	log, err := a.newLogger(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	log = log.With("agent", spec.name)
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

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = b.Ping(cctx)
	if err == nil {
		err = requireTopics(cctx, b, append(append([]string{}, spec.in...), spec.out...)...)
	}
	cancel()
	if err != nil {
		return fmt.Errorf("%s: %w", spec.name, err)
	}

	m := newAgentMetrics(spec, b)
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, m.reg, brokerHealth(b), log)
		if err != nil {
			return err
		}
		defer stop()
	}

	workers := max(spec.workers, 1)
	log.Info("agent started", "group", spec.group, "topics", spec.in, "workers", workers)
	h := m.instrument(spec.handler(m.publisher(b), log), log)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Subscribe(ctx, spec.group, spec.in, h)
		}()
	}
	wg.Wait()
	log.Info("agent stopped")
	return errors.Join(errs...)
}

// agentMetrics are an agent's Prometheus metrics.
type agentMetrics struct {
	reg        *prometheus.Registry
	in         *prometheus.CounterVec
	out        *prometheus.CounterVec
	errs       *prometheus.CounterVec
	processing prometheus.Histogram
}

func newAgentMetrics(spec agentSpec, b *kafka.Broker) *agentMetrics {
	labels := prometheus.Labels{"agent": spec.name, "group": spec.group}
	m := &agentMetrics{
		reg: prometheus.NewRegistry(),
		in: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "destill_agent_messages_in_total", Help: "Messages handled successfully (committed), by topic.",
			ConstLabels: labels}, []string{"topic"}),
		out: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "destill_agent_messages_out_total", Help: "Messages published and acknowledged, by topic.",
			ConstLabels: labels}, []string{"topic"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "destill_agent_errors_total", Help: "Failures, each retried: handler runs and publishes; for the sink, writes to Postgres (kind postgres) and dead letters (kind publish).",
			ConstLabels: labels}, []string{"kind"}),
		processing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "destill_agent_processing_seconds", Help: "Time to handle one message, outputs acknowledged included.",
			ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
	}
	m.reg.MustRegister(m.in, m.out, m.errs, m.processing,
		&lagCollector{b: b, group: spec.group, desc: prometheus.NewDesc("destill_agent_consumer_lag",
			"Records on the agent's input topics not yet committed by its group.", []string{"topic"}, labels)},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, t := range spec.in {
		m.in.WithLabelValues(t)
	}
	for _, t := range append(spec.out, contracts.TopicDLQ) {
		m.out.WithLabelValues(t)
	}
	return m
}

// instrument counts and times h.
func (m *agentMetrics) instrument(h broker.Handler, log *slog.Logger) broker.Handler {
	return func(ctx context.Context, msg broker.Message) error {
		start := time.Now()
		err := h(ctx, msg)
		m.processing.Observe(time.Since(start).Seconds())
		if err != nil {
			m.errs.WithLabelValues("handler").Inc()
			if ctx.Err() == nil {
				log.Warn("handling failed; will retry", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "error", err)
			}
			return err
		}
		m.in.WithLabelValues(msg.Topic).Inc()
		return nil
	}
}

// publisher counts what p publishes.
func (m *agentMetrics) publisher(p agent.Publisher) agent.Publisher {
	return countingPublisher{p: p, m: m}
}

type countingPublisher struct {
	p agent.Publisher
	m *agentMetrics
}

func (c countingPublisher) Publish(ctx context.Context, msg broker.Message) error {
	if err := c.p.Publish(ctx, msg); err != nil {
		c.m.errs.WithLabelValues("publish").Inc()
		return err
	}
	c.m.out.WithLabelValues(msg.Topic).Inc()
	return nil
}

// lagCollector asks the cluster for the group's lag at scrape time.
type lagCollector struct {
	b     *kafka.Broker
	group string
	desc  *prometheus.Desc
}

func (l *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	lags, err := l.b.Lag(ctx, l.group)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(l.desc, err)
		return
	}
	for topic, n := range lags {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.GaugeValue, float64(n), topic)
	}
}

// brokerHealth is a health check that the cluster answers.
func brokerHealth(b *kafka.Broker) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := b.Ping(ctx); err != nil {
			return fmt.Errorf("broker unreachable: %w", err)
		}
		return nil
	}
}

// serveMetrics serves /healthz (ok while healthy returns nil) and the
// metrics of reg at /metrics on addr until stop is called.
func serveMetrics(addr string, reg prometheus.Gatherer, healthy func(context.Context) error, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := healthy(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "error", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// submitAgentic publishes req to the agentic data plane (REDPANDA_BROKERS)
// and prints its id on stdout and how to follow it on stderr. The agents
// (destill ingest, destill analyze) do the work.
func (a *app) submitAgentic(ctx context.Context, req contracts.AnalysisRequest) error {
	b, err := a.kafkaBroker(kafka.Config{})
	if err != nil {
		return err
	}
	p := agentic.New(b, agentic.Config{})
	defer p.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := requireTopics(cctx, b, contracts.TopicRequests); err != nil {
		return err
	}
	id, err := p.Submit(cctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdio.Out, id)
	shown := sanitize.String(id)
	fmt.Fprintf(a.stdio.Err, "submitted request %s to the agentic data plane; follow it with:\n  destill status %s\n  destill view %s\n", shown, shown, shown)
	return nil
}
