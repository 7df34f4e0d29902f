package sink

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
)

// TestDecodeCardFastAgreesWithEncodingJSON checks that the fast decoder
// either gives exactly what encoding/json gives or declines.
func TestDecodeCardFastAgreesWithEncodingJSON(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	exit := 2
	card := contracts.TriageCard{Version: 1, ID: contracts.FindingID("r", "j", 3), RequestID: "r", MessageHash: "h",
		Source: "buildkite", BuildID: "b", BuildURL: "https://x/builds/1",
		Job:      contracts.Job{ID: "j", Name: "tests \"unit\"", URL: "u", Outcome: contracts.OutcomeFailed, ExitStatus: &exit},
		Severity: contracts.SeverityFatal, LineNumber: 3, EndLine: 9, RawMessage: "\x1b[31mERR\x1b[0m\ttab\\ \u2028 é 😀",
		Message: "ERR", NormalizedMessage: "err <n>", NormalizerVersion: 2, ConfidenceScore: 0.875, Rule: "r",
		PreContext: []string{"a", "", "<script>&"}, PostContext: []string{}, ContextNote: "n", ChunkIndex: 4, LineInChunk: 7,
		Timestamp: &ts, Metadata: map[string]string{"k": "v"}}
	enc, err := json.Marshal(card)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		fast bool // the fast path must take it
	}{
		{"encoded card", string(enc), true},
		{"minimal", `{"version":1,"id":"i","request_id":"r","message_hash":"h","severity":"ERROR"}`, true},
		{"whitespace and nulls", " {\n\"version\" : 1 , \"pre_context\" : null, \"timestamp\": null, \"job_name\": null, \"exit_status\": null} \n", true},
		{"escapes", `{"message":"\u00e9\ud83d\ude00\"\\\/\b\f\n\r\t","pre_context":["\u001b[0m"]}`, true},
		{"lone surrogate", `{"message":"\ud83d x \ude00"}`, true},
		{"severity alias", `{"severity":"warning"}`, true},
		{"negative and zero", `{"line_number":-0,"end_line":-12,"confidence_score":-1.5e-3}`, true},
		{"duplicate key", `{"message":"a","message":"b","pre_context":["x","y"],"pre_context":["z"]}`, true},
		{"unknown key", `{"version":1,"extra":[1,2,{"a":null}]}`, false},
		{"other case", `{"Version":1}`, false},
		{"float where int", `{"line_number":1.0}`, false},
		{"string where int", `{"line_number":"1"}`, false},
		{"severity number", `{"severity":3}`, false},
		{"severity null", `{"severity":null}`, false},
		{"bad severity", `{"severity":"LOUD"}`, false},
		{"huge int", `{"line_number":123456789012345678901}`, false},
		{"leading zero", `{"line_number":01}`, false},
		{"trailing data", `{"version":1} {}`, false},
		{"not json", `{not json`, false},
		{"truncated", `{"message":"abc`, false},
		{"control character", "{\"message\":\"a\x01b\"}", false},
		{"invalid utf-8", "{\"message\":\"a\xffb\"}", false},
		{"bad escape", `{"message":"\x"}`, false},
		{"bad time", `{"timestamp":"yesterday"}`, false},
		{"array", `[1]`, false},
		{"empty", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fast, slow contracts.TriageCard
			ok := decodeCardFast([]byte(tt.in), &fast)
			if tt.fast && !ok {
				t.Fatalf("fast path declined %s", tt.in)
			}
			if !ok {
				return
			}
			if err := json.Unmarshal([]byte(tt.in), &slow); err != nil {
				t.Fatalf("fast path accepted what encoding/json refuses (%v): %s", err, tt.in)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Errorf("fast path differs from encoding/json:\nfast %#v\nslow %#v", fast, slow)
			}
		})
	}
}

// TestDecodeCardFastStringsAtEveryOffset puts each kind of special byte at
// every position of strings longer than a machine word.
func TestDecodeCardFastStringsAtEveryOffset(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\n`, `\u00e9`, "\x01", "\x1f", "é", "\u2028", "\x7f"} {
		for at := 0; at <= 20; at++ {
			for _, tail := range []int{0, 1, 7, 8, 9, 17} {
				msg := strings.Repeat("a", at) + special + strings.Repeat("b", tail)
				in := `{"message":"` + msg + `","pre_context":["` + msg + `","` + msg + msg + `"]}`
				var fast, slow contracts.TriageCard
				ok := decodeCardFast([]byte(in), &fast)
				err := json.Unmarshal([]byte(in), &slow)
				if ok && err != nil {
					t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, in)
				}
				if !ok && err == nil && special[0] >= 0x20 {
					t.Fatalf("fast path declined %q", in)
				}
				if ok && !reflect.DeepEqual(fast, slow) {
					t.Fatalf("fast path differs from encoding/json on %q:\nfast %#v\nslow %#v", in, fast, slow)
				}
			}
		}
	}
}

func TestHasSpecial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		var b [8]byte
		for i := range b {
			switch r.IntN(4) {
			case 0:
				b[i] = byte(r.IntN(256))
			case 1:
				b[i] = []byte{'"', '\\', 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x80, 0xff, 0}[r.IntN(10)]
			default:
				b[i] = byte(0x20 + r.IntN(0x60))
			}
		}
		want := false
		for _, c := range b {
			want = want || special[c]
		}
		if got := hasSpecial(load64(string(b[:]))); got != want {
			t.Fatalf("hasSpecial(%q) = %v, want %v", b, got, want)
		}
	}
}

// BenchmarkDecodeCard measures the fast decoder on a card like the sink
// benchmarks' (45 context lines).
func BenchmarkDecodeCard(b *testing.B) {
	c := contracts.TriageCard{Version: 1, ID: contracts.FindingID("r", "job-1", 1), RequestID: "r", MessageHash: "0123456789abcdef",
		Source: "buildkite", BuildURL: "https://buildkite.com/acme/app/builds/1", Job: contracts.Job{ID: "job-1", Name: "integration tests"},
		Severity: contracts.SeverityError, LineNumber: 1, EndLine: 4, ConfidenceScore: 0.8,
		RawMessage: "\x1b[31mERROR\x1b[0m AssertionError: expected 200 but got 500 in test_checkout",
		Message:    "ERROR AssertionError: expected 200 but got 500 in test_checkout"}
	for i := range contracts.ContextBefore {
		c.PreContext = append(c.PreContext, "2026-03-01T12:00:00Z   at org.example.Service.call(Service.java:"+strings.Repeat("1", i%4+1)+")")
	}
	for range contracts.ContextAfter {
		c.PostContext = append(c.PostContext, "2026-03-01T12:01:00Z   [INFO] Tests run: 12, Failures: 1, Errors: 0, \"quoted\" C:\\path")
	}
	v, err := json.Marshal(c)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		var got contracts.TriageCard
		if !decodeCardFast(v, &got) {
			b.Fatal("declined")
		}
	}
}
