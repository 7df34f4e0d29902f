package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/destill-ci/destill/internal/broker/kafka"
	"github.com/destill-ci/destill/internal/sanitize"
)

func (a *app) devCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Development helpers (not for production)",
	}
	cmd.AddCommand(a.devBrokerCmd())
	return cmd
}

func (a *app) devBrokerCmd() *cobra.Command {
	var addr, data string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run a single-node Kafka-protocol broker for a laptop or tests",
		Long: `Run an in-process Kafka-protocol broker (franz-go's kfake) so the agentic
data plane can run on a laptop or in tests without Docker.

It is a development tool, not a production broker: one node, no replication,
and persistence (--data) that is written on a clean stop. Use Redpanda
(docker/docker-compose.yml) for anything that matters.

The broker runs until interrupted (Ctrl-C or SIGTERM). Point destill at it
with REDPANDA_BROKERS=<addr>, then create the topics: destill topics create.`,
		Example: `  destill dev broker --data ~/.cache/destill/broker
  REDPANDA_BROKERS=127.0.0.1:19092 destill topics create`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.devBroker(cmd.Context(), addr, data, verbose)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:19092", "host:port to listen on and advertise (port 0 picks a free one)")
	f.StringVar(&data, "data", "", "directory to persist topics, offsets and groups in (default: memory only)")
	f.BoolVarP(&verbose, "verbose", "v", false, "log the broker's warnings and errors to stderr")
	return cmd
}

func (a *app) devBroker(ctx context.Context, addr, data string, verbose bool) error {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: want host:port", addr)}
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return usageError{fmt.Errorf("--addr %q: bad port", addr)}
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake listens on 127.0.0.1; listen where we were asked to
		// instead, keeping the port it chose.
		kfake.ListenFn(func(network, laddr string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(laddr)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
		kfake.ClusterID("destill-dev"),
		kfake.DefaultNumPartitions(3),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(kafka.TopicMaxMessageBytes)}),
		// Tests run agents with short sessions.
		kfake.GroupMinSessionTimeout(100 * time.Millisecond),
	}
	if verbose {
		opts = append(opts, kfake.WithLogger(kfake.BasicLogger(a.stdio.Err, kfake.LogLevelWarn)))
	}
	if data != "" {
		if err := os.MkdirAll(data, 0o755); err != nil {
			return fmt.Errorf("dev broker: %w", err)
		}
		opts = append(opts, kfake.DataDir(data))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("dev broker: %w", err)
	}
	listen := c.ListenAddrs()[0]
	fmt.Fprintf(a.stdio.Out, "destill dev broker listening on %s\n", listen)
	fmt.Fprintf(a.stdio.Err, "development broker, not for production; stop with Ctrl-C\n  export REDPANDA_BROKERS=%s\n  destill topics create\n", listen)
	<-ctx.Done()
	if data != "" {
		fmt.Fprintf(a.stdio.Err, "saving to %s\n", sanitize.String(data))
	}
	c.Close()
	return nil
}
