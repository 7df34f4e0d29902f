package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/agent"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/source"
)

func (a *app) ingestCmd() *cobra.Command {
	var o agentOptions
	var fetchers, chunkBytes int
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Run an ingest agent: fetch the builds of requests and publish their logs as chunks",
		Long: `Run an ingest agent of the agentic data plane. It consumes
destill.requests as a member of the consumer group destill-ingest, fetches
each build and its job logs (BUILDKITE_API_TOKEN, GITHUB_TOKEN; log files
must be readable on this host), streams every log through the chunker and
publishes the chunks to destill.logs.raw keyed by <build_id>/<job_id>, with
progress events on destill.progress. A request is committed once all of
its output is acknowledged; one that cannot be decoded goes to destill.dlq.

Run as many as you like: they share the requests. Stop with SIGTERM.
Needs REDPANDA_BROKERS and the topics (destill topics create).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runAgent(cmd.Context(), agentSpec{
				name:    "ingest",
				group:   agent.GroupIngest,
				in:      []string{contracts.TopicRequests},
				out:     []string{contracts.TopicLogsRaw, contracts.TopicProgress, contracts.TopicDLQ},
				workers: 1,
				handler: func(pub agent.Publisher, log *slog.Logger) broker.Handler {
					stage := &ingest.Stage{
						Open:        a.agentSource,
						Pub:         pub,
						Chunker:     ingest.ChunkerConfig{MaxBytes: chunkBytes},
						Concurrency: fetchers,
						Logger:      log,
					}
					return agent.IngestHandler(stage, pub, log)
				},
			}, o)
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().IntVar(&fetchers, "fetchers", 4, "job logs read at once per request")
	cmd.Flags().IntVar(&chunkBytes, "chunk-bytes", 0, "chunk size in encoded bytes (default 500000)")
	return cmd
}

// agentSource opens a request's logs on an agent host, where stdin is not
// the user's.
func (a *app) agentSource(ctx context.Context, req contracts.AnalysisRequest) (source.Source, error) {
	if slices.Contains(req.Files, "-") {
		return nil, errors.New("the request reads standard input, which an agent cannot: submit files or a build URL")
	}
	src, err := a.openSource(ctx, req)
	if err != nil {
		return nil, agentHint(err)
	}
	return agentSourceHint{src}, nil
}

// agentHint says where a token the error asks for must be set: on the
// agent's host, not where destill run was typed.
func agentHint(err error) error {
	if err != nil && strings.Contains(err.Error(), "_TOKEN") {
		return fmt.Errorf("%w (in the environment of destill ingest)", err)
	}
	return err
}

type agentSourceHint struct{ source.Source }

func (s agentSourceHint) Build(ctx context.Context) (source.Build, error) {
	b, err := s.Source.Build(ctx)
	return b, agentHint(err)
}

func (s agentSourceHint) Open(ctx context.Context, job contracts.Job) (io.ReadCloser, error) {
	rc, err := s.Source.Open(ctx, job)
	return rc, agentHint(err)
}
