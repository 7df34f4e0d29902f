package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) pruneCmd() *cobra.Command {
	var olderThan string
	cmd := &cobra.Command{
		Use:   "prune --older-than <age>",
		Short: "Delete stored findings and requests older than an age",
		Long: `Delete findings created before the given age, and requests (with their
progress and findings) not updated since. Ages are Go durations or days:
30d, 12h, 90m.`,
		Example: "  destill prune --older-than 30d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan == "" {
				return usageError{errors.New("prune needs --older-than, e.g. --older-than 30d")}
			}
			age, err := parseAge(olderThan)
			if err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			cutoff := time.Now().Add(-age)
			p, err := st.Prune(ctx, cutoff)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdio.Out, "pruned %d findings and %d requests older than %s\n",
				p.Findings, p.Requests, cutoff.UTC().Format(time.RFC3339))
			return nil
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "age to keep: 30d, 12h, 90m")
	return cmd
}

// parseAge reads a positive duration, accepting whole days as "<n>d".
func parseAge(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("--older-than %q: want a duration like 30d, 12h or 90m", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("--older-than %q: want a duration like 30d, 12h or 90m", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("--older-than %q: must be positive", s)
	}
	return d, nil
}
