package analyze

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/destill-ci/destill/contracts"
)

// overlappingChunks cuts content into chunks of size lines that overlap by
// contracts.ChunkOverlap lines and own their lines as the ingest chunker
// does: the first chunk from line 1, a later one from its start plus
// ContextBefore, each up to where its successor starts owning.
func overlappingChunks(t *testing.T, content string, size int) []*contracts.LogChunk {
	t.Helper()
	if size <= contracts.ChunkOverlap {
		t.Fatalf("chunk size %d must exceed the overlap", size)
	}
	all := strings.Split(content, "\n")
	var chunks []*contracts.LogChunk
	for start := 1; ; start += size - contracts.ChunkOverlap {
		end := min(len(all), start+size-1)
		c := wholeLog(t, "")
		c.ChunkIndex, c.LineStart, c.LineEnd, c.OwnedStart, c.OwnedEnd = len(chunks), start, end, start, end
		c.OverlapBefore, c.Last = contracts.ChunkOverlap, end == len(all)
		c.Content = strings.Join(all[start-1:end], "\n")
		if start > 1 {
			c.OwnedStart = start + contracts.ContextBefore
			chunks[len(chunks)-1].OwnedEnd = c.OwnedStart - 1
		}
		chunks = append(chunks, c)
		if c.Last {
			return chunks
		}
	}
}

// TestSameFindingsWhateverTheChunks checks that a line's finding depends on
// its context window only: cutting a log into chunks of any size gives the
// cards of the whole log, and never the same line twice.
func TestSameFindingsWhateverTheChunks(t *testing.T) {
	e := New(Config{})
	ignore := cmpopts.IgnoreFields(contracts.TriageCard{}, "ChunkIndex", "LineInChunk", "ContextNote")
	for name, log := range fixtureLogs(t) {
		whole := e.Analyze(wholeLog(t, log))
		for _, size := range []int{51, 64, 97, 200} {
			var got []contracts.TriageCard
			for _, c := range overlappingChunks(t, log, size) {
				got = append(got, e.Analyze(c)...)
			}
			sort.SliceStable(got, func(i, j int) bool { return got[i].LineNumber < got[j].LineNumber })
			seen := map[string]bool{}
			for _, c := range got {
				if seen[c.ID] {
					t.Errorf("%s, %d-line chunks: line %d reported twice", name, size, c.LineNumber)
				}
				seen[c.ID] = true
			}
			if diff := cmp.Diff(whole, got, ignore); diff != "" {
				t.Errorf("%s: cards of %d-line chunks differ from the whole log (-whole +chunks):\n%s", name, size, diff)
			}
		}
	}
}

// TestOneCardPerLine checks that two CI reports of failed commands after
// the same output line give it one card.
func TestOneCardPerLine(t *testing.T) {
	content := "$ lint\nsrc/a.js: 3 problems\nThe command \"lint\" exited with 1.\n\nThe command \"lint again\" exited with 1."
	cards := New(Config{}).Analyze(wholeLog(t, content))
	seen := map[string]int{}
	for _, c := range cards {
		if l, dup := seen[c.ID]; dup {
			t.Errorf("Analyze() reports line %d twice (first as line %d)", c.LineNumber, l)
		}
		seen[c.ID] = c.LineNumber
	}
	if len(cards) == 0 || cards[0].LineNumber != 2 || cards[0].Rule != "last-output" {
		t.Errorf("Analyze() = %+v, want a last-output card on line 2 first", cards)
	}
}

// TestCardsOwnTheirText checks that a card's strings are copies: they do not
// point into the chunk, and analysing more chunks (which reuses the engine's
// buffers) leaves them as they were.
func TestCardsOwnTheirText(t *testing.T) {
	var b strings.Builder
	for i := range 400 {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, "\x1b[31mERROR\x1b[0m step %d failed: connection refused   \n", i)
		case 3:
			fmt.Fprintf(&b, "panic: boom %d\r\n", i)
		default:
			fmt.Fprintf(&b, "  compiling unit %d\t\n", i)
		}
	}
	content := b.String()
	c := &contracts.LogChunk{RequestID: "r", Job: contracts.Job{ID: "j", Outcome: contracts.OutcomeFailed}, LineStart: 1, LineEnd: 400, Last: true, Content: content}
	e := New(Config{MaxLineBytes: 30})
	cards := e.Analyze(c)
	if len(cards) < 50 {
		t.Fatalf("%d cards, want one per error line", len(cards))
	}
	lo := uintptr(unsafe.Pointer(unsafe.StringData(content)))
	hi := lo + uintptr(len(content))
	inChunk := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return s != "" && p >= lo && p < hi
	}
	snapshot := make([]string, len(cards))
	for i, cd := range cards {
		all := append(append([]string{cd.RawMessage, cd.Message, cd.NormalizedMessage}, cd.PreContext...), cd.PostContext...)
		for _, s := range all {
			if inChunk(s) {
				t.Fatalf("card at line %d holds %q inside the chunk's memory", cd.LineNumber, s)
			}
		}
		snapshot[i] = fmt.Sprintf("%q", all)
	}
	other := strings.ReplaceAll(content, "ERROR", "FATAL")
	for range 3 {
		e.Analyze(&contracts.LogChunk{RequestID: "r", Job: contracts.Job{ID: "j"}, LineStart: 1, LineEnd: 400, Content: other})
	}
	for i, cd := range cards {
		all := append(append([]string{cd.RawMessage, cd.Message, cd.NormalizedMessage}, cd.PreContext...), cd.PostContext...)
		if got := fmt.Sprintf("%q", all); got != snapshot[i] {
			t.Fatalf("card at line %d changed after more chunks:\n%s\nwas\n%s", cd.LineNumber, got, snapshot[i])
		}
	}
	// Appending to a card's context must not write into another card's.
	for _, cd := range cards {
		if cap(cd.PreContext) != len(cd.PreContext) || cap(cd.PostContext) != len(cd.PostContext) {
			t.Fatalf("card at line %d: context has spare capacity shared with other cards", cd.LineNumber)
		}
	}
}
