package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the Postgres schema (DATABASE_URL)",
		Long: `Apply the schema migrations that the database at DATABASE_URL lacks.
destill sink also does this when it starts; docker compose initialises the
same schema from docker/init-db.sql.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			applied, err := st.Migrate(ctx)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(a.stdio.Out, "schema is up to date")
			}
			for _, m := range applied {
				fmt.Fprintf(a.stdio.Out, "applied %04d_%s\n", m.Version, m.Name)
			}
			return nil
		},
	}
}
