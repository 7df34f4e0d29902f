package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/report"
	"github.com/destill-ci/destill/internal/store/postgres"
	"github.com/destill-ci/destill/internal/tui"
	"github.com/destill-ci/destill/internal/tui/findings"
)

type viewOptions struct {
	build  string
	format string
	limit  int
}

func (a *app) viewCmd() *cobra.Command {
	var o viewOptions
	cmd := &cobra.Command{
		Use:   "view <request-id> | --build <url>",
		Short: "Show a request's stored triage cards with their history",
		Long: `Show the triage cards stored in Postgres (DATABASE_URL) for a request, most
severe first. Each card says whether its message is new in this build or
recurring, in how many builds it appeared, and when it was first and last
seen.

On a terminal it opens the terminal UI; otherwise, or with --format, it
prints text, json (an array) or jsonl (one card a line). A card stands for
every finding of its message, so there may be fewer cards than findings.

For a request that failed, the text output and stderr say why. For one
still pending or processing, stderr says that the cards are those stored
so far.

Exit status, as for destill status: 0 completed, 1 failed, 2 a wrong command
line, 3 still pending or processing (the cards stored so far are shown),
4 the request or build is unknown, or Postgres could not be read.`,
		Example: `  destill view 5b0e…
  destill view --build https://buildkite.com/acme/api/builds/1234
  destill view --format jsonl 5b0e… | jq .history`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.build == "" && len(args) == 0:
				return usageError{errors.New("view needs a request id or --build <url>")}
			case o.build == "" && len(args) > 1:
				return usageError{fmt.Errorf("view takes one request id, not %d arguments", len(args))}
			case o.build != "" && len(args) != 0:
				return usageError{errors.New("give a request id or --build, not both")}
			case len(args) == 1:
				if err := contracts.CheckRequestID(args[0]); err != nil {
					return usageError{err}
				}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return a.view(cmd.Context(), id, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.build, "build", "", "open the latest request of this build URL")
	f.StringVarP(&o.format, "format", "f", "", "output: text, json or jsonl; default the terminal UI on a terminal, json otherwise")
	f.IntVar(&o.limit, "limit", 20, "text output: show at most this many cards (0: all)")
	return cmd
}

func (a *app) view(ctx context.Context, id string, o viewOptions) error {
	switch o.format {
	case "", "text", "json", "jsonl":
	default:
		return usageError{fmt.Errorf("unknown --format %q: use text, json or jsonl", o.format)}
	}
	if o.limit < 0 {
		return usageError{fmt.Errorf("--limit %d: give 0 (all) or a positive number", o.limit)}
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return noStatus(err)
	}
	defer st.Close()
	if o.build != "" {
		if id, err = st.LatestRequest(ctx, o.build); err != nil {
			return noStatus(notFound(err, "build "+o.build))
		}
	}
	req, err := st.Request(ctx, id)
	if err != nil {
		return noStatus(notFound(err, "request "+id))
	}
	findings, err := st.Findings(ctx, id)
	if err != nil {
		return noStatus(err)
	}

	format := o.format
	if format == "" {
		if a.isTerminal(a.stdio.Out) {
			// The terminal UI shows a failed request's error itself.
			if err := a.viewTUI(ctx, req, findings); err != nil && !errors.Is(err, pipeline.ErrRequestFailed) {
				return err
			}
			return viewExit(req)
		}
		format = "json"
	}
	ranked := rankStored(findings)
	switch format {
	case "json":
		enc := json.NewEncoder(a.stdio.Out)
		enc.SetIndent("", "  ")
		err = enc.Encode(ranked)
	case "jsonl":
		enc := json.NewEncoder(a.stdio.Out)
		for _, f := range ranked {
			if err = enc.Encode(f); err != nil {
				break
			}
		}
	default:
		err = writeFindingsText(a.stdio.Out, req, ranked, len(findings), o.limit)
	}
	if err != nil {
		return err
	}
	return viewExit(req)
}

// viewExit gives view the exit status status has for the request's state;
// its message, on stderr, says why a request failed, or that one still
// running shows only the cards stored so far.
func viewExit(r postgres.Request) error {
	switch r.State {
	case pipeline.StateCompleted:
		return nil
	case pipeline.StateFailed:
		return statusExit(r)
	}
	return exitError{code: exitRunning, err: fmt.Errorf("request %s is still %s: these are the cards stored so far (destill status --watch %s waits until it is done)",
		r.RequestID, r.State, r.RequestID)}
}

// storedFinding is a group of stored cards as destill run shows it (one card
// per message hash, ranked) with the message's history across builds.
type storedFinding struct {
	report.Finding
	History postgres.History `json:"history"`
}

// rankStored groups and ranks stored cards exactly as destill run does, so a
// stored request reads the same as a local run of the same logs.
func rankStored(fs []postgres.Finding) []storedFinding {
	col := report.NewCollector()
	hist := make(map[string]postgres.History, len(fs))
	for _, f := range fs {
		col.Add(f.TriageCard)
		hist[f.MessageHash] = f.History
	}
	groups := col.Findings(nil)
	out := make([]storedFinding, len(groups))
	for i, g := range groups {
		out[i] = storedFinding{Finding: g, History: hist[g.MessageHash]}
	}
	return out
}

// writeFindingsText prints cards with their history for a reader: a
// header with the request's state (and error), how many cards stand for how
// many stored findings, then the cards.
func writeFindingsText(w io.Writer, r postgres.Request, fs []storedFinding, stored, limit int) error {
	var b strings.Builder
	title := r.BuildURL
	if title == "" {
		title = r.RequestID
	}
	counts := plural(len(fs), "card") + " from " + plural(stored, "finding")
	if !r.State.Done() {
		counts += " so far"
	}
	fmt.Fprintf(&b, "%s — %s, %s\n", report.Sanitize(title), r.State, counts)
	if r.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", report.Sanitize(r.Error))
	}
	shown := fs
	if limit > 0 && len(shown) > limit {
		shown = shown[:limit]
	}
	for i, f := range shown {
		job := f.Job.Name
		if job == "" {
			job = f.Job.ID
		}
		rec := ""
		if f.Recurrence > 1 {
			rec = fmt.Sprintf("  ×%d", f.Recurrence)
		}
		fmt.Fprintf(&b, "\n%d. %-5s %.2f  %s:%d%s  %s\n", i+1, f.Severity, f.ConfidenceScore, report.Sanitize(job), f.LineNumber, rec, historyText(f.History))
		fmt.Fprintf(&b, "   %s\n", report.Sanitize(f.Message))
	}
	if len(shown) < len(fs) {
		fmt.Fprintf(&b, "\n… %d more (--limit 0 shows all)\n", len(fs)-len(shown))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func historyText(h postgres.History) string {
	if !h.SeenBefore {
		if h.Builds > 1 {
			return fmt.Sprintf("[first seen here; since then in %s]", plural(int(h.Builds), "build"))
		}
		return "[new]"
	}
	return fmt.Sprintf("[recurring: %s, %s, first %s, last %s]",
		plural(int(h.Builds), "build"), plural(int(h.Occurrences), "time"), h.FirstSeen.UTC().Format("2006-01-02"), h.LastSeen.UTC().Format("2006-01-02"))
}

// viewTUI opens the terminal UI over the stored request: its jobs as
// progress events, then its cards with their history in Metadata.
func (a *app) viewTUI(ctx context.Context, r postgres.Request, fs []postgres.Finding) error {
	feed := tui.FeedFunc(func(ctx context.Context, fn func(pipeline.Event) error) error {
		for _, ev := range storedEvents(r, fs) {
			if err := fn(ev); err != nil {
				return err
			}
		}
		if r.State == pipeline.StateFailed {
			return fmt.Errorf("%w: %s", pipeline.ErrRequestFailed, r.Error)
		}
		return nil
	})
	title := r.BuildURL
	if title == "" {
		title = "request " + r.RequestID
	}
	return tui.Run(ctx, feed, tui.Options{Title: title, NoColor: !a.color(a.stdio.Out), In: a.stdio.In, Out: a.stdio.Out})
}

// storedEvents replays a stored request as pipeline events.
func storedEvents(r postgres.Request, fs []postgres.Finding) []pipeline.Event {
	var evs []pipeline.Event
	t := time.Now()
	if r.StartedAt != nil {
		t = *r.StartedAt
	}
	evs = append(evs, pipeline.Event{Progress: &contracts.Progress{Version: contracts.Version, RequestID: r.RequestID,
		Kind: contracts.ProgressRequestStarted, Jobs: r.JobsTotal, Time: t}})
	for _, j := range r.Jobs {
		base := contracts.Progress{Version: contracts.Version, RequestID: r.RequestID, JobID: j.ID, JobName: j.Name,
			JobURL: j.URL, JobOutcome: j.Outcome, Time: t}
		disc := base
		disc.Kind = contracts.ProgressJobDiscovered
		evs = append(evs, pipeline.Event{Progress: &disc})
		chunks := 0
		if j.Chunks != nil {
			chunks = *j.Chunks
		}
		for i := 0; i < j.ChunksAnalyzed; i++ {
			c := base
			c.Kind, c.ChunkIndex = contracts.ProgressChunkAnalyzed, i
			evs = append(evs, pipeline.Event{Progress: &c})
		}
		switch j.State {
		case "done", "failed":
			end := base
			end.Kind, end.Chunks, end.Error = contracts.ProgressJobDone, chunks, j.Error
			if j.State == "failed" {
				end.Kind = contracts.ProgressJobFailed
			}
			evs = append(evs, pipeline.Event{Progress: &end})
		}
	}
	for i := range fs {
		c := fs[i].TriageCard
		h := fs[i].History
		meta := make(map[string]string, len(c.Metadata)+6)
		for k, v := range c.Metadata {
			meta[k] = v
		}
		meta[findings.MetaSeenBefore] = strconv.FormatBool(h.SeenBefore)
		meta[findings.MetaBuilds] = strconv.FormatInt(h.Builds, 10)
		meta[findings.MetaOccurrences] = strconv.FormatInt(h.Occurrences, 10)
		meta[findings.MetaFirstSeen] = h.FirstSeen.UTC().Format(time.RFC3339)
		meta[findings.MetaLastSeen] = h.LastSeen.UTC().Format(time.RFC3339)
		meta[findings.MetaMaxSeverity] = h.MaxSeverity.String()
		c.Metadata = meta
		evs = append(evs, pipeline.Event{Card: &c})
	}
	if r.State == pipeline.StateFailed {
		evs = append(evs, pipeline.Event{Progress: &contracts.Progress{Version: contracts.Version, RequestID: r.RequestID,
			Kind: contracts.ProgressRequestFailed, Error: r.Error, Time: t}})
	}
	return evs
}
