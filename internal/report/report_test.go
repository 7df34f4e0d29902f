package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/analyze"
	"github.com/google/go-cmp/cmp"
)

func card(job string, line int, msg string, conf float64) contracts.TriageCard {
	norm := analyze.Normalize(msg)
	return contracts.TriageCard{
		ID: contracts.FindingID("r", job, line), RequestID: "r", Job: contracts.Job{ID: job, Name: "job " + job},
		LineNumber: line, EndLine: line, Message: msg, NormalizedMessage: norm, MessageHash: analyze.Hash(norm),
		Severity: contracts.SeverityError, ConfidenceScore: conf,
	}
}

func TestFindingsGroupByHash(t *testing.T) {
	c := NewCollector()
	c.Add(card("a", 10, "error: cannot find symbol Foo", 0.9))
	c.Add(card("b", 20, "error: cannot find symbol Foo", 0.9))
	c.Add(card("a", 30, "warning: something else failed", 0.3))
	fs := c.Findings(nil)
	if len(fs) != 2 {
		t.Fatalf("Findings = %d groups, want 2", len(fs))
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Message)
	}
	for _, f := range fs {
		if f.Message == "error: cannot find symbol Foo" {
			if f.Recurrence != 2 || !cmp.Equal(f.Jobs, []string{"job a", "job b"}) {
				t.Errorf("group: recurrence %d, jobs %v; want 2, [job a job b]", f.Recurrence, f.Jobs)
			}
		}
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
}

func TestBaselineDemotes(t *testing.T) {
	c := NewCollector()
	c.Add(card("a", 10, "ERROR: flaky cache miss on host 12", 0.9))
	c.Add(card("a", 40, "error: test FooTest failed", 0.5))
	base := NewBaseline()
	if err := base.Read(strings.NewReader("start\r\n\x1b[31mERROR: flaky cache miss on host 7\x1b[0m\r\nok\n")); err != nil {
		t.Fatal(err)
	}
	fs := c.Findings(base)
	if len(fs) != 2 || fs[0].LineNumber != 40 || !fs[1].InBaseline || fs[0].InBaseline {
		t.Errorf("Findings with baseline = %+v, want line 40 first and line 10 marked in_baseline last", fs)
	}
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"\x1b]0;title\x07x", "x"},
		{"\x1b]52;c;ZXZpbA==\x1b\\y", "y"},
		{"\x1b[2J\x1b[Hz", "z"},
		{"a\tb", "a       b"},
		{"c\u009b31md", "cd"},
		{"x\u202eevil", "xevil"},
		{"nul\x00byte", "nulbyte"},
		{"\x1bP+q\x1b\\dcs", "dcs"},
	} {
		if got := Sanitize(tc.in); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRecurrenceCountsOccurrences(t *testing.T) {
	c := NewCollector()
	block := card("a", 10, "E   NameError: name 'os' is not defined", 0.8)
	block.EndLine = 40
	inner := card("a", 30, "E   NameError: name 'os' is not defined", 0.8) // the same traceback, deep inside it
	again := card("a", 90, "E   NameError: name 'os' is not defined", 0.8)
	other := card("b", 30, "E   NameError: name 'os' is not defined", 0.8)
	for _, k := range []contracts.TriageCard{inner, again, block, other} {
		c.Add(k)
	}
	fs := c.Findings(nil)
	if len(fs) != 1 || fs[0].Recurrence != 3 {
		t.Errorf("Findings = %d groups, recurrence %d; want 1 group occurring 3 times", len(fs), fs[0].Recurrence)
	}
}

func TestWriteTextShowsTheKeyLine(t *testing.T) {
	post := make([]string, 30)
	for i := range post {
		post[i] = fmt.Sprintf("  File \"app.py\", line %d, in f", i)
	}
	post[19] = "ValueError: bad input"
	card := contracts.TriageCard{
		Job: contracts.Job{ID: "j", Name: "test"}, Severity: contracts.SeverityError, ConfidenceScore: 0.8,
		LineNumber: 10, EndLine: 30, Message: "ValueError: bad input", RawMessage: "Traceback (most recent call last):",
		PreContext: []string{"a", "b"}, PostContext: post, MessageHash: "h",
	}
	var b strings.Builder
	if err := WriteText(&b, []Finding{{TriageCard: card, Recurrence: 1}}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{">     10 │ Traceback (most recent call last):", "┆", ">     30 │ ValueError: bad input"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}

	// A key line among the lines shown is not shown twice.
	card.PostContext[1], card.EndLine = "ValueError: bad input", 12
	b.Reset()
	if err := WriteText(&b, []Finding{{TriageCard: card, Recurrence: 1}}, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "ValueError: bad input"); n != 2 {
		t.Errorf("the key line appears %d times, want twice (message and context):\n%s", n, b.String())
	}
}
