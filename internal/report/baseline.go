package report

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/destill-ci/destill/internal/analyze"
)

// Baseline holds the normalized messages of a passing run of the same job.
// A finding whose message also occurs there is probably noise: the run
// passed with it.
type Baseline struct {
	set map[uint64]struct{}
}

// NewBaseline returns an empty baseline.
func NewBaseline() *Baseline { return &Baseline{set: map[uint64]struct{}{}} }

// key reduces a hex message hash to 64 bits: plenty to tell messages apart
// and a quarter of the memory.
func key(hash string) (uint64, bool) {
	if len(hash) < 16 {
		return 0, false
	}
	var b [8]byte
	if _, err := hex.Decode(b[:], []byte(hash[:16])); err != nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(b[:]), true
}

// Read adds every line of a passing log, cleaned and normalized as the
// analyzer does it. It streams: memory grows with distinct messages only.
func (b *Baseline) Read(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// Lines longer than the buffer: keep their start, skip the rest.
			b.add(line)
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
		} else if len(line) > 0 {
			b.add(line)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return fmt.Errorf("read baseline: %w", err)
		}
	}
}

func (b *Baseline) add(line []byte) {
	line = bytes.TrimRight(line, "\r\n")
	msg := analyze.Clean(string(line))
	if len(bytes.TrimSpace([]byte(msg))) == 0 {
		return
	}
	if k, ok := key(analyze.Hash(analyze.Normalize(msg))); ok {
		b.set[k] = struct{}{}
	}
}

// Has reports whether a message hash occurs in the baseline.
func (b *Baseline) Has(hash string) bool {
	if b == nil {
		return false
	}
	k, ok := key(hash)
	if !ok {
		return false
	}
	_, found := b.set[k]
	return found
}
