// Package cli holds destill's commands: the only place that reads flags and
// the environment and wires adapters together.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/spf13/cobra"
)

// Stdio is the process's standard streams.
type Stdio struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// app carries what every command needs.
type app struct {
	stdio  Stdio
	getenv func(string) string
	// stopProfile ends the CPU profile that --cpuprofile started.
	stopProfile func()
	// terminal reports whether a stream is a terminal; nil asks the
	// operating system (tests set it).
	terminal func(stream any) bool
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the operation could not be done
	exitUsage   = 2 // the command line was wrong
	exitPartial = 3 // run: results printed, but some job logs could not be read in full
)

// usageError marks an error the user fixes by changing the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an explicit exit code (e.g. status of a failed request).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// Main runs destill with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdio Stdio, getenv func(string) string) int {
	a := &app{stdio: stdio, getenv: getenv}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdio.In)
	root.SetOut(stdio.Out)
	root.SetErr(stdio.Err)
	err := root.ExecuteContext(ctx)
	if a.stopProfile != nil {
		a.stopProfile()
	}
	if errors.Is(err, context.Canceled) {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
	}
	return a.exitCode(err)
}

// Signaled is the cause of a command's cancellation by a signal.
type Signaled struct{ Signal os.Signal }

func (s Signaled) Error() string {
	if s.Signal == syscall.SIGTERM {
		return "terminated"
	}
	return "interrupted"
}

// exitCode maps an error to an exit code and reports it: the one place that
// does so.
func (a *app) exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var sig Signaled
	if errors.As(err, &sig) || errors.Is(err, context.Canceled) {
		fmt.Fprintf(a.stdio.Err, "destill: %s\n", sig.Error())
		// 128 + the signal's number, as shells report it.
		if sig.Signal == syscall.SIGTERM {
			return 128 + int(syscall.SIGTERM)
		}
		return 128 + int(syscall.SIGINT)
	}
	if strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err}
	}
	// An error can quote a file name, a URL or a log line: whatever escape
	// sequence it holds must not reach the terminal.
	fmt.Fprintf(a.stdio.Err, "destill: %s\n", sanitize.Text(err.Error()))
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "destill",
		Short:         "Find why a CI build failed",
		Long:          "destill reads every job log of a CI build and shows the lines that explain the failure as ranked triage cards.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// A CPU profile of any command, for performance reports.
	var profile string
	root.PersistentFlags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the command to this file")
	root.PersistentFlags().MarkHidden("cpuprofile")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if profile == "" {
			return nil
		}
		f, err := os.Create(profile)
		if err != nil {
			return usageError{fmt.Errorf("--cpuprofile: %w", err)}
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		a.stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		return nil
	}
	root.AddCommand(
		a.runCmd(),
		a.normalizeCmd(),
		a.migrateCmd(), a.sinkCmd(), a.statusCmd(), a.viewCmd(), a.pruneCmd(),
		a.devCmd(),
		a.topicsCmd(),
		a.ingestCmd(),
		a.analyzeCmd(),
	)
	return root
}
