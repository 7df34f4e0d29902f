package cli

import (
	"log/slog"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
)

func (a *app) analyzeCmd() *cobra.Command {
	var o agentOptions
	var workers int
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Run an analyze agent: turn log chunks into triage cards",
		Long: `Run an analyze agent of the agentic data plane. It consumes
destill.logs.raw as a member of the consumer group destill-analyze; for each
chunk it publishes the triage cards of the lines the chunk owns to
destill.analysis.findings (keyed by request id) and a chunk_analyzed event
to destill.progress, and commits the chunk only after both were
acknowledged. A chunk that cannot be decoded goes to destill.dlq.

Agents are stateless: run one per core or per host, up to the partition
count of destill.logs.raw (12), and they share even a single large build.
Stop with SIGTERM. Needs REDPANDA_BROKERS and the topics (destill topics create).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			eng := analyze.New(analyze.Config{})
			return a.runAgent(cmd.Context(), agentSpec{
				name:    "analyze",
				group:   agent.GroupAnalyze,
				in:      []string{contracts.TopicLogsRaw},
				out:     []string{contracts.TopicFindings, contracts.TopicProgress, contracts.TopicDLQ},
				workers: workers,
				handler: func(pub agent.Publisher, log *slog.Logger) broker.Handler {
					return agent.AnalyzeHandler(eng, pub, log)
				},
			}, o)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().IntVar(&workers, "workers", runtime.GOMAXPROCS(0), "chunks analysed at once (each worker is a group member)")
	return cmd
}
