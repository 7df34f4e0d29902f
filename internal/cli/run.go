package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/pipeline/local"
	"github.com/destill-ci/destill/internal/report"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/tui"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// minChunkBytes keeps chunks large enough for the 50-line overlap of
// ordinary lines.
const minChunkBytes = 16 << 10

// runOptions are the flags of `destill run`.
type runOptions struct {
	format     string
	limit      int
	workers    int
	chunkBytes int
	requestID  string
	local      bool
	baseline   string
}

func (a *app) runCmd() *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run <build-url | log-file...>",
		Short: "Analyse a build or log files and show ranked triage cards",
		Long: `Analyse every job log of a CI build, or local log files, and show the
lines that explain the failure as ranked triage cards, grouped by message.

Targets:
  https://buildkite.com/<org>/<pipeline>/builds/<n>[#<job-id>]   (BUILDKITE_API_TOKEN)
  https://github.com/<owner>/<repo>/actions/runs/<id>            (GITHUB_TOKEN)
  log files, plain or gzip; several files are several jobs; - reads stdin

When REDPANDA_BROKERS is set, run submits the request to the agentic data
plane and prints its id instead (use --local to analyse here anyway).`,
		Example: `  destill run build.log
  destill run --format jsonl job1.log job2.log.gz
  destill run https://buildkite.com/acme/api/builds/1234`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("run needs a build URL or log files (see destill run --help)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("request-id") && o.requestID == "" {
				return usageError{errors.New("--request-id: request id is empty (leave the flag out for a random one)")}
			}
			return a.run(cmd.Context(), args, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.format, "format", "f", "", "output: tui, text, json (an array) or jsonl (one card a line, best first); default tui on a terminal, text otherwise")
	f.IntVar(&o.limit, "limit", 10, "text output: show at most this many cards (0: all)")
	f.IntVar(&o.workers, "workers", 0, "analyze workers (default: one per CPU)")
	f.IntVar(&o.chunkBytes, "chunk-bytes", 0, "chunk size in encoded bytes (default 500000)")
	f.StringVar(&o.requestID, "request-id", "", "use this request id instead of a random one: up to 128 letters, digits and . _ : - (finding ids derive from it)")
	f.BoolVar(&o.local, "local", false, "analyse in this process even when REDPANDA_BROKERS is set")
	f.StringVar(&o.baseline, "baseline", "", "a passing log (or build URL) of the same job: findings whose message also occurs there rank last")
	return cmd
}

// requestFor turns command-line targets into a request.
func requestFor(args []string, id string) (contracts.AnalysisRequest, error) {
	req := contracts.AnalysisRequest{Version: contracts.Version, RequestID: id, Timestamp: time.Now().UTC()}
	if req.RequestID == "" {
		req.RequestID = contracts.NewRequestID()
	} else if err := contracts.CheckRequestID(req.RequestID); err != nil {
		return req, usageError{fmt.Errorf("--request-id: %w", err)}
	}
	var urls []string
	for _, arg := range args {
		if isBuildURL(arg) {
			urls = append(urls, arg)
		} else {
			req.Files = append(req.Files, arg)
		}
	}
	switch {
	case len(urls) > 1:
		return req, usageError{errors.New("give one build URL at a time")}
	case len(urls) == 1 && len(req.Files) > 0:
		return req, usageError{errors.New("give either a build URL or log files, not both")}
	case len(urls) == 1:
		req.BuildURL = urls[0]
	}
	return req, nil
}

func (a *app) isTerminal(stream any) bool {
	if a.terminal != nil {
		return a.terminal(stream)
	}
	f, ok := stream.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (a *app) color(w io.Writer) bool {
	return a.isTerminal(w) && a.getenv("NO_COLOR") == "" && a.getenv("TERM") != "dumb"
}

func (a *app) run(ctx context.Context, args []string, o runOptions) error {
	switch o.format {
	case "":
		o.format = "text"
		if a.isTerminal(a.stdio.Out) && a.isTerminal(a.stdio.In) {
			o.format = "tui"
		}
	case "tui":
		if !a.isTerminal(a.stdio.Out) || !a.isTerminal(a.stdio.In) {
			return usageError{errors.New("--format tui needs a terminal on stdin and stdout; use --format text, json or jsonl")}
		}
	case "text", "json", "jsonl":
	default:
		return usageError{fmt.Errorf("unknown --format %q: use tui, text, json or jsonl", o.format)}
	}
	switch {
	case o.limit < 0:
		return usageError{fmt.Errorf("--limit %d: give 0 (all) or a positive number", o.limit)}
	case o.workers < 0:
		return usageError{fmt.Errorf("--workers %d: give 0 (one per CPU) or a positive number", o.workers)}
	case o.chunkBytes != 0 && o.chunkBytes < minChunkBytes:
		return usageError{fmt.Errorf("--chunk-bytes %d: chunks must hold at least %d bytes (0 means the default, 500000)", o.chunkBytes, minChunkBytes)}
	}
	req, err := requestFor(args, o.requestID)
	if err != nil {
		return err
	}
	req.Baseline = o.baseline
	if a.getenv("REDPANDA_BROKERS") != "" && !o.local {
		if err := a.checkAgentic(ctx, &req, o); err != nil {
			return err
		}
		if err := a.submitAgentic(ctx, req); err != nil {
			return fmt.Errorf("%w\n(REDPANDA_BROKERS is set, so run submits to the agentic data plane; use --local to analyse in this process)", err)
		}
		return nil
	}
	var base *report.Baseline
	if o.baseline != "" {
		if base, err = a.loadBaseline(ctx, o.baseline); err != nil {
			return err
		}
	}
	// Resolve the source now so that a wrong target is reported before any
	// work starts; the pipeline then reuses it.
	src, err := a.openSource(ctx, req)
	if err != nil {
		return err
	}
	build, err := src.Build(ctx)
	if err != nil {
		if len(req.Files) > 0 {
			return usageError{err}
		}
		return err
	}
	src = &resolvedSource{Source: src, build: build}
	// Live data is small (a few chunks in flight, one card per distinct
	// message): a soft limit keeps the garbage collector from letting the
	// heap grow with the size of the logs.
	if a.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	p := local.New(local.Config{
		Open:    func(context.Context, contracts.AnalysisRequest) (source.Source, error) { return src, nil },
		Workers: o.workers,
		Chunker: ingest.ChunkerConfig{MaxBytes: o.chunkBytes},
		// A few chunks per worker keep the workers busy; more only costs memory.
		MaxBufferedBytes: 8 << 20,
	})
	defer p.Close()
	start := time.Now()
	id, err := p.Submit(ctx, req)
	if err != nil {
		return err
	}
	if o.format == "tui" {
		return tui.Run(ctx, tui.PipelineFeed(p, id), tui.Options{Title: strings.Join(args, " "), NoColor: !a.color(a.stdio.Out)})
	}
	col := report.NewCollector()
	showProgress := a.isTerminal(a.stdio.Err)
	var jobErrs []string
	err = p.Stream(ctx, id, func(ev pipeline.Event) error {
		if ev.Card != nil {
			col.Add(*ev.Card)
		}
		if pr := ev.Progress; pr != nil && pr.Kind == contracts.ProgressJobFailed {
			name := pr.JobName
			if name == "" {
				name = pr.JobID
			}
			jobErrs = append(jobErrs, fmt.Sprintf("job %s: %s", report.Sanitize(name), report.Sanitize(pr.Error)))
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, pipeline.ErrRequestFailed) {
			return fmt.Errorf("analysis could not run: %s", strings.TrimPrefix(err.Error(), pipeline.ErrRequestFailed.Error()+": "))
		}
		return err
	}
	st, _ := p.Status(ctx, id)
	for _, e := range jobErrs {
		fmt.Fprintf(a.stdio.Err, "destill: %s\n", e)
	}
	read := 0
	for _, j := range st.Jobs {
		read += j.ChunksTotal
	}
	if len(st.Jobs) > 0 && len(jobErrs) == len(st.Jobs) && read == 0 {
		return fmt.Errorf("no job log could be read (%d of %d failed)", len(jobErrs), len(st.Jobs))
	}

	findings := col.Findings(base)
	switch o.format {
	case "json":
		err = report.WriteJSON(a.stdio.Out, findings)
	case "jsonl":
		err = report.WriteJSONL(a.stdio.Out, findings)
	default:
		err = report.WriteText(a.stdio.Out, findings, report.TextOptions{Color: a.color(a.stdio.Out), Limit: o.limit})
	}
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if showProgress {
		var chunks int
		var bytes int64
		for _, j := range st.Jobs {
			chunks += j.ChunksTotal
			bytes += j.Bytes
		}
		fmt.Fprintf(a.stdio.Err, "destill: %s, %s, %s, %s in %s, %s\n",
			plural(len(st.Jobs), "job"), humanBytes(bytes), plural(chunks, "chunk"), plural(col.Len(), "card"),
			plural(len(findings), "group"), time.Since(start).Round(time.Millisecond))
	}
	if len(jobErrs) > 0 {
		return exitError{code: exitPartial, err: fmt.Errorf("%d of %d job logs could not be read in full: the results cover what was read",
			len(jobErrs), len(st.Jobs))}
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// loadBaseline reads every log of a passing run into a baseline.
func (a *app) loadBaseline(ctx context.Context, target string) (*report.Baseline, error) {
	req, err := requestFor([]string{target}, "baseline")
	if err != nil {
		return nil, err
	}
	src, err := a.openSource(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	build, err := src.Build(ctx)
	if err != nil {
		if len(req.Files) > 0 {
			return nil, usageError{fmt.Errorf("baseline: %w", err)}
		}
		return nil, fmt.Errorf("baseline: %w", err)
	}
	base := report.NewBaseline()
	for _, j := range build.Jobs {
		rc, err := src.Open(ctx, j)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		err = base.Read(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("baseline: job %s: %w", j.Name, err)
		}
	}
	return base, nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// checkAgentic validates a request before it is submitted to the agentic
// data plane, so that what local mode rejects at once is not accepted only
// to fail later in an agent: the target must parse, files must exist (and
// are made absolute, since the ingest agent runs elsewhere, with the paths
// as given kept as FileNames, which the jobs are named after as in local
// mode), and options that only shape local output are refused.
func (a *app) checkAgentic(ctx context.Context, req *contracts.AnalysisRequest, o runOptions) error {
	const hint = " (REDPANDA_BROKERS is set: the request goes to the agents; use --local to analyse here)"
	switch {
	case o.format != "" && o.format != "text":
		return usageError{fmt.Errorf("--format %s%s; read the results with destill view --format %s", o.format, hint, o.format)}
	case o.baseline != "":
		return usageError{errors.New("--baseline is applied by local mode only" + hint)}
	}
	if len(req.Files) > 0 {
		req.FileNames = append([]string(nil), req.Files...)
	}
	for i, f := range req.Files {
		if f == "-" {
			return usageError{errors.New("stdin cannot be sent to the agents" + hint)}
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return usageError{err}
		}
		req.Files[i] = abs
	}
	if req.BuildURL != "" {
		// The URL must parse; the token is the ingest agent's, not ours.
		return checkBuildURL(req.BuildURL)
	}
	src, err := a.openSource(ctx, *req)
	if err != nil {
		return err
	}
	// Opening local files is cheap; a missing one is the user's to fix.
	if _, err := src.Build(ctx); err != nil {
		return usageError{err}
	}
	return nil
}
