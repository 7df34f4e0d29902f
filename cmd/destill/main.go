// Command destill finds why a CI build failed.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/destill-ci/destill/internal/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels the command, which says which
	// signal ended it in its exit status.
	ctx, cancel := context.WithCancelCause(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		if s, ok := <-sig; ok {
			cancel(cli.Signaled{Signal: s})
		}
	}()
	code := cli.Main(ctx, os.Args[1:], cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Getenv)
	signal.Stop(sig)
	os.Exit(code)
}
