// Package agent turns broker messages into stage calls: it decodes the
// contracts, sends poison messages to the dead-letter topic, and publishes
// outputs before acknowledging inputs. The local pipeline and the
// `destill ingest` / `destill analyze` agents use the same handlers.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/destill-ci/destill/internal/broker"
	"github.com/destill-ci/destill/internal/ingest"
)

// Groups of the stages.
const (
	GroupIngest  = "destill-ingest"
	GroupAnalyze = "destill-analyze"
)

// Dead-letter headers.
const (
	HeaderError     = "destill-error"
	HeaderTopic     = "destill-source-topic"
	HeaderPartition = "destill-source-partition"
	HeaderOffset    = "destill-source-offset"
	HeaderGroup     = "destill-source-group"
)

// Publisher is what the handlers need of a broker.
type Publisher = ingest.Publisher

// BatchPublisher is a Publisher that can publish several messages in one
// acknowledged round trip (the Kafka broker can).
type BatchPublisher interface {
	PublishBatch(ctx context.Context, msgs []broker.Message) error
}

// publishAll publishes msgs and returns once all are acknowledged.
func publishAll(ctx context.Context, pub Publisher, msgs []broker.Message) error {
	if bp, ok := pub.(BatchPublisher); ok {
		return bp.PublishBatch(ctx, msgs)
	}
	for _, m := range msgs {
		if err := pub.Publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// DeadLetter publishes m to the dead-letter topic with the reason.
func DeadLetter(ctx context.Context, pub Publisher, group string, m broker.Message, reason error) error {
	h := map[string]string{}
	for k, v := range m.Headers {
		h[k] = v
	}
	h[HeaderError] = reason.Error()
	h[HeaderTopic] = m.Topic
	h[HeaderPartition] = strconv.Itoa(int(m.Partition))
	h[HeaderOffset] = strconv.FormatInt(m.Offset, 10)
	h[HeaderGroup] = group
	return pub.Publish(ctx, broker.Message{Topic: contracts.TopicDLQ, Key: m.Key, Value: m.Value, Headers: h})
}

// decode reads a contract value (from the in-process payload, or from
// JSON) and checks its version.
func decode[T any](m broker.Message, v *T, version func() int) error {
	switch p := m.Payload.(type) {
	case *T:
		*v = *p
	case T:
		*v = p
	default:
		dec := json.NewDecoder(bytes.NewReader(m.Value))
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
	}
	if got := version(); got != contracts.Version {
		return fmt.Errorf("unknown contract version %d (this build reads %d)", got, contracts.Version)
	}
	return nil
}

// IngestHandler handles AnalysisRequests with stage.
func IngestHandler(stage *ingest.Stage, pub Publisher, log *slog.Logger) broker.Handler {
	log = orDiscard(log)
	return func(ctx context.Context, m broker.Message) error {
		var req contracts.AnalysisRequest
		if err := decode(m, &req, func() int { return req.Version }); err != nil {
			log.Warn("dead-lettering request", "error", err, "offset", m.Offset)
			return DeadLetter(ctx, pub, GroupIngest, m, err)
		}
		if err := contracts.CheckRequestID(req.RequestID); err != nil {
			log.Warn("dead-lettering request", "error", err, "offset", m.Offset)
			return DeadLetter(ctx, pub, GroupIngest, m, err)
		}
		return stage.Handle(ctx, req)
	}
}

// AnalyzeHandler analyses LogChunks with eng and publishes their cards and a
// chunk_analyzed event. The chunk is acknowledged only after both were.
func AnalyzeHandler(eng *analyze.Engine, pub Publisher, log *slog.Logger) broker.Handler {
	log = orDiscard(log)
	return func(ctx context.Context, m broker.Message) error {
		var c contracts.LogChunk
		if err := decode(m, &c, func() int { return c.Version }); err != nil {
			log.Warn("dead-lettering chunk", "error", err, "offset", m.Offset)
			return deadLetterChunk(ctx, pub, m, err)
		}
		if err := c.Check(); err != nil {
			log.Warn("dead-lettering chunk", "error", err, "offset", m.Offset)
			return deadLetterChunk(ctx, pub, m, err)
		}
		cards := uniqueIDs(eng.Analyze(&c))
		out := make([]broker.Message, 0, len(cards)+1)
		for i := range cards {
			msg, err := ingest.NewMessage(pub, contracts.TopicFindings, c.RequestID, ingest.KindCard, &cards[i])
			if err != nil {
				return err
			}
			out = append(out, msg)
		}
		done, err := ingest.NewMessage(pub, contracts.TopicProgress, c.RequestID, ingest.KindProgress, contracts.Progress{
			Version: contracts.Version, RequestID: c.RequestID, Kind: contracts.ProgressChunkAnalyzed,
			BuildID: c.BuildID, JobID: c.Job.ID, JobName: c.Job.Name, ChunkIndex: c.ChunkIndex, Findings: len(cards),
			Lines: c.OwnedEnd - c.OwnedStart + 1, Time: time.Now().UTC()})
		if err != nil {
			return err
		}
		return publishAll(ctx, pub, append(out, done))
	}
}

// deadLetterChunk dead-letters a chunk and, when the chunk says which
// request and job it belongs to, reports it analyzed with no findings and
// the reason, so that its request can still complete.
func deadLetterChunk(ctx context.Context, pub Publisher, m broker.Message, reason error) error {
	if err := DeadLetter(ctx, pub, GroupAnalyze, m, reason); err != nil {
		return err
	}
	var id struct {
		RequestID  string `json:"request_id"`
		BuildID    string `json:"build_id"`
		JobID      string `json:"job_id"`
		ChunkIndex int    `json:"chunk_index"`
	}
	if json.Unmarshal(m.Value, &id) != nil || contracts.CheckRequestID(id.RequestID) != nil || id.JobID == "" || id.ChunkIndex < 0 {
		return nil
	}
	return ingest.PublishProgress(ctx, pub, contracts.Progress{RequestID: id.RequestID, Kind: contracts.ProgressChunkAnalyzed,
		BuildID: id.BuildID, JobID: id.JobID, ChunkIndex: id.ChunkIndex,
		Error: "chunk dead-lettered: " + reason.Error(), Time: time.Now().UTC()})
}

// uniqueIDs keeps the first card of each id: one finding per line, so that
// the chunk_analyzed count matches the distinct cards consumers receive.
func uniqueIDs(cards []contracts.TriageCard) []contracts.TriageCard {
	seen := make(map[string]bool, len(cards))
	out := cards[:0]
	for _, c := range cards {
		if !seen[c.ID] {
			seen[c.ID] = true
			out = append(out, c)
		}
	}
	return out
}
