package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

func (a *app) runCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "run <build-url|log-file...>",
		Short: "Analyse a build or log files and print ranked triage cards",
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("not implemented yet")
		},
	}
}
