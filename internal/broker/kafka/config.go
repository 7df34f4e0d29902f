package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Environment variables read by ConfigFromEnv.
const (
	EnvBrokers       = "REDPANDA_BROKERS"         // comma-separated host:port list
	EnvTLS           = "REDPANDA_TLS"             // "true" enables TLS with the system roots
	EnvTLSCAFile     = "REDPANDA_TLS_CA_FILE"     // PEM roots to verify the brokers; implies TLS
	EnvTLSCertFile   = "REDPANDA_TLS_CERT_FILE"   // PEM client certificate; implies TLS
	EnvTLSKeyFile    = "REDPANDA_TLS_KEY_FILE"    // PEM client key for the certificate
	EnvTLSServerName = "REDPANDA_TLS_SERVER_NAME" // overrides the name verified in broker certificates
	EnvSASLMechanism = "REDPANDA_SASL_MECHANISM"  // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	EnvSASLUser      = "REDPANDA_SASL_USERNAME"
	EnvSASLPassword  = "REDPANDA_SASL_PASSWORD"
)

// DefaultMaxMessageBytes is the largest record the client produces unless
// Config.MaxMessageBytes says otherwise. Topics made by destill allow
// TopicMaxMessageBytes, a little more, so a full batch always fits.
const (
	DefaultMaxMessageBytes = 8 << 20
	TopicMaxMessageBytes   = DefaultMaxMessageBytes + 1<<20
)

// Config says how to reach the cluster and how consumers behave. The zero
// value, with Brokers set, is a production configuration.
type Config struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string

	// TLS enables TLS with the system roots. Setting CAFile or CertFile
	// enables it too.
	TLS bool
	// CAFile is a PEM bundle of roots that verify the brokers' certificates.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// mutual TLS.
	CertFile string
	KeyFile  string
	// ServerName overrides the host name verified in broker certificates.
	ServerName string

	// SASLMechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512".
	SASLMechanism string
	SASLUser      string
	SASLPassword  string

	// ClientID names this client to the brokers; default "destill".
	ClientID string

	// MaxMessageBytes bounds a produced record batch, and so the largest
	// record; default DefaultMaxMessageBytes. Topics must allow at least
	// this much (max.message.bytes), as `destill topics create` makes them.
	MaxMessageBytes int32

	// SessionTimeout, RebalanceTimeout and HeartbeatInterval tune consumer
	// group membership; defaults 45 s, 60 s and 3 s (franz-go's). A member
	// that stops heartbeating for SessionTimeout leaves the group and its
	// uncommitted messages go to the others. Tests lower them; the broker
	// must allow the session timeout (group.min.session.timeout.ms).
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration

	// RetryBackoff is the first wait before a failed handler runs again on
	// the same message; it doubles up to MaxRetryBackoff. Defaults 100 ms
	// and 10 s.
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration

	// FetchMaxWait is how long the broker holds a fetch that found no
	// data; default 500 ms. A partition assigned while a fetch is held
	// waits for it, so a long wait delays the first records after a
	// rebalance (franz-go's own default is 5 s).
	FetchMaxWait time.Duration

	// MaxPollRecords bounds how many fetched records a subscriber holds
	// between commits; default 64.
	MaxPollRecords int

	// DrainTimeout is how long a handler already running when Subscribe's
	// context ends may continue before its own context is canceled, so an
	// agent stopping on SIGTERM finishes (and commits) in-flight work.
	// Default 0: cancel at once.
	DrainTimeout time.Duration

	// CommitTimeout bounds the final commit when a subscriber stops;
	// default 10 s.
	CommitTimeout time.Duration

	// Dial, if set, opens connections to brokers (a proxy, or a test that
	// cuts a member off). TLS, if enabled, is layered on top.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Logger receives the client's warnings and errors; default discards.
	Logger *slog.Logger
}

// ConfigFromEnv reads the Redpanda settings from the environment through
// getenv. It returns an error naming the variable that is malformed; an
// unset REDPANDA_BROKERS yields a Config with no Brokers (check Enabled).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, b := range strings.Split(getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	if v := strings.TrimSpace(getenv(EnvTLS)); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return Config{}, fmt.Errorf("kafka: %s=%q: want true or false", EnvTLS, v)
		}
		c.TLS = on
	}
	c.CAFile = getenv(EnvTLSCAFile)
	c.CertFile = getenv(EnvTLSCertFile)
	c.KeyFile = getenv(EnvTLSKeyFile)
	c.ServerName = getenv(EnvTLSServerName)
	c.SASLMechanism = strings.ToUpper(strings.TrimSpace(getenv(EnvSASLMechanism)))
	c.SASLUser = getenv(EnvSASLUser)
	c.SASLPassword = getenv(EnvSASLPassword)
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Enabled reports whether brokers are configured.
func (c Config) Enabled() bool { return len(c.Brokers) > 0 }

func (c Config) validate() error {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return fmt.Errorf("kafka: %s and %s must be set together", EnvTLSCertFile, EnvTLSKeyFile)
	}
	switch c.SASLMechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASLUser == "" {
			return fmt.Errorf("kafka: SASL mechanism %s needs %s", c.SASLMechanism, EnvSASLUser)
		}
	default:
		return fmt.Errorf("kafka: %s=%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", EnvSASLMechanism, c.SASLMechanism)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "destill"
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 100 * time.Millisecond
	}
	if c.MaxRetryBackoff <= 0 {
		c.MaxRetryBackoff = 10 * time.Second
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		c.MaxRetryBackoff = c.RetryBackoff
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 64
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.TLS && c.CAFile == "" && c.CertFile == "" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: CA file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (c Config) saslMechanism() sasl.Mechanism {
	switch c.SASLMechanism {
	case "PLAIN":
		return plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsSha512Mechanism()
	}
	return nil
}

// clientOpts are the options every client of this Config shares.
func (c Config) clientOpts() ([]kgo.Opt, error) {
	if len(c.Brokers) == 0 {
		return nil, fmt.Errorf("kafka: no brokers configured (set %s)", EnvBrokers)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.ProducerBatchMaxBytes(c.MaxMessageBytes),
		kgo.FetchMaxWait(c.FetchMaxWait),
		// Publish waits for each record's acknowledgement, so lingering
		// for a fuller batch only adds latency to every call.
		kgo.ProducerLinger(0),
		kgo.WithLogger(slogAdapter{c.Logger}),
	}
	// Reads must fit the largest batch a fetch can return.
	if want := c.MaxMessageBytes + 1<<20; want > 100<<20 {
		opts = append(opts, kgo.BrokerMaxReadBytes(want))
	}
	switch {
	case c.Dial != nil && tc != nil:
		dial := c.Dial
		opts = append(opts, kgo.Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			cfg := tc.Clone()
			if cfg.ServerName == "" {
				host, _, _ := net.SplitHostPort(addr)
				cfg.ServerName = host
			}
			return tls.Client(conn, cfg), nil
		}))
	case c.Dial != nil:
		opts = append(opts, kgo.Dialer(c.Dial))
	case tc != nil:
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := c.saslMechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// groupOpts tune consumer group membership.
func (c Config) groupOpts() []kgo.Opt {
	var opts []kgo.Opt
	if c.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.SessionTimeout))
	}
	if c.RebalanceTimeout > 0 {
		opts = append(opts, kgo.RebalanceTimeout(c.RebalanceTimeout))
	}
	if c.HeartbeatInterval > 0 {
		opts = append(opts, kgo.HeartbeatInterval(c.HeartbeatInterval))
	}
	return opts
}

// slogAdapter forwards franz-go's log lines to slog.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Level() kgo.LogLevel {
	ctx := context.Background()
	// franz-go's info lines (every join, every metadata change) are
	// debug detail for an agent.
	switch {
	case a.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelInfo
	case a.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case a.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

func (a slogAdapter) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var l slog.Level
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	default:
		l = slog.LevelDebug
	}
	a.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}
