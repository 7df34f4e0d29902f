// Package pgtest gives tests a real, throwaway PostgreSQL server.
//
// Start runs PostgreSQL 15 from /usr/lib/postgresql/15/bin (or PGTEST_BINDIR)
// in a fresh directory, on a unix socket only, with fsync off. When the
// process runs as root, initdb and postgres run as the postgres user, which
// they require. DESTILL_TEST_DATABASE_URL points the tests at an existing
// server instead (its user must be allowed to create databases).
//
// Without either, tests skip, except when CI=true: there a missing server is
// a failure.
package pgtest

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points tests at an existing server.
const EnvURL = "DESTILL_TEST_DATABASE_URL"

// EnvDurable, when set, keeps the throwaway server's durability settings
// (fsync, synchronous commit, full page writes) at Postgres's defaults, for
// benchmarks that should pay what a real server pays per commit.
const EnvDurable = "PGTEST_DURABLE"

// DefaultBinDir holds initdb and postgres.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// Server is a PostgreSQL server for tests.
type Server struct {
	adminURL string // connects to database postgres
	external bool

	binDir string
	dir    string // owned by the server user: data/ and the socket
	cred   *syscall.Credential

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
	log  *bytes.Buffer
}

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
	dbSeq      atomic.Int64
)

// Main runs the tests of a package and then stops the shared server, if one
// was started. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	return code
}

// Shared returns the package's shared server, starting it on first use. Its
// lifetime ends with Main. Tests that stop the server must use Start instead.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			shared, sharedErr = &Server{adminURL: u, external: true}, nil
			return
		}
		shared, sharedErr = start()
	})
	if sharedErr != nil {
		unavailable(tb, sharedErr)
	}
	return shared
}

// Start starts a private server that the test may stop and restart; it is
// removed when the test ends. It always runs local binaries.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(s.Close)
	return s
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("pgtest: no PostgreSQL server (CI=true, so this fails rather than skips): %v", err)
	}
	tb.Skipf("pgtest: no PostgreSQL server (set %s or install PostgreSQL 15): %v", EnvURL, err)
}

func start() (*Server, error) {
	binDir := os.Getenv("PGTEST_BINDIR")
	if binDir == "" {
		binDir = DefaultBinDir
	}
	if _, err := os.Stat(filepath.Join(binDir, "postgres")); err != nil {
		return nil, fmt.Errorf("postgres binary: %w", err)
	}
	dir, err := os.MkdirTemp("", "destill-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{binDir: binDir, dir: dir}
	username := ""
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		username = "postgres"
	} else {
		u, err := user.Current()
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		username = u.Username
	}
	var out bytes.Buffer
	initdb := exec.Command(filepath.Join(binDir, "initdb"), "-D", s.dataDir(), "-U", username,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Stdout, initdb.Stderr = &out, &out
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if err := initdb.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out.String())
	}
	s.adminURL = fmt.Sprintf("host=%s port=5432 user=%s dbname=postgres sslmode=disable", dir, username)
	if err := s.Restart(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// Restart starts the server if it is stopped and waits until it accepts
// connections.
func (s *Server) Restart() error {
	if s.external {
		return fmt.Errorf("pgtest: cannot start an external server")
	}
	s.mu.Lock()
	if s.cmd != nil {
		s.mu.Unlock()
		return nil
	}
	s.log = &bytes.Buffer{}
	args := []string{"-D", s.dataDir(), "-k", s.dir, "-p", "5432", "-c", "listen_addresses=",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB"}
	if os.Getenv(EnvDurable) == "" {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, s.adminURL)
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("pgtest: postgres exited: %s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after 30s: %v", err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval while the server boots
	}
}

// Stop shuts the server down (fast shutdown: open connections are cut) and
// waits for it to exit. Restart starts it again with the same data.
func (s *Server) Stop() error {
	if s.external {
		return fmt.Errorf("pgtest: cannot stop an external server")
	}
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	return nil
}

// Close stops the server and removes its files.
func (s *Server) Close() {
	if s.external {
		return
	}
	s.Stop()
	os.RemoveAll(s.dir)
}

// CreateDatabase creates an empty database for one test, dropped when the
// test ends, and returns its URL.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("destill_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.adminURL)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.adminURL)
		if err != nil {
			return // the server is gone; its files go with it
		}
		defer conn.Close(ctx)
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(s.adminURL, name)
}

// URL returns the URL of the server's postgres database.
func (s *Server) URL() string { return s.adminURL }

// withDatabase replaces the database of a URL or key=value DSN.
func withDatabase(dsn, name string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			u.Path = "/" + name
			return u.String()
		}
	}
	var parts []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "dbname=") {
			parts = append(parts, f)
		}
	}
	return strings.Join(append(parts, "dbname="+name), " ")
}
