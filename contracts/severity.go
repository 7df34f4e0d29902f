package contracts

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Severity is an ordered level: a larger value is more severe. Its JSON form
// is the upper-case name; use Rank when ordering in SQL.
type Severity int

// Severities, least to most severe.
const (
	SeverityUnknown Severity = iota
	SeverityInfo
	SeverityWarn
	SeverityError
	SeverityFatal
)

var severityNames = [...]string{"UNKNOWN", "INFO", "WARN", "ERROR", "FATAL"}

// String returns the upper-case name, e.g. "ERROR".
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("Severity(%d)", int(s))
	}
	return severityNames[s]
}

// Rank is the integer stored next to the name so SQL orders severities correctly.
func (s Severity) Rank() int { return int(s) }

// ParseSeverity reads a name as written by String (case-insensitive; "WARNING"
// is accepted for WARN).
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "WARNING" {
		n = "WARN"
	}
	for i, v := range severityNames {
		if v == n {
			return Severity(i), nil
		}
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q", name)
}

// MarshalJSON writes the name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a name (or, for tolerance, a rank number).
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		var n int
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("severity: %w", err)
		}
		if n < 0 || n >= len(severityNames) {
			return fmt.Errorf("severity rank %d out of range", n)
		}
		*s = Severity(n)
		return nil
	}
	v, err := ParseSeverity(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}
