package analyze

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusDir is the shared corpus of labelled real CI logs, outside the
// repository; DESTILL_CORPUS overrides it. Tests that need it skip when it
// is absent.
func corpusDir() string {
	if d := os.Getenv("DESTILL_CORPUS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "shared", "corpus")
}

func readGz(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return string(b)
}

// TestLoghubGrouping measures how well Normalize groups log messages: the
// grouping accuracy over Loghub's eight 2,000-line samples (the share of
// lines whose group of equal normalized messages has exactly the members of
// their ground-truth template group).
func TestLoghubGrouping(t *testing.T) {
	dir := filepath.Join(corpusDir(), "loghub")
	systems, _ := filepath.Glob(filepath.Join(dir, "*", "*_2k.log_structured_corrected.csv"))
	if len(systems) == 0 {
		t.Skipf("no loghub corpus under %s", dir)
	}
	var sum float64
	for _, path := range systems {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(bufio.NewReader(f)).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		var predicted, truth []string
		for _, r := range rows[1:] {
			predicted = append(predicted, Normalize(Clean(r[col["Content"]])))
			truth = append(truth, r[col["EventTemplate"]])
		}
		acc := groupingAccuracy(predicted, truth)
		sum += acc
		t.Logf("%-10s grouping accuracy %.3f", filepath.Base(filepath.Dir(path)), acc)
	}
	mean := sum / float64(len(systems))
	t.Logf("mean grouping accuracy %.3f over %d systems", mean, len(systems))
	if mean < 0.90 {
		t.Errorf("mean grouping accuracy = %.3f, want at least 0.90", mean)
	}
}

// groupingAccuracy is the share of items whose predicted group has exactly
// the members of their true group.
func groupingAccuracy(predicted, truth []string) float64 {
	pg := map[string][]int{}
	tg := map[string][]int{}
	for i := range predicted {
		pg[predicted[i]] = append(pg[predicted[i]], i)
		tg[truth[i]] = append(tg[truth[i]], i)
	}
	correct := 0
	for _, members := range pg {
		tm := tg[truth[members[0]]]
		if len(tm) != len(members) {
			continue
		}
		same := true
		for _, i := range members {
			if truth[i] != truth[members[0]] {
				same = false
				break
			}
		}
		if same {
			correct += len(members)
		}
	}
	return float64(correct) / float64(len(predicted))
}

// TestRecurrenceHashes checks on LogChunks that logs whose labelled failure
// recurs (equal once digits are masked) get one hash for their labelled
// line, and that different failures of a repository get different hashes.
func TestRecurrenceHashes(t *testing.T) {
	dir := filepath.Join(corpusDir(), "logchunks")
	f, err := os.Open(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		t.Skipf("no logchunks corpus: %v", err)
	}
	defer f.Close()
	type label struct {
		Log        string  `json:"log"`
		Repo       string  `json:"repo"`
		Chunk      string  `json:"chunk"`
		Recurrence *string `json:"recurrence_digits_masked"`
	}
	byGroup := map[string]map[string]bool{}
	hashRepo := map[string]map[string]bool{} // hash → distinct digit-masked chunks
	hashLine := map[string]map[string]bool{} // hash → distinct digit-masked labelled lines
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l label
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		first, _, _ := strings.Cut(l.Chunk, "\n")
		h := Hash(Normalize(Clean(first)))
		masked := l.Repo + "\x00" + maskDigits(Clean(l.Chunk))
		if hashRepo[h] == nil {
			hashRepo[h] = map[string]bool{}
		}
		hashRepo[h][masked] = true
		if hashLine[h] == nil {
			hashLine[h] = map[string]bool{}
		}
		hashLine[h][maskDigits(strings.Join(strings.Fields(Clean(first)), " "))] = true
		if l.Recurrence != nil {
			if byGroup[*l.Recurrence] == nil {
				byGroup[*l.Recurrence] = map[string]bool{}
			}
			byGroup[*l.Recurrence][h] = true
		}
	}
	split := 0
	for g, hashes := range byGroup {
		if len(hashes) > 1 {
			split++
			t.Errorf("recurrence group %s: labelled lines get %d hashes, want 1", g, len(hashes))
		}
	}
	merged := 0
	for _, chunks := range hashRepo {
		if len(chunks) > 1 {
			merged++
		}
	}
	// A chunk is labelled by its first line, so chunks that differ only
	// after it share a hash whatever the rules; what the rules merge is
	// labelled lines that differ beyond their digits.
	lineMerged := 0
	for _, lines := range hashLine {
		if len(lines) > 1 {
			lineMerged++
			var l []string
			for k := range lines {
				l = append(l, k)
			}
			t.Logf("one hash for different labelled lines: %q", l)
		}
	}
	t.Logf("%d recurrence groups, %d split; %d hashes shared by different failures, %d of them by labelled lines that differ beyond digits", len(byGroup), split, merged, lineMerged)
}

func maskDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			r = '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}
