package analyze

import (
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPrefilterLinesAgree checks the whole-chunk scan against the per-line
// keyword search: on fixtures, a corpus sample and random text made of
// keyword pieces, it selects exactly the lines that hold a keyword.
func TestPrefilterLinesAgree(t *testing.T) {
	p := newPrefilter()
	var texts []string
	for _, log := range fixtureLogs(t) {
		texts = append(texts, log)
	}
	paths, _ := filepath.Glob(filepath.Join(corpusDir(), "logchunks", "logs", "*", "*", "failed", "*.log.gz"))
	for i, path := range paths {
		if i%11 == 0 {
			texts = append(texts, readGz(t, path))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"\n", " ", "x", "1", "\r", "\x1b[0m", "é", "\xe2", "\x9c"}
	for _, kw := range keywords {
		pieces = append(pieces, kw, strings.ToUpper(kw), kw[:len(kw)-1], kw[1:])
	}
	// Short texts, and long ones that reach the sixteen-byte steps at
	// every alignment, ASCII only or not.
	for k := range 3000 {
		n := rng.IntN(40)
		if k%3 == 0 {
			n = rng.IntN(400)
		}
		var b strings.Builder
		for range n {
			piece := pieces[rng.IntN(len(pieces))]
			if k%2 == 0 && !asciiString(piece) {
				piece = "y"
			}
			b.WriteString(piece)
		}
		texts = append(texts, b.String())
	}
	// Two keywords on neighbouring lines at every offset, the second
	// after a non-ASCII byte: the line of the first must be found even
	// where the second's trigrams are looked at first.
	for n := range 20 {
		for _, a := range keywords {
			for _, b := range keywords {
				if asciiString(a) && asciiString(b) {
					texts = append(texts, strings.Repeat("x", n)+a+"\né"+b+strings.Repeat("y", 20))
				}
			}
		}
	}
	for _, text := range texts {
		starts := lineStarts(nil, text)
		lines := strings.Split(text, "\n")
		var want []int32
		for i, l := range lines {
			if p.match([]byte(l)) {
				want = append(want, int32(i))
			}
		}
		if got := p.lines(nil, text, starts, 0, len(starts)-1); !cmp.Equal(got, want) {
			t.Errorf("lines(%.200q) = %v, want %v", text, got, want)
		}
		if n := len(starts); n > 4 {
			var sub []int32
			for _, i := range want {
				if i >= 2 && int(i) <= n-3 {
					sub = append(sub, i)
				}
			}
			if got := p.lines(nil, text, starts, 2, n-3); !cmp.Equal(got, sub) {
				t.Errorf("lines(%.200q, 2, %d) = %v, want %v", text, n-3, got, sub)
			}
		}
	}
}

func BenchmarkPrefilterLines(b *testing.B) {
	chunks := benchmarkCorpus(b)
	var total int64
	for _, c := range chunks {
		total += int64(len(c.Content))
	}
	p := newPrefilter()
	starts := make([][]int, len(chunks))
	for i, c := range chunks {
		starts[i] = lineStarts(nil, c.Content)
	}
	var hits []int32
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, c := range chunks {
			hits = p.lines(hits[:0], c.Content, starts[i], 0, len(starts[i])-1)
		}
	}
}
