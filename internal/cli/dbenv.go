package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/destill-ci/destill/internal/store/postgres"
)

// envDatabaseURL names the Postgres of the agentic data plane.
const envDatabaseURL = "DATABASE_URL"

// defaultDatabaseURL matches docker/docker-compose.yml.
const defaultDatabaseURL = "postgres://destill:destill@localhost:5432/destill?sslmode=disable"

func (a *app) databaseURL() string {
	if u := strings.TrimSpace(a.getenv(envDatabaseURL)); u != "" {
		return u
	}
	return defaultDatabaseURL
}

// redactURL hides the password of a database URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(" + envDatabaseURL + ")"
	}
	return u.Redacted()
}

// openStore connects to Postgres and checks that it answers.
func (a *app) openStore(ctx context.Context) (*postgres.Store, error) {
	raw := a.databaseURL()
	st, err := a.connectStore(ctx)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := st.Ping(pctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("cannot reach Postgres at %s: %w (set %s, or start docker compose -f docker/docker-compose.yml up postgres)",
			redactURL(raw), err, envDatabaseURL)
	}
	return st, nil
}

// connectStore prepares the connections to Postgres without checking that
// it answers: the first query connects.
func (a *app) connectStore(ctx context.Context) (*postgres.Store, error) {
	raw := a.databaseURL()
	st, err := postgres.Open(ctx, raw, postgres.Config{})
	if err != nil {
		return nil, fmt.Errorf("database %s: %w (set %s)", redactURL(raw), err, envDatabaseURL)
	}
	return st, nil
}

// notFound turns a store's ErrNotFound into a clear user-facing error.
func notFound(err error, what string) error {
	if errors.Is(err, postgres.ErrNotFound) {
		return fmt.Errorf("%s is unknown: nothing recorded for it (check the id; results appear once destill sink or Redpanda Connect has stored them)", what)
	}
	return err
}
