// Package connecttest proves that docker/connect.yaml (Redpanda Connect) and
// destill sink write the same rows from the same events: it runs the
// config's Bloblang mappings with the Bloblang engine Redpanda Connect uses,
// executes the resulting SQL against a real Postgres, and compares the tables
// with those the sink wrote. It is a test-only package, so the destill binary
// never links the Bloblang engine.
package connecttest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/redpanda-data/benthos/v4/public/bloblang"
	"github.com/redpanda-data/benthos/v4/public/service"
	"gopkg.in/yaml.v3"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/broker/memory"
	"github.com/destill-ci/destill/internal/sink"
	"github.com/destill-ci/destill/internal/sink/sinktest"
	"github.com/destill-ci/destill/internal/store/pgtest"
	"github.com/destill-ci/destill/internal/store/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// connectConfig is the part of connect.yaml the test executes.
type connectConfig struct {
	Input struct {
		KafkaFranz struct {
			Topics        []string `yaml:"topics"`
			ConsumerGroup string   `yaml:"consumer_group"`
		} `yaml:"kafka_franz"`
	} `yaml:"input"`
	Pipeline struct {
		Processors []struct {
			Mapping string `yaml:"mapping"`
		} `yaml:"processors"`
	} `yaml:"pipeline"`
	Output struct {
		Switch struct {
			Cases []struct {
				Check  string `yaml:"check"`
				Output struct {
					Fallback []struct {
						Retry struct {
							Output struct {
								SQLInsert *struct {
									Table       string   `yaml:"table"`
									Columns     []string `yaml:"columns"`
									Suffix      string   `yaml:"suffix"`
									ArgsMapping string   `yaml:"args_mapping"`
								} `yaml:"sql_insert"`
								SQLRaw *struct {
									Query       string `yaml:"query"`
									ArgsMapping string `yaml:"args_mapping"`
								} `yaml:"sql_raw"`
							} `yaml:"output"`
						} `yaml:"retry"`
						Resource string `yaml:"resource"`
					} `yaml:"fallback"`
				} `yaml:"output"`
			} `yaml:"cases"`
		} `yaml:"switch"`
	} `yaml:"output"`
}

// route is one topic's statement and argument mapping.
type route struct {
	query string
	args  *bloblang.Executor
}

type connect struct {
	validate *bloblang.Executor
	routes   map[string]route
}

var topicCheck = regexp.MustCompile(`^@kafka_topic == "([a-z.]+)"$`)

func loadConnect(t *testing.T) *connect {
	t.Helper()
	raw, err := os.ReadFile("../../../docker/connect.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg connectConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("connect.yaml: %v", err)
	}
	if diff := cmp.Diff(sink.Topics, cfg.Input.KafkaFranz.Topics); diff != "" {
		t.Errorf("connect.yaml topics differ from destill sink's (-sink +connect):\n%s", diff)
	}
	if got := cfg.Input.KafkaFranz.ConsumerGroup; got != sink.Group {
		t.Errorf("connect.yaml consumer group = %q, want %q", got, sink.Group)
	}
	if len(cfg.Pipeline.Processors) != 1 {
		t.Fatalf("connect.yaml has %d pipeline processors, want the one validating mapping", len(cfg.Pipeline.Processors))
	}
	c := &connect{routes: map[string]route{}}
	if c.validate, err = bloblang.Parse(cfg.Pipeline.Processors[0].Mapping); err != nil {
		t.Fatalf("validation mapping: %v", err)
	}
	for _, cs := range cfg.Output.Switch.Cases {
		m := topicCheck.FindStringSubmatch(cs.Check)
		if m == nil {
			continue // errored() → dead letters
		}
		fb := cs.Output.Fallback
		if len(fb) != 2 || fb[1].Resource != "dead_letters" {
			t.Errorf("case %s: want fallback [retry(sql), dead_letters]", m[1])
			continue
		}
		out := fb[0].Retry.Output
		var r route
		var mapping string
		switch {
		case out.SQLInsert != nil:
			ph := make([]string, len(out.SQLInsert.Columns))
			for i := range ph {
				ph[i] = fmt.Sprintf("$%d", i+1)
			}
			r.query = fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) %s", out.SQLInsert.Table,
				strings.Join(out.SQLInsert.Columns, ", "), strings.Join(ph, ", "), out.SQLInsert.Suffix)
			mapping = out.SQLInsert.ArgsMapping
		case out.SQLRaw != nil:
			r.query, mapping = out.SQLRaw.Query, out.SQLRaw.ArgsMapping
		default:
			t.Fatalf("case %s: no sql_insert or sql_raw output", m[1])
		}
		if r.args, err = bloblang.Parse(mapping); err != nil {
			t.Fatalf("case %s: args_mapping: %v", m[1], err)
		}
		c.routes[m[1]] = r
	}
	for _, topic := range sink.Topics {
		if _, ok := c.routes[topic]; !ok {
			t.Fatalf("connect.yaml has no output for %s", topic)
		}
	}
	return c
}

// apply runs one message through the config: validation, then the topic's
// argument mapping and SQL. It returns a non-nil reason when the message
// goes to the dead letters.
func (c *connect) apply(ctx context.Context, conn *pgx.Conn, m broker.Message) (dead error, err error) {
	msg := service.NewMessage(m.Value)
	msg.MetaSet("kafka_topic", m.Topic)
	valid, err := msg.BloblangQuery(c.validate)
	if err != nil {
		return err, nil
	}
	r := c.routes[m.Topic]
	res, err := valid.BloblangQuery(r.args) // as sql_insert and sql_raw run args_mapping
	if err != nil {
		return err, nil
	}
	v, err := res.AsStructured()
	if err != nil {
		return err, nil
	}
	args, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("args_mapping for %s gave %T, want an array", m.Topic, v)
	}
	if _, err := conn.Exec(ctx, r.query, args...); err != nil {
		if postgres.IsRejected(err) {
			return err, nil
		}
		return nil, err
	}
	return nil, nil
}

func freshDB(t *testing.T) string {
	t.Helper()
	url := pgtest.Shared(t).CreateDatabase(t)
	st, err := postgres.Open(context.Background(), url, postgres.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return url
}

func TestConnectWritesWhatSinkWrites(t *testing.T) {
	c := loadConnect(t)
	events := sinktest.Events(t,
		sinktest.Request{ID: "req-1", BuildURL: "https://buildkite.com/acme/app/builds/1",
			Files: []string{"../../../testdata/logs/bugswarm-python-109787645.log", "../../../testdata/logs/cidiff-java8workshop-2462.log.gz"}},
		sinktest.Request{ID: "req-2", BuildURL: "https://buildkite.com/acme/app/builds/2",
			Files: []string{"../../../testdata/logs/bugswarm-python-109787645.log"}},
		sinktest.Request{ID: "req-3", Files: []string{"../../../testdata/logs/cidiff-metamutator-1765.log.gz"}},
	)
	// Text Postgres refuses, which both sinks must clean the same way.
	dirty := contracts.TriageCard{Version: 1, ID: contracts.FindingID("req-3", "dirty", 1), RequestID: "req-3",
		MessageHash: "h-dirty", Job: contracts.Job{ID: "dirty", Name: "nul\x00job"}, Severity: contracts.SeverityWarn,
		LineNumber: 7, Message: "a\x00b", RawMessage: "\x00", PreContext: []string{"x\x00", `say "hi" \ C:\dir\ {a,b}`, "NULL", "", " spaced "},
		PostContext: []string{`\"`, "{}", "two\nlines", `ends in \`, `\n`, ""}, ContextNote: "n\x00"}
	// Jobs whose exit status the source knows (file sources do not): a
	// failure, a success, a signal and a Windows status.
	extra := []contracts.TriageCard{dirty}
	for i, exit := range []int{1, 0, 137, -1073741819} {
		c := dirty
		c.ID, c.LineNumber, c.EndLine = contracts.FindingID("req-3", "dirty", 10+i), 10+i, 12+i
		c.Job.ExitStatus, c.ChunkIndex, c.LineInChunk = &exit, i, 3+i
		extra = append(extra, c)
	}
	for _, c := range extra {
		m, err := encode(contracts.TopicFindings, c)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, m)
	}

	// destill sink, its findings copied straight in, or through its staging
	// table (a batch with a card already stored goes that way).
	sinkTables := map[string]map[string][]string{}
	for _, path := range []string{"copy", "staging"} {
		sinkURL := freshDB(t)
		st, err := postgres.Open(context.Background(), sinkURL, postgres.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		mem := memory.New(memory.Config{})
		defer mem.Close()
		s := sink.New(mem, st, sink.Config{})
		if path == "staging" {
			var some []broker.Message
			for i, m := range events {
				if m.Topic == contracts.TopicFindings && i%20 == 0 {
					some = append(some, m)
				}
			}
			if err := s.WriteBatch(context.Background(), some); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.WriteBatch(context.Background(), events); err != nil {
			t.Fatal(err)
		}
		sinkTables[path] = sinktest.Tables(t, sinkURL)
	}

	// Redpanda Connect's mappings and SQL, every message delivered twice.
	connURL := freshDB(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for pass := 0; pass < 2; pass++ {
		for _, m := range events {
			dead, err := c.apply(ctx, conn, m)
			if err != nil {
				t.Fatal(err)
			}
			if dead != nil {
				t.Errorf("connect dead-lettered a valid %s message: %v", m.Topic, dead)
			}
		}
	}

	got := sinktest.Tables(t, connURL)
	for path, want := range sinkTables {
		if len(want["findings"]) < 10 || len(want["requests"]) != 3 {
			t.Fatalf("sink (%s) wrote %d findings and %d requests; the events are too few to compare", path, len(want["findings"]), len(want["requests"]))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("tables differ (-destill sink, %s +connect.yaml):\n%s", path, diff)
		}
	}
	// Every column is compared: the exit statuses and the lines in their
	// chunks are there.
	for _, want := range []string{`"exit_status": null`, `"exit_status": 137`, `"exit_status": 0`, `"line_in_chunk": 6`} {
		if !strings.Contains(strings.Join(got["findings"], "\n"), want) {
			t.Errorf("connect.yaml's findings have no row with %s", want)
		}
	}
}

func TestConnectDeadLettersInvalidMessages(t *testing.T) {
	c := loadConnect(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, freshDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tests := []struct {
		name  string
		topic string
		value string
	}{
		{"not json", contracts.TopicFindings, "{not json"},
		{"unknown version", contracts.TopicProgress, `{"version":2,"request_id":"r","kind":"job_done"}`},
		{"card without id", contracts.TopicFindings, `{"version":1,"request_id":"r","message_hash":"h"}`},
		{"card with a bad id", contracts.TopicFindings, `{"version":1,"id":"nope","request_id":"r","message_hash":"h","severity":"ERROR","line_number":1}`},
		{"request without id", contracts.TopicRequests, `{"version":1}`},
		{"progress without kind", contracts.TopicProgress, `{"version":1,"request_id":"r"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dead, err := c.apply(ctx, conn, broker.Message{Topic: tt.topic, Value: []byte(tt.value)})
			if err != nil {
				t.Fatal(err)
			}
			if dead == nil {
				t.Errorf("connect accepted %s; want it dead-lettered", tt.value)
			}
			// destill sink agrees.
			if err := checkSinkDeadLetters(t, tt.topic, tt.value); err != nil {
				t.Error(err)
			}
		})
	}
}

func checkSinkDeadLetters(t *testing.T, topic, value string) error {
	t.Helper()
	url := freshDB(t)
	st, err := postgres.Open(context.Background(), url, postgres.Config{})
	if err != nil {
		return err
	}
	defer st.Close()
	mem := memory.New(memory.Config{})
	defer mem.Close()
	if err := sink.New(mem, st, sink.Config{}).WriteBatch(context.Background(), []broker.Message{{Topic: topic, Value: []byte(value)}}); err != nil {
		return err
	}
	for _, table := range []string{"findings", "requests"} {
		if n := sinktest.Count(t, url, table); n != 0 {
			return fmt.Errorf("destill sink wrote %d %s rows for %s; want it dead-lettered", n, table, value)
		}
	}
	return nil
}

func encode(topic string, v any) (broker.Message, error) {
	b, err := json.Marshal(v)
	return broker.Message{Topic: topic, Value: b}, err
}
