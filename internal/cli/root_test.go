package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// hasTerminalControls reports whether s holds a byte or rune a terminal
// may act on: C0 controls other than tab and newline, DEL, C1 controls and
// bidirectional overrides.
func hasTerminalControls(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return r < 0x20 && r != '\t' && r != '\n' || r >= 0x7f && r <= 0x9f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
	})
}

// TestErrorsAreSafeToPrint checks that an error naming what the user or a
// log gave reaches stderr without the escape sequences it held.
func TestErrorsAreSafeToPrint(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "evil\x1b]0;pwned\x07.log") + "x"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // stderr contains it
	}{
		{"missing file", []string{"run", missing}, exitUsage, "evil.logx: no such file or directory"},
		{"unsupported URL keeps its lines", []string{"run", "https://example.com/\x1b[2J\u009b31m/1"}, exitUsage, "unsupported build URL \"https://example.com/\\x1b[2J\\u009b31m/1\"\ndestill reads:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(context.Background(), nil, tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.err, tt.want) {
				t.Errorf("%q = exit %d, stderr %q; want exit %d containing %q", tt.args, r.code, r.err, tt.wantCode, tt.want)
			}
			if hasTerminalControls(r.err) {
				t.Errorf("stderr carries terminal controls: %q", r.err)
			}
		})
	}
}

// TestAgentLogsAreSafeToPrint checks that the agents' logs on stderr carry
// no control a terminal acts on, whatever the logged text holds, and that
// the JSON log still decodes to that text.
func TestAgentLogsAreSafeToPrint(t *testing.T) {
	const hostile = "job \x1b]0;pwned\x07 c1 \u009b31m bidi \u202e end"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var errb bytes.Buffer
			a := &app{stdio: Stdio{Err: &errb}, getenv: func(string) string { return "" }}
			log, err := a.newLogger(format, "info")
			if err != nil {
				t.Fatal(err)
			}
			log.Warn(hostile, "error", hostile)
			if hasTerminalControls(strings.TrimSuffix(errb.String(), "\n")) {
				t.Errorf("log line carries terminal controls: %q", errb.String())
			}
			if format != "json" {
				return
			}
			var rec struct{ Msg, Error string }
			if err := json.Unmarshal(errb.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q: %v", errb.String(), err)
			}
			if rec.Msg != hostile || rec.Error != hostile {
				t.Errorf("decoded msg %q, error %q; want both %q", rec.Msg, rec.Error, hostile)
			}
		})
	}
}
