package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline"
	"github.com/destill-ci/destill/internal/report"
	"github.com/destill-ci/destill/internal/store/postgres"
)

// Exit codes of destill status and destill view beyond exitOK (completed)
// and exitUsage.
const (
	exitRequestFailed = 1 // the request failed
	exitRunning       = 3 // still pending or processing (without --watch)
	exitNoStatus      = 4 // the request is unknown, or Postgres could not be read
)

// pgReadTimeout bounds one read of a followed request, so that a server
// that stops answering is retried rather than waited for forever.
const pgReadTimeout = 15 * time.Second

type statusOptions struct {
	watch    bool
	interval time.Duration
	pgWait   time.Duration
	format   string
}

func (a *app) statusCmd() *cobra.Command {
	var o statusOptions
	cmd := &cobra.Command{
		Use:   "status <request-id>",
		Short: "Show a request's state and progress from Postgres",
		Long: `Show where a request of the agentic data plane stands: its state, jobs
and chunks done, findings stored and timing, as recorded in the Postgres at
DATABASE_URL.

--watch follows the request until it completes or fails. While Postgres
cannot answer (it restarts, a connection breaks, no connection slot is
left), --watch says once on stderr that it waits for it and keeps trying,
for up to --postgres-wait per outage.

Exit status: 0 completed, 1 failed, 2 a wrong command line, 3 still pending
or processing, 4 no state to tell: the request is unknown, or Postgres could
not be read (unreachable, refusing, or an outage longer than
--postgres-wait).`,
		Example: `  destill status 5b0e…
  destill status --watch 5b0e…`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{errors.New("status needs one request id (destill run prints it)")}
			}
			if err := contracts.CheckRequestID(args[0]); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.status(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.watch, "watch", "w", false, "follow the request until it completes or fails")
	f.DurationVar(&o.interval, "interval", time.Second, "with --watch, how often to poll")
	f.DurationVar(&o.pgWait, "postgres-wait", 5*time.Minute, "with --watch, how long to keep retrying while Postgres cannot answer (0: give up at once)")
	f.StringVarP(&o.format, "format", "f", "text", "output: text or json")
	return cmd
}

func (a *app) status(ctx context.Context, id string, o statusOptions) error {
	if o.format != "text" && o.format != "json" {
		return usageError{fmt.Errorf("unknown --format %q: use text or json", o.format)}
	}
	if o.interval <= 0 {
		o.interval = time.Second
	}
	if o.pgWait < 0 {
		return usageError{fmt.Errorf("--postgres-wait %s: give 0 (do not wait) or a positive duration", o.pgWait)}
	}
	if o.watch {
		return noStatus(a.watchStatus(ctx, id, o))
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return noStatus(err)
	}
	defer st.Close()
	r, err := st.Request(ctx, id)
	if err != nil {
		return noStatus(notFound(err, "request "+id))
	}
	if err := a.writeStatus(a.stdio.Out, r, o.format, time.Now()); err != nil {
		return err
	}
	return statusExit(r)
}

// watchStatus follows a request until it completes or fails, waiting out
// Postgres outages.
func (a *app) watchStatus(ctx context.Context, id string, o statusOptions) error {
	st, err := a.connectStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	pg := &pgWaiter{errOut: a.stdio.Err, where: redactURL(a.databaseURL()), limit: o.pgWait}
	var (
		last    string
		waiting = time.Now()
	)
	for {
		rctx, cancel := context.WithTimeout(ctx, pgReadTimeout)
		r, err := st.Request(rctx, id)
		cancel()
		switch {
		case errors.Is(err, postgres.ErrNotFound) && time.Since(waiting) < 30*time.Second:
			// A request just submitted appears once the sink stores it.
			pg.ok()
			if last == "" {
				last = "waiting"
				fmt.Fprintf(a.stdio.Err, "request %s is not recorded yet; waiting up to 30s for the sink to store it\n", report.Sanitize(id))
			}
		case err != nil:
			if err := pg.retry(ctx, err); err != nil {
				return notFound(err, "request "+id)
			}
			continue // pg.retry has waited
		case r.State.Done():
			if err := a.writeStatus(a.stdio.Out, r, o.format, time.Now()); err != nil {
				return err
			}
			return statusExit(r)
		default:
			pg.ok()
			if line := progressLine(r); line != last && o.format == "text" {
				fmt.Fprintln(a.stdio.Err, line)
				last = line
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(o.interval):
		}
	}
}

// noStatus gives an error that leaves a request's state unknown (Postgres
// unreachable, the request unknown) its own exit status, so that it is not
// taken for the request's failure.
func noStatus(err error) error {
	var ee exitError
	var ue usageError
	var sig Signaled
	if err == nil || errors.As(err, &ee) || errors.As(err, &ue) || errors.As(err, &sig) || errors.Is(err, context.Canceled) {
		return err
	}
	return exitError{code: exitNoStatus, err: err}
}

// statusExit maps a request's state to the exit status.
func statusExit(r postgres.Request) error {
	switch r.State {
	case pipeline.StateCompleted:
		return nil
	case pipeline.StateFailed:
		return exitError{code: exitRequestFailed, err: fmt.Errorf("request %s failed: %s", r.RequestID, report.Sanitize(r.Error))}
	}
	return exitError{code: exitRunning, err: fmt.Errorf("request %s is still %s (use --watch to wait)", r.RequestID, r.State)}
}

func progressLine(r postgres.Request) string {
	return fmt.Sprintf("%s: jobs %d/%d, chunks %d/%s, %d findings", r.State, r.JobsDone, r.JobsTotal, r.ChunksAnalyzed, chunksTotal(r), r.Findings)
}

// chunksTotal is a request's chunk count, known once every job is read.
func chunksTotal(r postgres.Request) string {
	if r.JobsDone < r.JobsTotal || r.JobsTotal == 0 && !r.State.Done() {
		return "?"
	}
	return fmt.Sprint(r.ChunksTotal)
}

func (a *app) writeStatus(w io.Writer, r postgres.Request, format string, now time.Time) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "request   %s\n", r.RequestID)
	if r.BuildURL != "" {
		fmt.Fprintf(&b, "build     %s\n", report.Sanitize(r.BuildURL))
	}
	fmt.Fprintf(&b, "state     %s\n", r.State)
	if r.Error != "" {
		fmt.Fprintf(&b, "error     %s\n", report.Sanitize(r.Error))
	}
	fmt.Fprintf(&b, "jobs      %d/%d done\n", r.JobsDone, r.JobsTotal)
	fmt.Fprintf(&b, "chunks    %d/%s analyzed\n", r.ChunksAnalyzed, chunksTotal(r))
	fmt.Fprintf(&b, "findings  %d\n", r.Findings)
	if r.SubmittedAt != nil {
		fmt.Fprintf(&b, "submitted %s (%s ago)\n", r.SubmittedAt.UTC().Format(time.RFC3339), now.Sub(*r.SubmittedAt).Round(time.Second))
	}
	if r.StartedAt != nil {
		fmt.Fprintf(&b, "started   %s\n", r.StartedAt.UTC().Format(time.RFC3339))
	}
	if r.CompletedAt != nil {
		fmt.Fprintf(&b, "finished  %s", r.CompletedAt.UTC().Format(time.RFC3339))
		if r.StartedAt != nil {
			fmt.Fprintf(&b, " (took %s)", r.CompletedAt.Sub(*r.StartedAt).Round(time.Millisecond))
		}
		b.WriteString("\n")
	}
	for i, j := range r.Jobs {
		if i == 0 {
			b.WriteString("\n")
		}
		name := j.Name
		if name == "" {
			name = j.ID
		}
		chunks := "?"
		if j.Chunks != nil {
			chunks = fmt.Sprint(*j.Chunks)
		}
		fmt.Fprintf(&b, "  %-9s %s  chunks %d/%s  findings %d", j.State, report.Sanitize(name), j.ChunksAnalyzed, chunks, j.Findings)
		if j.Error != "" {
			fmt.Fprintf(&b, "  error: %s", report.Sanitize(j.Error))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
