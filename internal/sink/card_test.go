package sink

import (
	"encoding/json"
	"reflect"
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
