package analyze

import (
	"crypto/sha1"
	"strconv"

	"github.com/destill-ci/destill/contracts"
)

// findingNamespace is the UUID namespace of contracts.FindingID
// (6f1c2d2e-8a57-4c59-9d0c-5f3b8f9e1d42); TestFindingIDAgrees checks it.
var findingNamespace = [16]byte{0x6f, 0x1c, 0x2d, 0x2e, 0x8a, 0x57, 0x4c, 0x59, 0x9d, 0x0c, 0x5f, 0x3b, 0x8f, 0x9e, 0x1d, 0x42}

// findingID returns contracts.FindingID(requestID, jobID, lineNumber), a
// version 5 UUID, hashing on the stack: the string is its one allocation.
func findingID(requestID, jobID string, lineNumber int) string {
	if lineNumber < 0 {
		return contracts.FindingID(requestID, jobID, lineNumber)
	}
	var stack [192]byte
	b := append(stack[:0], findingNamespace[:]...)
	b = append(b, requestID...)
	b = append(b, 0)
	b = append(b, jobID...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(lineNumber), 10)
	sum := sha1.Sum(b)
	sum[6] = sum[6]&0x0f | 0x50 // version 5
	sum[8] = sum[8]&0x3f | 0x80 // RFC 4122 variant
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i := range 16 {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[sum[i]>>4], hex[sum[i]&0x0f]
		j += 2
	}
	return string(out[:])
}
