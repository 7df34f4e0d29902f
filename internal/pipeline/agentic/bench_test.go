package agentic_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/ingest"
	"github.com/destill-ci/destill/internal/pipeline/local"
)

// benchBuild writes jobs logs of about size bytes each, made of the real
// fixture logs repeated, and returns their paths and total size.
func benchBuild(b testing.TB, jobs, size int) ([]string, int64) {
	b.Helper()
	var corpus []byte
	for _, n := range []string{"cidiff-metamutator-1765.log.gz", "cidiff-java8workshop-2462.log.gz", "bugswarm-jest-2545414624.log.gz", "bugswarm-python-109787645.log"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "logs", n))
		if err != nil {
			b.Fatal(err)
		}
		if strings.HasSuffix(n, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				b.Fatal(err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				b.Fatal(err)
			}
		}
		corpus = append(corpus, raw...)
	}
	dir := b.TempDir()
	var paths []string
	var total int64
	for j := 0; j < jobs; j++ {
		var buf bytes.Buffer
		for buf.Len() < size {
			buf.Write(corpus)
		}
		p := filepath.Join(dir, fmt.Sprintf("job-%02d.log", j))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
		total += int64(buf.Len())
	}
	return paths, total
}

// BenchmarkIngestAnalyze measures a build's logs through ingest → Kafka
// (kfake, in process) → analyze agents → findings, until the request is
// complete: MB/s of log and chunks/s, with one and with two analyze agents.
func BenchmarkIngestAnalyze(b *testing.B) {
	paths, total := benchBuild(b, 8, 2<<20)
	for _, agents := range []int{1, 2} {
		b.Run(fmt.Sprintf("analyze-agents=%d", agents), func(b *testing.B) {
			p := newPlane(b)
			p.startIngest(b, ingest.ChunkerConfig{})
			for i := 0; i < agents; i++ {
				p.startAnalyze(b, nil, nil)
			}
			pl := p.newAgentic(b)
			b.SetBytes(total)
			b.ReportAllocs()
			chunks := 0
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := run(b, pl, contracts.AnalysisRequest{RequestID: fmt.Sprintf("bench-%d-%d", agents, i), Files: paths}, 5*time.Minute)
				if r.err != nil {
					b.Fatalf("Stream() = %v", r.err)
				}
				for _, n := range chunkCounts(r.status) {
					chunks += n
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(chunks)/time.Since(start).Seconds(), "chunks/s")
		})
	}
	// The same work in one process over the in-memory broker, for scale.
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("local-workers=%d", workers), func(b *testing.B) {
			pl := local.New(local.Config{Open: fileOpener, Workers: workers})
			defer pl.Close()
			b.SetBytes(total)
			b.ReportAllocs()
			chunks := 0
			start := time.Now()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := run(b, pl, contracts.AnalysisRequest{RequestID: fmt.Sprintf("bench-local-%d", i), Files: paths}, 5*time.Minute)
				if r.err != nil {
					b.Fatalf("Stream() = %v", r.err)
				}
				for _, n := range chunkCounts(r.status) {
					chunks += n
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(chunks)/time.Since(start).Seconds(), "chunks/s")
		})
	}
}
