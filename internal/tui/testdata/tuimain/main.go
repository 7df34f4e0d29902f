// Command tuimain opens destill's terminal UI over the local pipeline
// analysing log files: what `destill run <file>` does on a terminal. The
// end-to-end test runs it in tmux when the CLI does not open the UI itself.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/pipeline/local"
	"github.com/destill-ci/destill/internal/source"
	"github.com/destill-ci/destill/internal/source/file"
	"github.com/destill-ci/destill/internal/tui"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tuimain:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, files []string) error {
	src, err := file.New(files, nil)
	if err != nil {
		return err
	}
	p := local.New(local.Config{
		Open: func(context.Context, contracts.AnalysisRequest) (source.Source, error) { return src, nil },
	})
	defer p.Close()
	id, err := p.Submit(ctx, contracts.AnalysisRequest{Version: contracts.Version, Files: files, Timestamp: time.Now().UTC()})
	if err != nil {
		return err
	}
	return tui.Run(ctx, tui.PipelineFeed(p, id), tui.Options{
		Title:     strings.Join(files, " "),
		NoColor:   os.Getenv("NO_COLOR") != "",
		ExportDir: os.Getenv("DESTILL_EXPORT_DIR"),
	})
}
