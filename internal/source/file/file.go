// Package file reads job logs from local files, plain or gzip-compressed,
// and from standard input. Each path is one job.
package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/sanitize"
	"github.com/destill-ci/destill/internal/source"
)

// Stdin is the path that names standard input.
const Stdin = "-"

// SourceName is the value of source.Build.Source for files.
const SourceName = "file"

// ErrIsDirectory reports a path that names a directory, not a log file.
var ErrIsDirectory = errors.New("is a directory, not a log file")

// gzipMagic starts every gzip stream (RFC 1952).
var gzipMagic = []byte{0x1f, 0x8b}

// Source reads each of its paths as one job. It is safe for concurrent use;
// standard input can be opened once.
type Source struct {
	paths   []string
	buildID string
	jobs    []contracts.Job
	stdin   io.Reader

	mu        sync.Mutex
	stdinUsed bool
}

// New returns a source for paths, read in the order given, each job
// named after its path. The path "-" reads stdin, which may appear at most
// once. Paths are not opened until Build or Open.
func New(paths []string, stdin io.Reader) (*Source, error) {
	return NewNamed(paths, nil, stdin)
}

// NewNamed is New with a name for each path: the job reading paths[i] is
// shown as names[i] and its id derives from it, so that a log read through
// its absolute path (an agent's) looks as it does read through the relative
// path a user typed. nil names, or an empty one, stand for the path itself.
// The build id derives from the absolute paths, so the same files give the
// same build whether their paths were given relative or absolute.
func NewNamed(paths, names []string, stdin io.Reader) (*Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("file: no log files given")
	}
	if names != nil && len(names) != len(paths) {
		return nil, fmt.Errorf("file: %d names given for %d paths: one name per path", len(names), len(paths))
	}
	s := &Source{paths: append([]string(nil), paths...), stdin: stdin}
	abs := make([]string, len(paths))
	seenStdin := false
	for i, p := range paths {
		if p == "" {
			return nil, fmt.Errorf("file: argument %d is an empty path", i+1)
		}
		abs[i] = p
		if p == Stdin {
			if seenStdin {
				return nil, errors.New("file: stdin (-) given more than once; it can be read only once")
			}
			if stdin == nil {
				return nil, errors.New("file: stdin (-) given but no standard input is available")
			}
			seenStdin = true
		} else {
			a, err := filepath.Abs(p)
			if err != nil {
				return nil, fmt.Errorf("file: %s: %w", p, err)
			}
			abs[i] = a
		}
		name := p
		if names != nil && names[i] != "" {
			name = names[i]
		}
		id := jobID(i, name)
		s.jobs = append(s.jobs, contracts.Job{
			ID:      id,
			Name:    jobName(name, id),
			Outcome: contracts.OutcomeUnknown,
		})
	}
	s.buildID = buildID(abs)
	return s, nil
}

// jobID derives a stable, readable job id from a path and its position:
// "<n>-<base name>", with characters outside [A-Za-z0-9._-] replaced.
func jobID(i int, path string) string {
	base := "stdin"
	if path != Stdin {
		base = filepath.Base(path)
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(i + 1))
	b.WriteByte('-')
	for _, r := range base {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// jobName is how a job is shown: its path as given, less the escape
// sequences and control characters a file name can hold (see package
// sanitize), so that no output carries them; its id when nothing is left.
func jobName(path, id string) string {
	if name := sanitize.String(path); name != "" {
		return name
	}
	return id
}

// buildID derives a deterministic build id from absolute paths (and "-").
func buildID(paths []string) string {
	h := sha256.New()
	for _, p := range paths {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "files-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Build checks that every file can be opened and describes one job per path.
// Its id depends only on the absolute paths, so the same files yield the
// same build id however their paths were written.
func (s *Source) Build(ctx context.Context) (source.Build, error) {
	for _, p := range s.paths {
		if err := ctx.Err(); err != nil {
			return source.Build{}, err
		}
		if p == Stdin {
			continue
		}
		// Opening a named pipe waits for its writer, and closing it
		// again would end the writer's output: Open reads it once.
		if isNamedPipe(p) {
			continue
		}
		f, err := openFile(p)
		if err != nil {
			return source.Build{}, fmt.Errorf("file: %w", err)
		}
		f.Close()
	}
	return source.Build{
		ID:     s.buildID,
		Source: SourceName,
		Jobs:   append([]contracts.Job(nil), s.jobs...),
	}, nil
}

// Open streams the job's log, decompressing it when it starts with the gzip
// magic bytes (whatever the file is called). Other bytes pass through as
// they are.
func (s *Source) Open(ctx context.Context, job contracts.Job) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, ok := s.pathOf(job.ID)
	if !ok {
		return nil, fmt.Errorf("file: open job %q: no such job in this build", job.ID)
	}
	var (
		r      io.Reader
		closer io.Closer
	)
	if path == Stdin {
		s.mu.Lock()
		used := s.stdinUsed
		s.stdinUsed = true
		s.mu.Unlock()
		if used {
			return nil, errors.New("file: open stdin: already read; standard input can be read only once")
		}
		// A read of standard input can block for as long as the writer
		// keeps it open: it runs apart, so that cancelling stops the job.
		pr, pw := io.Pipe()
		go func() { _, err := io.Copy(pw, s.stdin); pw.CloseWithError(err) }()
		stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
		r, closer = pr, closerFunc(func() error { stop(); return pr.Close() })
	} else {
		f, err := openWaiting(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
		// A read of a pipe (a named pipe, <(command)) blocks for as long as
		// the writer keeps it open: closing the file when ctx ends stops it.
		stop := context.AfterFunc(ctx, func() { f.Close() })
		r, closer = f, closerFunc(func() error {
			if !stop() {
				return nil // closed when ctx ended
			}
			return f.Close()
		})
	}
	rc, err := decode(ctx, path, r, closer)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		return nil, err
	}
	return rc, nil
}

func (s *Source) pathOf(jobID string) (string, bool) {
	for i, j := range s.jobs {
		if j.ID == jobID {
			return s.paths[i], true
		}
	}
	return "", false
}

// isNamedPipe reports whether path names a named pipe (a FIFO).
func isNamedPipe(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

// openWaiting is openFile for a file whose open may wait: the open of a
// named pipe waits for a writer, and cannot be interrupted, so it runs
// apart and ctx ending stops the wait (the open is left to finish or to
// end with the process).
func openWaiting(ctx context.Context, path string) (*os.File, error) {
	if !isNamedPipe(path) {
		return openFile(path)
	}
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := openFile(path)
		ch <- opened{f, err}
	}()
	select {
	case o := <-ch:
		return o.f, o.err
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, fmt.Errorf("open %s: waiting for a writer: %w", path, ctx.Err())
	}
}

// openFile opens a regular file (or anything readable that is not a
// directory, such as a named pipe).
func openFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: ErrIsDirectory}
	}
	return f, nil
}

// decode sniffs r for gzip and returns the log stream.
func decode(ctx context.Context, path string, r io.Reader, closer io.Closer) (io.ReadCloser, error) {
	name := path
	if path == Stdin {
		name = "stdin"
	}
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(len(gzipMagic))
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("file: read %s: %w", name, err)
	}
	lr := &logReader{ctx: ctx, name: name, r: br, closer: closer}
	if string(head) == string(gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("file: decompress %s: %w", name, err)
		}
		lr.r, lr.gz = bufio.NewReaderSize(zr, 64<<10), zr
	}
	return lr, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ErrBinary reports a file that holds binary data, not a text log.
var ErrBinary = errors.New("binary data, not a text log")

// A text log holds few control bytes besides its layout (tab, LF, VT, FF,
// CR) and its terminal controls (BEL, BS, ESC, SO, SI): a stray NUL, say,
// which the analyzer drops. Executables, archives, images and compressed
// data hold the other C0 controls all along. A log is binary when the part
// of its first binarySniff bytes that has arrived holds more than
// binaryStray of those controls and they are more than 1 in binaryShare of
// its bytes.
const (
	binarySniff = 8 << 10
	binaryStray = 4
	binaryShare = 50
)

// isBinaryControl reports whether c is a C0 control that text does not hold.
func isBinaryControl(c byte) bool {
	switch c {
	case '\t', '\n', '\v', '\f', '\r', '\a', '\b', 0x1b, 0x0e, 0x0f:
		return false
	}
	return c < 0x20
}

// logReader annotates read errors with the file name, stops when ctx is
// done, refuses binary data and closes what it opened.
type logReader struct {
	ctx    context.Context
	name   string
	r      *bufio.Reader // the log, decompressed
	gz     *gzip.Reader
	closer io.Closer

	read     int   // bytes of the log returned so far, counted up to binarySniff
	sniffed  int   // bytes of the log's start looked at by sniff
	controls int   // binary control bytes among them
	err      error // ErrBinary, once the log is refused
}

func (l *logReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if err := l.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := 0, l.sniff()
	if err == nil {
		n, err = l.r.Read(p)
		l.read = min(l.read+n, binarySniff)
	}
	switch {
	case err == nil || err == io.EOF || err == l.err:
		return n, err
	case l.ctx.Err() != nil:
		// The read failed because ctx ended and closed the stream.
		return n, l.ctx.Err()
	case l.gz != nil:
		return n, fmt.Errorf("file: decompress %s: %w", l.name, err)
	}
	return n, fmt.Errorf("file: read %s: %w", l.name, err)
}

// sniff looks at the bytes of the log's first binarySniff that have arrived
// since it last looked, reading first, as Read would, when none is waiting.
// It looks at what has arrived rather than at what Read returns, so that
// the outcome does not depend on the caller's buffer. It returns a read
// error, or ErrBinary once the controls are too many for a text log.
func (l *logReader) sniff() error {
	if l.sniffed >= binarySniff {
		return nil
	}
	if _, err := l.r.Peek(1); err != nil {
		return err
	}
	arrived, _ := l.r.Peek(min(l.r.Buffered(), binarySniff-l.read))
	for _, c := range arrived[l.sniffed-l.read:] {
		if isBinaryControl(c) {
			l.controls++
		}
	}
	l.sniffed = l.read + len(arrived)
	if l.controls > binaryStray && l.controls*binaryShare > l.sniffed {
		l.err = fmt.Errorf("file: %s: %w (%d of its first %d bytes are NUL or other control bytes; give a text log, plain or gzip)",
			l.name, ErrBinary, l.controls, l.sniffed)
		return l.err
	}
	return nil
}

func (l *logReader) Close() error {
	var errs []error
	if l.gz != nil {
		errs = append(errs, l.gz.Close())
	}
	if l.closer != nil {
		errs = append(errs, l.closer.Close())
	}
	return errors.Join(errs...)
}
