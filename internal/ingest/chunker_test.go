package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/destill-ci/destill/contracts"
	"github.com/google/go-cmp/cmp"
)

func chunkAll(t testing.TB, log []byte, cfg ChunkerConfig) ([]contracts.LogChunk, ChunkStats) {
	t.Helper()
	var out []contracts.LogChunk
	st, err := Chunk(bytes.NewReader(log), contracts.LogChunk{RequestID: "r", Job: contracts.Job{ID: "j"}}, cfg, func(c *contracts.LogChunk) error {
		if err := c.Check(); err != nil {
			t.Errorf("chunk %d: Check() = %v, want nil", c.ChunkIndex, err)
		}
		out = append(out, *c)
		return nil
	})
	if err != nil {
		t.Fatalf("Chunk = %v, want nil", err)
	}
	return out, st
}

// splitLines numbers lines as the chunker must: LF-separated, no line after
// a final LF.
func splitLines(log []byte) []string {
	if len(log) == 0 {
		return nil
	}
	s := strings.Split(string(log), "\n")
	if strings.HasSuffix(string(log), "\n") {
		s = s[:len(s)-1]
	}
	return s
}

// checkInvariants verifies ownership, numbering and content against the log.
func checkInvariants(t *testing.T, log []byte, chunks []contracts.LogChunk, st ChunkStats, cfg ChunkerConfig) {
	t.Helper()
	want := splitLines(log)
	if st.Lines != len(want) {
		t.Fatalf("stats.Lines = %d, want %d", st.Lines, len(want))
	}
	if len(want) == 0 {
		if len(chunks) != 0 {
			t.Fatalf("empty log gave %d chunks, want 0", len(chunks))
		}
		return
	}
	next := 1
	for i, c := range chunks {
		if c.ChunkIndex != i {
			t.Errorf("chunk %d: index = %d", i, c.ChunkIndex)
		}
		if c.OwnedStart != next {
			t.Fatalf("chunk %d: owned_start = %d, want %d (ownership must be contiguous)", i, c.OwnedStart, next)
		}
		if c.OwnedStart < c.LineStart || c.OwnedEnd > c.LineEnd {
			t.Fatalf("chunk %d: owned %d-%d outside lines %d-%d", i, c.OwnedStart, c.OwnedEnd, c.LineStart, c.LineEnd)
		}
		next = c.OwnedEnd + 1
		got := strings.Split(c.Content, "\n")
		if len(got) != c.LineEnd-c.LineStart+1 {
			t.Fatalf("chunk %d: %d content lines, want %d", i, len(got), c.LineEnd-c.LineStart+1)
		}
		for j, l := range got {
			orig := want[c.LineStart-1+j]
			if len(orig) <= cfg.withDefaults().MaxLineBytes {
				if exp := strings.ToValidUTF8(orig, "\uFFFD"); l != exp {
					t.Fatalf("chunk %d line %d = %.80q, want %.80q", i, c.LineStart+j, l, exp)
				}
			} else if !strings.Contains(l, TruncationMarker) {
				t.Fatalf("chunk %d line %d: long line has no truncation marker", i, c.LineStart+j)
			}
		}
		enc, _ := json.Marshal(c.Content)
		// A chunk may exceed the budget only to carry one line that does
		// not fit beside the overlap.
		newLines := c.LineEnd - c.LineStart + 1 - c.OverlapBefore
		if max := cfg.withDefaults().MaxBytes + 2; len(enc) > max && newLines > 1 {
			t.Errorf("chunk %d: encoded content %d bytes, want <= %d", i, len(enc), max)
		}
		if last := i == len(chunks)-1; c.Last != last {
			t.Errorf("chunk %d: last = %v, want %v", i, c.Last, last)
		}
	}
	if next != len(want)+1 {
		t.Fatalf("owned lines end at %d, want %d", next-1, len(want))
	}
	if l := chunks[len(chunks)-1]; l.TotalChunks != len(chunks) {
		t.Errorf("last chunk total_chunks = %d, want %d", l.TotalChunks, len(chunks))
	}
}

func genLog(r *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		switch r.IntN(20) {
		case 0:
			fmt.Fprintf(&b, "\x1b[31merror: thing %d failed\x1b[0m\r\n", i)
		case 1:
			b.WriteString(strings.Repeat("x", r.IntN(3000)))
			b.WriteByte('\n')
		case 2:
			b.WriteString("bad utf8 \xff\xfe <tag> & \"quoted\"\n")
		default:
			fmt.Fprintf(&b, "line %d some ordinary output\n", i)
		}
	}
	return b.Bytes()
}

func TestChunkInvariants(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	logs := map[string][]byte{
		"empty":         nil,
		"one line":      []byte("hello"),
		"one line LF":   []byte("hello\n"),
		"blank lines":   []byte("\n\n\n"),
		"generated":     genLog(r, 5000),
		"no final LF":   bytes.TrimSuffix(genLog(r, 700), []byte("\n")),
		"only markers":  bytes.Repeat([]byte("\x1b_bk;t=1700000000000\x07\n"), 300),
		"long lines":    bytes.Repeat([]byte(strings.Repeat("y", 70000)+"\n"), 40),
		"huge then err": append(bytes.Repeat([]byte("z"), 5<<20), []byte("\nerror: after the huge line\n")...),
	}
	cfgs := map[string]ChunkerConfig{
		"default": {},
		"tiny":    {MaxBytes: 2000},
		"small":   {MaxBytes: 20000, MaxLineBytes: 1000},
	}
	for ln, log := range logs {
		for cn, cfg := range cfgs {
			t.Run(ln+"/"+cn, func(t *testing.T) {
				chunks, st := chunkAll(t, log, cfg)
				checkInvariants(t, log, chunks, st, cfg)
			})
		}
	}
}

func TestChunkContextIsWhole(t *testing.T) {
	log := genLog(rand.New(rand.NewPCG(3, 4)), 4000)
	chunks, _ := chunkAll(t, log, ChunkerConfig{MaxBytes: 8000, MaxLineBytes: 100})
	if len(chunks) < 10 {
		t.Fatalf("got %d chunks, want many boundaries", len(chunks))
	}
	for _, c := range chunks {
		if c.OverlapBefore < contracts.ChunkOverlap && c.ChunkIndex > 0 {
			t.Fatalf("chunk %d: overlap %d, want %d for short lines", c.ChunkIndex, c.OverlapBefore, contracts.ChunkOverlap)
		}
		for l := c.OwnedStart; l <= c.OwnedEnd; l++ {
			if before := l - c.LineStart; before < contracts.ContextBefore && c.LineStart > 1 {
				t.Fatalf("chunk %d line %d: %d lines before, want %d", c.ChunkIndex, l, before, contracts.ContextBefore)
			}
			if after := c.LineEnd - l; after < contracts.ContextAfter && !c.Last {
				t.Fatalf("chunk %d line %d: %d lines after, want %d", c.ChunkIndex, l, after, contracts.ContextAfter)
			}
		}
	}
}

func TestChunkHugeLineThenError(t *testing.T) {
	log := append(bytes.Repeat([]byte("z"), 5<<20), []byte("\nerror: layer digest mismatch\n")...)
	chunks, st := chunkAll(t, log, ChunkerConfig{})
	if st.TruncatedLines != 1 || st.Lines != 2 {
		t.Fatalf("stats = %+v, want 2 lines, 1 truncated", st)
	}
	last := chunks[len(chunks)-1]
	lines := strings.Split(last.Content, "\n")
	if got := lines[len(lines)-1]; got != "error: layer digest mismatch" {
		t.Errorf("last line = %.80q…, want the error line", got)
	}
	if !strings.Contains(chunks[0].Content, "5242880 bytes") {
		t.Errorf("truncation marker does not give the original length")
	}
}

func TestChunkStopsOnEmitError(t *testing.T) {
	boom := fmt.Errorf("boom")
	_, err := Chunk(bytes.NewReader(genLog(rand.New(rand.NewPCG(5, 6)), 2000)), contracts.LogChunk{}, ChunkerConfig{MaxBytes: 1000},
		func(*contracts.LogChunk) error { return boom })
	if err != boom {
		t.Errorf("Chunk = %v, want emit's error", err)
	}
}

func TestEncodedLen(t *testing.T) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "<a href=\"x\">&</a>", "tab\tnl\r\\", "héllo ✓ \u2028", "\x00\x01\x7f"} {
		enc, _ := json.Marshal(s)
		if got, want := EncodedLen([]byte(s)), len(enc)-2; got != want {
			t.Errorf("EncodedLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func FuzzChunk(f *testing.F) {
	f.Add([]byte("a\nb\r\nc"), uint16(50))
	f.Add([]byte("\xff\xfe\n\n\x1b]0;title\x07\n"), uint16(10))
	f.Add(bytes.Repeat([]byte("0123456789\n"), 100), uint16(30))
	f.Fuzz(func(t *testing.T, log []byte, max uint16) {
		cfg := ChunkerConfig{MaxBytes: int(max%4000) + 1, MaxLineBytes: 64}
		var chunks []contracts.LogChunk
		st, err := Chunk(bytes.NewReader(log), contracts.LogChunk{}, cfg, func(c *contracts.LogChunk) error {
			chunks = append(chunks, *c)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, log, chunks, st, cfg)
	})
}

func BenchmarkChunk(b *testing.B) {
	log := genLog(rand.New(rand.NewPCG(7, 8)), 200000)
	b.SetBytes(int64(len(log)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Chunk(bytes.NewReader(log), contracts.LogChunk{}, ChunkerConfig{}, func(*contracts.LogChunk) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = cmp.Diff

func TestChunkLongLineKeepsHeadAndTail(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Pulling: [")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "==> %d%%\r", i%100)
	}
	b.WriteString("error: layer digest mismatch\nnext line\n")
	chunks, st := chunkAll(t, b.Bytes(), ChunkerConfig{})
	if st.Lines != 2 || st.TruncatedLines != 1 {
		t.Fatalf("stats = %+v, want 2 lines, 1 truncated", st)
	}
	first := strings.Split(chunks[0].Content, "\n")[0]
	if !strings.HasPrefix(first, "Pulling: [") || !strings.HasSuffix(first, "\rerror: layer digest mismatch") {
		t.Errorf("long line kept as %.40q…%q, want its head and its tail", first, first[max(0, len(first)-40):])
	}
	if !strings.Contains(first, TruncationMarker) || len(first) > 64<<10+200 {
		t.Errorf("long line: %d bytes, marker %v; want at most 64 KiB and a marker", len(first), strings.Contains(first, TruncationMarker))
	}
}

func TestChunkReadErrorKeepsWhatWasRead(t *testing.T) {
	r := io.MultiReader(strings.NewReader("one\ntwo\nerror: three\n"), errReader{})
	var got []contracts.LogChunk
	st, err := Chunk(r, contracts.LogChunk{}, ChunkerConfig{}, func(c *contracts.LogChunk) error { got = append(got, *c); return nil })
	if err == nil || st.Lines != 3 || len(got) != 1 || got[0].Content != "one\ntwo\nerror: three" {
		t.Errorf("Chunk = %v, %d lines, chunks %+v; want the read error and the 3 lines read", err, st.Lines, got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("unexpected EOF in gzip") }
