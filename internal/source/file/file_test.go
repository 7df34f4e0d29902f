package file

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/destill-ci/destill/contracts"
	"github.com/destill-ci/destill/internal/source"
	"github.com/google/go-cmp/cmp"
)

// Compile-time check that Source implements the contract.
var _ source.Source = (*Source)(nil)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readJob(t *testing.T, s *Source, job contracts.Job) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), job)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", job.ID, err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", job.ID, err)
	}
	return got
}

func TestSourceReadsPlainGzipBinaryAndStdin(t *testing.T) {
	dir := t.TempDir()
	plain := []byte("line 1\nerror: boom\r\nlast line without newline")
	binary := []byte{0x01, 0xff, 0xfe, '\n', 0x1b, '[', '3', '1', 'm', 0x80, 0x1f}
	stdinLog := []byte("from stdin\n")
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 100_000) // larger than any buffer
	lateNUL := append(bytes.Repeat([]byte("text\n"), 2000), 0, '\n')

	tests := []struct {
		name string
		path string // "-" for stdin
		want []byte
	}{
		{"plain", writeFile(t, dir, "build.log", plain), plain},
		{"gzip with a plain name", writeFile(t, dir, "job.log", gzipBytes(t, plain)), plain},
		{"gzip large", writeFile(t, dir, "big.log.gz", gzipBytes(t, big)), big},
		{"control and invalid bytes pass through", writeFile(t, dir, "bin.dat", binary), binary},
		{"a NUL after the first 8 KiB passes through", writeFile(t, dir, "late-nul.log", lateNUL), lateNUL},
		{"single gzip magic byte is plain", writeFile(t, dir, "one", []byte{0x1f}), []byte{0x1f}},
		{"empty", writeFile(t, dir, "empty.log", nil), []byte{}},
		{"stdin", Stdin, stdinLog},
	}
	var paths []string
	for _, tt := range tests {
		paths = append(paths, tt.path)
	}
	s, err := New(paths, bytes.NewReader(gzipBytes(t, stdinLog)))
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	if len(b.Jobs) != len(tests) {
		t.Fatalf("Build() jobs = %d, want %d", len(b.Jobs), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := b.Jobs[i]
			if job.Name != tt.path {
				t.Errorf("job name = %q, want %q", job.Name, tt.path)
			}
			if job.Outcome != contracts.OutcomeUnknown {
				t.Errorf("job outcome = %q, want %q", job.Outcome, contracts.OutcomeUnknown)
			}
			got := readJob(t, s, job)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Open(%s) read %d bytes, want %d bytes equal to the input", tt.path, len(got), len(tt.want))
			}
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.log", []byte("a\n"))
	bPath := writeFile(t, dir, "b log.txt", []byte("b\n"))

	build := func(paths ...string) source.Build {
		t.Helper()
		s, err := New(paths, strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Build(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, second := build(a, bPath, Stdin), build(a, bPath, Stdin)
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("Build() differs between identical sources (-first +second):\n%s", diff)
	}
	wantJobs := []contracts.Job{
		{ID: "1-a.log", Name: a, Outcome: contracts.OutcomeUnknown},
		{ID: "2-b_log.txt", Name: bPath, Outcome: contracts.OutcomeUnknown},
		{ID: "3-stdin", Name: "-", Outcome: contracts.OutcomeUnknown},
	}
	if diff := cmp.Diff(wantJobs, first.Jobs); diff != "" {
		t.Errorf("Build().Jobs mismatch (-want +got):\n%s", diff)
	}
	if first.Source != "file" || first.URL != "" || !strings.HasPrefix(first.ID, "files-") {
		t.Errorf("Build() = {ID:%q URL:%q Source:%q}, want ID files-…, no URL, source file", first.ID, first.URL, first.Source)
	}
	if other := build(bPath, a); other.ID == first.ID {
		t.Errorf("Build().ID = %q for different inputs, want a different id", other.ID)
	}
}

// TestNamedPathsGiveTheSameBuild: a log read through its absolute path and
// named as the relative path a user typed is the same build, with the same
// jobs, as the log read through the relative path; the build id depends on
// which files are read, not on how their paths were written.
func TestNamedPathsGiveTheSameBuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "a.log", []byte("a\n"))
	writeFile(t, dir, "sub/b log.txt", []byte("b\n"))
	t.Chdir(dir)
	abs := func(p string) string { return filepath.Join(dir, p) }
	build := func(t *testing.T, paths, names []string) source.Build {
		t.Helper()
		s, err := NewNamed(paths, names, strings.NewReader("stdin\n"))
		if err != nil {
			t.Fatalf("NewNamed(%q, %q) = %v", paths, names, err)
		}
		b, err := s.Build(context.Background())
		if err != nil {
			t.Fatalf("Build() = %v", err)
		}
		for _, j := range b.Jobs {
			if got := readJob(t, s, j); len(got) == 0 {
				t.Errorf("job %s read nothing", j.ID)
			}
		}
		return b
	}
	tests := []struct {
		name  string
		typed []string // as on the command line
		abs   []string // what an agent reads
	}{
		{"relative", []string{"a.log"}, []string{abs("a.log")}},
		{"dot slash", []string{"./a.log"}, []string{abs("a.log")}},
		{"subdirectory and space", []string{"sub/b log.txt", "a.log"}, []string{abs("sub/b log.txt"), abs("a.log")}},
		{"dot dot", []string{"sub/../a.log"}, []string{abs("a.log")}},
		{"absolute", []string{abs("a.log")}, []string{abs("a.log")}},
		{"with stdin", []string{"a.log", Stdin}, []string{abs("a.log"), Stdin}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := build(t, tt.typed, nil)
			for i, j := range local.Jobs {
				if j.Name != tt.typed[i] {
					t.Errorf("job %d name = %q, want %q as given", i, j.Name, tt.typed[i])
				}
			}
			if diff := cmp.Diff(local, build(t, tt.abs, tt.typed)); diff != "" {
				t.Errorf("absolute paths named as typed give another build (-typed +named):\n%s", diff)
			}
			if id := build(t, tt.abs, nil).ID; id != local.ID {
				t.Errorf("build id of the absolute paths = %s, want %s as for the typed ones", id, local.ID)
			}
		})
	}
}

func TestNamedPathsErrors(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.log", []byte("a\n"))
	tests := []struct {
		name  string
		paths []string
		names []string
		want  string // substring of the error; "" for none
		job   string // the job's name when there is no error
	}{
		{"fewer names", []string{a, a}, []string{"a.log"}, "1 names given for 2 paths", ""},
		{"more names", []string{a}, []string{"a.log", "b.log"}, "2 names given for 1 paths", ""},
		{"empty name stands for the path", []string{a}, []string{""}, "", a},
		{"name with controls is sanitized", []string{a}, []string{"x\x1b]0;title\x07.log"}, "", "x.log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewNamed(tt.paths, tt.names, nil)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("NewNamed() error = %v, want containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewNamed() error = %v", err)
			}
			b, err := s.Build(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if b.Jobs[0].Name != tt.job {
				t.Errorf("job name = %q, want %q", b.Jobs[0].Name, tt.job)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.log")
	corrupt := writeFile(t, dir, "corrupt.gz", []byte{0x1f, 0x8b, 0x08, 0x00, 0x00})

	tests := []struct {
		name    string
		paths   []string
		stdin   io.Reader
		newErr  string // substring of the New error, if New fails
		buildIs error
		build   string // substring of the Build error
	}{
		{name: "no paths", paths: nil, newErr: "no log files given"},
		{name: "empty path", paths: []string{""}, newErr: "empty path"},
		{name: "stdin twice", paths: []string{"-", "-"}, stdin: strings.NewReader(""), newErr: "more than once"},
		{name: "stdin without reader", paths: []string{"-"}, newErr: "no standard input"},
		{name: "missing file", paths: []string{missing}, buildIs: fs.ErrNotExist, build: "file: open " + missing + ": no such file"},
		{name: "directory", paths: []string{dir}, buildIs: ErrIsDirectory, build: "file: open " + dir + ": is a directory"},
		{name: "corrupt gzip builds", paths: []string{corrupt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.paths, tt.stdin)
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("New(%q) error = %v, want containing %q", tt.paths, err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q) error = %v", tt.paths, err)
			}
			_, err = s.Build(context.Background())
			if tt.build == "" {
				if err != nil {
					t.Fatalf("Build() error = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.build) {
				t.Errorf("Build() error = %v, want containing %q", err, tt.build)
			}
			if !errors.Is(err, tt.buildIs) {
				t.Errorf("Build() error = %v, want errors.Is %v", err, tt.buildIs)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.log", []byte("ok\n"))
	corrupt := writeFile(t, dir, "corrupt.gz", append(gzipBytes(t, bytes.Repeat([]byte("x"), 1000))[:20], 0xde, 0xad))
	s, err := New([]string{good, corrupt, Stdin}, strings.NewReader("in\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("unknown job", func(t *testing.T) {
		_, err := s.Open(context.Background(), contracts.Job{ID: "nope"})
		if err == nil || !strings.Contains(err.Error(), `file: open job "nope"`) {
			t.Errorf("Open(nope) error = %v, want unknown job", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Open(ctx, b.Jobs[0]); !errors.Is(err, context.Canceled) {
			t.Errorf("Open(canceled ctx) error = %v, want context.Canceled", err)
		}
	})
	t.Run("corrupt gzip", func(t *testing.T) {
		rc, err := s.Open(context.Background(), b.Jobs[1])
		if err == nil {
			_, err = io.ReadAll(rc)
			rc.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "file: decompress "+corrupt) {
			t.Errorf("reading corrupt gzip error = %v, want file: decompress %s: …", err, corrupt)
		}
	})
	t.Run("stdin once", func(t *testing.T) {
		if got := readJob(t, s, b.Jobs[2]); string(got) != "in\n" {
			t.Errorf("stdin = %q, want %q", got, "in\n")
		}
		if _, err := s.Open(context.Background(), b.Jobs[2]); err == nil || !strings.Contains(err.Error(), "already read") {
			t.Errorf("second Open(stdin) error = %v, want already read", err)
		}
	})
	t.Run("file removed after build", func(t *testing.T) {
		if err := os.Remove(good); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Open(context.Background(), b.Jobs[0]); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Open(removed) error = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	p := writeFile(t, t.TempDir(), "secret.log", []byte("x"))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	s, err := New([]string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Build(context.Background()); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Build() error = %v, want fs.ErrPermission", err)
	}
}

// TestBinaryFilesAreRefused checks where text ends and binary data begins:
// a log is refused when its first 8 KiB hold more than a handful of NUL
// and other control bytes that text does not hold, and more than 1 in 50
// of its bytes; a text log with a few stray NULs is read.
func TestBinaryFilesAreRefused(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	executable, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 64)...)
	text := bytes.Repeat([]byte("2024-05-01 step 12: compiling module foo/bar ... ok\n"), 300) // 15.6 KB
	// withNULs puts n NUL bytes into the first 8 KiB of text, evenly spread.
	withNULs := func(n int) []byte {
		b := bytes.Clone(text)
		for i := range n {
			b[i*(binarySniff/n)] = 0
		}
		return b
	}
	qaRepro := slices.Concat(text[:104], []byte("x\x00\n"), text[104:]) // a NUL at offset 105, on line 3

	tests := []struct {
		name       string
		data       []byte
		wantBinary bool
	}{
		{"an executable", executable, true},
		{"an ELF header", elf, true},
		{"a gzipped ELF header", gzipBytes(t, elf), true},
		{"a PNG", pngOfNoise(t), true},
		{"a tar of a text log", tarOf(t, "build.log", text), true},
		{"random bytes", randomBytes(16 << 10), true},
		{"UTF-16", []byte("e\x00r\x00r\x00o\x00r\x00"), true},
		{"one NUL on line 3", qaRepro, false},
		{"one NUL, gzipped", gzipBytes(t, qaRepro), false},
		{"a NUL and nothing else", []byte{0}, false},
		{"4 NULs in a short log", []byte("a\x00b\x00\nc\x00d\x00\n"), false},
		{"5 NULs in a short log", []byte("a\x00b\x00\nc\x00d\x00\x00\n"), true},
		{"163 NULs in 8 KiB (1 in 50.3)", withNULs(163), false},
		{"164 NULs in 8 KiB (1 in 49.95)", withNULs(164), true},
		{"terminal controls", bytes.Repeat([]byte("\x1b[1m\x1b(B\x0fbold\x0e\x07\x08\x08\r\v\f\t.\n"), 400), false},
		{"NULs after the first 8 KiB", slices.Concat(text[:binarySniff], make([]byte, 4096), text), false},
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, dir, fmt.Sprintf("%d.log", i), tt.data)
			s, err := New([]string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Build(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			rc, err := s.Open(context.Background(), b.Jobs[0])
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			switch {
			case tt.wantBinary && (!errors.Is(err, ErrBinary) || !strings.Contains(err.Error(), path) || len(got) != 0):
				t.Errorf("read %d bytes, error %v; want none and ErrBinary naming the file", len(got), err)
			case !tt.wantBinary && err != nil:
				t.Errorf("read error = %v, want the log read as text", err)
			}
		})
	}
}

// pngOfNoise encodes an image of random pixels: compressed data, as most
// binary files hold, with few NUL bytes.
func pngOfNoise(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 128, 128))
	copy(img.Pix, randomBytes(len(img.Pix)))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

// TestBlockedReadStopsWithItsContext checks that a job reading a stream
// that stays open (standard input, a named pipe, <(command)) ends when its
// context does, and that lines already written are read as they arrive.
func TestBlockedReadStopsWithItsContext(t *testing.T) {
	tests := []struct {
		name string
		// open returns the path to read, the stdin to give New, and the
		// writer that keeps the stream open.
		open func(t *testing.T) (path string, stdin io.Reader, w io.WriteCloser)
	}{
		{"stdin", func(t *testing.T) (string, io.Reader, io.WriteCloser) {
			pr, pw := io.Pipe()
			return Stdin, pr, pw
		}},
		{"named pipe", func(t *testing.T) (string, io.Reader, io.WriteCloser) {
			p := namedPipe(t)
			// Opened read-write, the pipe has a writer at once and stays open.
			w, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			return p, nil, w
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, stdin, w := tt.open(t)
			defer w.Close()
			s, err := New([]string{path}, stdin)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Build(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			go w.Write([]byte("error: first line\n"))
			rc, err := s.Open(ctx, b.Jobs[0])
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			buf := make([]byte, 64)
			n, err := rc.Read(buf)
			if err != nil || string(buf[:n]) != "error: first line\n" {
				t.Fatalf("first read = %q, %v; want the line written so far", buf[:n], err)
			}
			done := make(chan error, 1)
			go func() { _, err := rc.Read(buf); done <- err }()
			waitForBlockedRead(t)
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("read after cancel = %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a read of a stream that stays open outlived its context")
			}
		})
	}
}

// waitForBlockedRead waits until a goroutine waits inside a read of a log,
// so that what ends that read is tested rather than the check Read makes
// before it starts.
func waitForBlockedRead(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(g, "(*logReader).Read") && !strings.Contains(header, "[running]") && !strings.Contains(header, "[runnable]") {
				return
			}
		}
	}
	t.Fatal("no read of the log started")
}

// TestJobNamesAreSafeToPrint checks that a path given on the command line
// names its job without the escape sequences and control characters a file
// name can hold: every output takes the name as the source gives it.
func TestJobNamesAreSafeToPrint(t *testing.T) {
	tests := []struct {
		path string
		want string
	}{
		{"build.log", "build.log"},
		{"logs/job 1.log", "logs/job 1.log"},
		{"-", "-"},
		{"evil\x1b]0;pwned\x07\x1b[2J.log", "evil.log"},
		{"dir/clip\x1b]52;c;ZXZpbA==\x07.log", "dir/clip.log"},
		{"c1\u009b2J.log", "c1.log"},
		{"bidi\u202egol.txt", "bidigol.txt"},
		{"tab\tand\nnewline.log", "tab     and newline.log"},
		{"\x1b[31m", "1-__31m"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			s, err := New([]string{tt.path}, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.jobs[0].Name; got != tt.want {
				t.Errorf("New(%q) job name = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

// TestNamedPipeIsReadOnce: a named pipe is opened once, by the read of its
// log; an open that only checks it would leave a writer that is writing
// without a reader, which ends its output.
func TestNamedPipeIsReadOnce(t *testing.T) {
	p := namedPipe(t)
	line := []byte(strings.Repeat("x", 1023) + "\n")
	const lines = 4096
	go func() {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer w.Close()
		for range lines {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	}()
	got := make(chan int, 1)
	go func() {
		s, err := New([]string{p}, nil)
		if err != nil {
			got <- -1
			return
		}
		b, err := s.Build(context.Background())
		if err != nil {
			got <- -1
			return
		}
		got <- len(readJob(t, s, b.Jobs[0]))
	}()
	select {
	case n := <-got:
		if n != lines*len(line) {
			t.Errorf("read %d bytes, want %d", n, lines*len(line))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a named pipe did not finish")
	}
}

// TestNamedPipeWithoutWriterStopsWithItsContext: the open of a named pipe
// that no one writes waits, and cancelling ends the wait.
func TestNamedPipeWithoutWriterStopsWithItsContext(t *testing.T) {
	p := namedPipe(t)
	s, err := New([]string{p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		rc, err := s.Open(ctx, b.Jobs[0])
		if err == nil {
			rc.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Open = %v, want the context's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the open of a named pipe without a writer outlived its context")
	}
	// Let the waiting open finish, so the test leaves nothing behind.
	if w, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		w.Close()
	}
}

// namedPipe makes a named pipe in a temporary directory, or skips the test
// where there are none.
func namedPipe(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}
