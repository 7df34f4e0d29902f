package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/destill-ci/destill/internal/store/postgres"
)

func TestIsTransient(t *testing.T) {
	dialRefused := func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = pgconn.Connect(context.Background(), "postgres://u@"+addr+"/d?sslmode=disable&connect_timeout=5")
		return err
	}()
	noSocket := func() error {
		_, err := pgconn.Connect(context.Background(), "host="+filepath.Join(t.TempDir(), "gone")+" user=u dbname=d sslmode=disable")
		return err
	}()
	pg := func(code string) error {
		return fmt.Errorf("postgres: read request r: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: "m"})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", dialRefused, true},
		{"unix socket gone", noSocket, true},
		{"shutting down (57P03)", pg("57P03"), true},
		{"admin shutdown (57P01)", pg("57P01"), true},
		{"crash shutdown (57P02)", pg("57P02"), true},
		{"too many connections (53300)", pg("53300"), true},
		{"connection failure (08006)", pg("08006"), true},
		{"server closed the connection", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"no answer in time", fmt.Errorf("read: %w", context.DeadlineExceeded), true},
		{"wrong password (28P01)", pg("28P01"), false},
		{"unknown database (3D000)", pg("3D000"), false},
		{"database dropped (57P04)", pg("57P04"), false},
		{"not migrated (42P01)", pg("42P01"), false},
		{"disk full (53100)", pg("53100"), false},
		{"unknown request", fmt.Errorf("x: %w", postgres.ErrNotFound), false},
		{"bad URL", postgres.ErrBadURL{Err: errors.New("bad")}, false},
		{"canceled", context.Canceled, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := postgres.IsTransient(tt.err); got != tt.want {
				t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
