package cli

import (
	"bufio"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/destill-ci/destill/internal/analyze"
)

func (a *app) normalizeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "normalize [message...]",
		Short: "Print the message hash and normalized text of log lines",
		Long: "normalize shows how destill groups messages: for each argument, or each line of standard input\n" +
			"when there are none, it prints the message hash, a tab and the normalized message.\n" +
			"Lines that differ only in what varies between runs (times, ids, counters, temp paths) share a hash.",
		Example: "  destill normalize 'error: build took 12.5s in /tmp/go-build123'\n  grep error build.log | destill normalize",
		RunE: func(cmd *cobra.Command, args []string) error {
			out := bufio.NewWriter(a.stdio.Out)
			defer out.Flush()
			emit := func(line string) {
				n := analyze.Normalize(analyze.Clean(line))
				fmt.Fprintf(out, "%s\t%s\n", analyze.Hash(n), n)
			}
			if len(args) > 0 {
				for _, arg := range args {
					emit(arg)
				}
				return nil
			}
			sc := bufio.NewScanner(a.stdio.In)
			sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
			for sc.Scan() {
				emit(sc.Text())
			}
			if err := sc.Err(); err != nil {
				return fmt.Errorf("normalize: read standard input: %w", err)
			}
			return nil
		},
	}
}
