package analyze

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/destill-ci/destill/contracts"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixtureLogs returns the committed real-log excerpts by name.
func fixtureLogs(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "*.log"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("glob fixtures: %v (%d files)", err, len(paths))
	}
	logs := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		logs[filepath.ToSlash(p)] = strings.ToValidUTF8(strings.TrimSuffix(string(b), "\n"), string(utf8.RuneError))
	}
	return logs
}

// TestFixturesGolden pins the cards found on real-log excerpts: a change of
// rules shows up as a diff of testdata/fixtures.golden to review. Refresh
// with go test -run TestFixturesGolden -update.
func TestFixturesGolden(t *testing.T) {
	logs := fixtureLogs(t)
	names := make([]string, 0, len(logs))
	for n := range logs {
		names = append(names, n)
	}
	sort.Strings(names)
	e := New(Config{})
	var b strings.Builder
	var all []string
	for _, n := range names {
		cards := e.Analyze(wholeLog(t, logs[n]))
		Rank(cards)
		fmt.Fprintf(&b, "== %s: %d cards\n", n, len(cards))
		for _, c := range cards {
			row := fmt.Sprintf("%d-%d %s %s %.3f %s %q", c.LineNumber, c.EndLine, c.Severity, c.Rule, c.ConfidenceScore, c.MessageHash[:12], trimTo(c.Message, 100))
			fmt.Fprintf(&b, "%s\n", row)
			all = append(all, n+" "+row)
		}
	}
	sort.Strings(all)
	sum := sha256.Sum256([]byte(strings.Join(all, "\n")))
	fmt.Fprintf(&b, "== fingerprint: %d cards, %s\n", len(all), hex.EncodeToString(sum[:8]))
	golden := filepath.Join("testdata", "fixtures.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("cards on fixtures changed (-want +got); review, then go test -run TestFixturesGolden -update:\n%s", diff)
	}
}

func trimTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// TestPrefilterAgreesWithMatcher guards the fast path: every line the full
// matcher would report must pass the literal prefilter.
func TestPrefilterAgreesWithMatcher(t *testing.T) {
	p := newPrefilter()
	extra := []string{
		"lexer.c:212:9: \x1b[01;31m\x1b[Kerror: \x1b[m\x1b[K'tokn' undeclared",
		"Pulling: [==>   ] 41%\rPulling: [=====] 100%\rerror: layer digest mismatch",
		"2024-01-02T03:04:05.1234567Z ##[error]Process completed with exit code 1.",
		"  ● Suite › does a thing", "  ✕ does a thing (5 ms)", "E       assert 1 == 2",
		"________________________ test_thing ________________________",
		"thread 'main' panicked at src/main.rs:2:5:", "Killed", "pod/x ImagePullBackOff",
	}
	var rawLines []string
	for _, log := range fixtureLogs(t) {
		rawLines = append(rawLines, strings.Split(log, "\n")...)
	}
	rawLines = append(rawLines, extra...)
	checked := 0
	for _, raw := range rawLines {
		cleaned, meta := cleanLine(nil, raw)
		m, ok := detect(string(cleaned), meta.marker)
		full := ok && m.class != classNoise
		if full {
			checked++
		}
		if full && !p.match([]byte(raw)) {
			t.Errorf("prefilter(%q) = false, but the matcher finds %s", raw, m.rule)
		}
		if p.match(cleaned) && !p.match([]byte(raw)) {
			t.Errorf("prefilter(%q) = false, but true on the cleaned line %q", raw, cleaned)
		}
	}
	if checked < 20 {
		t.Errorf("only %d matched lines checked, want at least 20", checked)
	}
}

// TestPrefilterKeywords checks the literal scan against a plain
// case-insensitive search for each keyword.
func TestPrefilterKeywords(t *testing.T) {
	p := newPrefilter()
	for _, kw := range keywords {
		for _, form := range []string{kw, strings.ToUpper(kw), "xx " + kw + " yy", "a" + kw} {
			if !p.match([]byte(form)) {
				t.Errorf("prefilter(%q) = false, want true", form)
			}
		}
	}
	for _, s := range []string{"", "a", "all good here", "compiling 12 files", "e"} {
		if p.match([]byte(s)) {
			t.Errorf("prefilter(%q) = true, want false", s)
		}
	}
}

// benchmarkCorpus returns real logs from the shared corpus, concatenated, or
// skips when the corpus is absent.
func benchmarkCorpus(b testing.TB) []*contracts.LogChunk {
	b.Helper()
	dir := corpusDir()
	var paths []string
	for _, pat := range []string{"logchunks/logs/*/*/failed/*.log.gz", "cidiff/*/*/fail.log.gz", "cidiff/*/*/*/fail.log.gz", "bugswarm/logs/*/*/*.log.gz", "bugswarm/logs/*/*/*/*.log.gz"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		b.Skipf("no corpus logs under %s", dir)
	}
	sort.Strings(paths)
	var all strings.Builder
	for _, p := range paths {
		all.WriteString(readGz(b, p))
		all.WriteByte('\n')
		if all.Len() > 64<<20 {
			break
		}
	}
	return chunkText(strings.ToValidUTF8(all.String(), string(utf8.RuneError)), 500<<10)
}

// chunkText splits content into chunks of about size bytes on line
// boundaries, each owning all its lines.
func chunkText(content string, size int) []*contracts.LogChunk {
	var chunks []*contracts.LogChunk
	line := 1
	for len(content) > 0 {
		end := len(content)
		if end > size {
			end = size
			if i := strings.IndexByte(content[end:], '\n'); i >= 0 {
				end += i
			} else {
				end = len(content)
			}
		}
		part := content[:end]
		n := strings.Count(part, "\n") + 1
		chunks = append(chunks, &contracts.LogChunk{
			RequestID: "bench", Job: contracts.Job{ID: "job", Outcome: contracts.OutcomeFailed},
			ChunkIndex: len(chunks), LineStart: line, LineEnd: line + n - 1, OwnedStart: line, OwnedEnd: line + n - 1,
			OverlapBefore: contracts.ChunkOverlap, Content: part,
		})
		line += n
		content = strings.TrimPrefix(content[end:], "\n")
	}
	return chunks
}

func BenchmarkAnalyze(b *testing.B) {
	chunks := benchmarkCorpus(b)
	var total int64
	for _, c := range chunks {
		total += int64(len(c.Content))
	}
	e := New(Config{})
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range chunks {
			e.Analyze(c)
		}
	}
}

func BenchmarkPrefilter(b *testing.B) {
	chunks := benchmarkCorpus(b)
	var total int64
	for _, c := range chunks {
		total += int64(len(c.Content))
	}
	p := newPrefilter()
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, c := range chunks {
			s := c.Content
			for len(s) > 0 {
				i := strings.IndexByte(s, '\n')
				if i < 0 {
					i = len(s)
				}
				p.match([]byte(s[:i]))
				s = s[min(i+1, len(s)):]
			}
		}
	}
}
