package tui

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The end-to-end test builds destill and runs `destill run <log>` in a
// detached tmux session, as a person would: keys go in with send-keys, the
// screen comes back with capture-pane.

// uiBinary builds destill and returns the command line prefix that opens
// the UI on log files.
func uiBinary(t *testing.T) []string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "destill")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/destill")
	cmd.Dir = moduleRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/destill: %v\n%s", err, out)
	}
	return []string{bin, "run"}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// tmuxSession is a tmux server of its own (its own socket) with one pane
// running a shell.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T, width, height int) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is not installed")
		}
		t.Skip("tmux is not installed")
	}
	dir, err := os.MkdirTemp("", "destill-tmux")
	if err != nil {
		t.Fatal(err)
	}
	s := &tmuxSession{t: t, sock: filepath.Join(dir, "sock")}
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", s.sock, "kill-server").Run()
		os.RemoveAll(dir)
	})
	s.tmux("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", itoa(width), "-y", itoa(height),
		"env", "PS1=e2e$ ", "TERM=screen-256color", "sh")
	// Make leaks visible: OSC 52 would fill a buffer, ESC k would rename
	// the window.
	s.tmux("set-option", "-g", "set-clipboard", "on")
	s.tmux("set-option", "-g", "allow-rename", "on")
	s.tmux("set-option", "-g", "automatic-rename", "off")
	s.tmux("set-option", "-g", "window-size", "manual")
	s.waitFor("the shell prompt", func(screen string) bool { return strings.Contains(screen, "e2e$") })
	return s
}

// on returns the session reporting failures to t (a subtest).
func (s *tmuxSession) on(t *testing.T) *tmuxSession { return &tmuxSession{t: t, sock: s.sock} }

func (s *tmuxSession) tmux(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) display(format string) string {
	s.t.Helper()
	return strings.TrimSpace(s.tmux("display-message", "-p", "-t", "e2e", format))
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys", "-t", "e2e"}, keys...)...)
}

// typeLine types a shell command line and runs it.
func (s *tmuxSession) typeLine(line string) {
	s.t.Helper()
	s.tmux("send-keys", "-t", "e2e", "-l", line)
	s.keys("Enter")
}

func (s *tmuxSession) capture() string {
	s.t.Helper()
	return s.tmux("capture-pane", "-p", "-t", "e2e")
}

// waitFor polls the screen until ok holds, failing after 30 seconds.
func (s *tmuxSession) waitFor(what string, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		screen := s.capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %s; the screen is:\n%s", what, screen)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (s *tmuxSession) waitText(texts ...string) string {
	s.t.Helper()
	return s.waitFor(strings.Join(texts, " and "), func(screen string) bool {
		for _, txt := range texts {
			if !strings.Contains(screen, txt) {
				return false
			}
		}
		return true
	})
}

// selectedRow returns the list row under the cursor.
func selectedRow(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "> ") {
			return l
		}
	}
	return ""
}

func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "e2e", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestE2ETmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and drives it in tmux")
	}
	ui := uiBinary(t)
	s := newTmux(t, 80, 24)
	work := t.TempDir()
	s.typeLine("cd " + shellQuote([]string{work}) + " && clear")

	// Open the UI on a failing build's log.
	s.typeLine(shellQuote(append(ui, fixture(t, "build.log"))) + "; echo destill-exit=$?")
	screen := s.waitText("complete", "panic: runtime error", "? help")
	if got := s.display("#{alternate_on}"); got != "1" {
		t.Errorf("alternate screen while the UI runs = %q, want 1", got)
	}
	if row := selectedRow(screen); !strings.Contains(row, "FATAL") || !strings.Contains(row, "panic: runtime error") {
		t.Errorf("the best card is not selected first: %q\n%s", row, screen)
	}
	// "1/N": the cursor's place among the N rows, on the status line.
	lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	rows := ""
	for _, f := range fields {
		if strings.HasPrefix(f, "1/") {
			rows = f
		}
	}
	if rows == "" || rows == "1/1" {
		t.Fatalf("status line %q does not count several rows", lines[len(lines)-1])
	}

	t.Run("navigation", func(t *testing.T) {
		s := s.on(t)
		s.keys("j")
		s.waitFor("the cursor on the second row", func(screen string) bool {
			return strings.Contains(selectedRow(screen), "FAIL: TestCartTotal")
		})
		s.keys("k")
		s.waitFor("the cursor back on the first row", func(screen string) bool {
			return strings.Contains(selectedRow(screen), "panic")
		})
	})

	t.Run("search", func(t *testing.T) {
		s := s.on(t)
		s.keys("/")
		s.tmux("send-keys", "-t", "e2e", "-l", "OUT OF RANGE")
		s.keys("Enter")
		screen := s.waitText("/OUT OF RANGE", "1/1")
		if !strings.Contains(selectedRow(screen), "panic: runtime error") {
			t.Errorf("search did not keep the make error:\n%s", screen)
		}
		s.keys("Escape")
		s.waitFor("the search cleared", func(screen string) bool {
			return !strings.Contains(screen, "/OUT OF RANGE") && strings.Contains(screen, rows)
		})
	})

	t.Run("severity filter", func(t *testing.T) {
		s := s.on(t)
		s.keys("v", "v", "v")
		screen := s.waitText("≥FATAL", "1/1")
		if strings.Contains(screen, "FAIL: TestCartTotal") {
			t.Errorf("an ERROR card is listed under ≥FATAL:\n%s", screen)
		}
		s.keys("v")
		s.waitFor("the filter off", func(screen string) bool { return !strings.Contains(screen, "≥") && strings.Contains(screen, rows) })
	})

	t.Run("detail", func(t *testing.T) {
		s := s.on(t)
		s.keys("Enter")
		screen := s.waitText("line 74", "hash ", "▶ panic: runtime error")
		for _, want := range []string{"FATAL  confidence", "│ === RUN   TestCartCheckout", "│ goroutine 41 [running]:"} {
			if !strings.Contains(screen, want) {
				t.Errorf("detail pane lacks %q:\n%s", want, screen)
			}
		}
		s.keys("Escape")
		s.waitText("SEV   CONF")
	})

	t.Run("copy", func(t *testing.T) {
		s := s.on(t)
		s.keys("c")
		s.waitText("copied message")
		got := s.tmux("show-buffer")
		if want := "panic: runtime error: index out of range [3] with length 3"; got != want {
			t.Errorf("clipboard (tmux buffer) = %q, want %q", got, want)
		}
	})

	t.Run("export", func(t *testing.T) {
		s := s.on(t)
		s.keys("e")
		s.waitText("exported")
		files, _ := filepath.Glob(filepath.Join(work, "destill-*.json"))
		if len(files) != 1 {
			t.Errorf("export wrote %v, want one destill-*.json in the working directory", files)
		}
	})

	t.Run("resize", func(t *testing.T) {
		s := s.on(t)
		s.tmux("resize-window", "-t", "e2e", "-x", "160", "-y", "48")
		screen := s.waitFor("a wide frame with the detail pane", func(screen string) bool {
			return strings.Contains(screen, "│FATAL  confidence")
		})
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "destill ") || !strings.Contains(lines[len(lines)-1], "? help") {
			t.Errorf("garbled frame after resizing: first line %q, last line %q", lines[0], lines[len(lines)-1])
		}
		s.tmux("resize-window", "-t", "e2e", "-x", "80", "-y", "24")
		s.waitFor("the narrow frame again", func(screen string) bool {
			lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
			return len(lines) == 24 && strings.HasPrefix(lines[0], "destill ") && strings.Contains(lines[23], "? help") &&
				!strings.Contains(screen, "│FATAL")
		})
	})

	t.Run("quit", func(t *testing.T) {
		s := s.on(t)
		s.keys("q")
		screen := s.waitText("destill-exit=0")
		if got := s.display("#{alternate_on}"); got != "0" {
			t.Errorf("alternate screen after quitting = %q, want 0", got)
		}
		if strings.Contains(screen, "SEV   CONF") {
			t.Errorf("the UI is left on the screen after quitting:\n%s", screen)
		}
	})
}

// TestE2ETmuxAttackLog opens the UI on a log full of terminal escape
// sequences and checks the terminal is untouched: title, window name,
// clipboard buffers, screen.
func TestE2ETmuxAttackLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and drives it in tmux")
	}
	ui := uiBinary(t)
	s := newTmux(t, 100, 30)
	s.typeLine("clear")
	state := func() string {
		return s.display("title=#{pane_title} window=#{window_name} alt=#{alternate_on}") + " buffers=" + s.tmux("list-buffers")
	}
	before := state()

	s.typeLine(shellQuote(append(ui, fixture(t, "attack.log"))) + "; echo destill-exit=$?")
	screen := s.waitText("complete", "database migration failed", "? help")
	check := func(screen string) {
		t.Helper()
		if got := s.display("title=#{pane_title} window=#{window_name}"); got != strings.SplitN(before, " alt=", 2)[0] {
			t.Errorf("terminal state changed: %q, was %q", got, before)
		}
		if got := s.tmux("list-buffers"); got != "" {
			t.Errorf("a log wrote the clipboard: tmux buffers %q", got)
		}
		lines := strings.Split(strings.TrimRight(screen, "\n"), "\n")
		if !strings.HasPrefix(lines[0], "destill ") || len(lines) != 30 || !strings.Contains(lines[29], "? help") {
			t.Errorf("the frame was moved or cleared:\n%s", screen)
		}
		if strings.Contains(screen, "https://evil.example") {
			t.Errorf("a hyperlink target is on screen:\n%s", screen)
		}
	}
	check(screen)
	s.keys("Enter")
	check(s.waitText("▶"))
	s.keys("a", "Escape")
	check(s.waitText("all occurrences"))
	s.keys("C-c")
	s.waitText("destill-exit=0")
	if got := s.display("#{alternate_on}"); got != "0" {
		t.Errorf("alternate screen after Ctrl-C = %q, want 0", got)
	}
	if after := state(); after != before {
		t.Errorf("terminal state after the run = %q, want %q", after, before)
	}
}

// TestE2ETmuxStdinOnTheTerminal runs `destill run -` with nothing piped in:
// it must fail at once, not open the UI and wait for a log to be typed.
func TestE2ETmuxStdinOnTheTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and drives it in tmux")
	}
	ui := uiBinary(t)
	s := newTmux(t, 100, 24)
	s.typeLine("clear; " + shellQuote(append(ui, "-")) + "; echo destill-exit=$?")
	exited := regexp.MustCompile(`destill-exit=[0-9]`)
	screen := s.waitFor("destill to exit", exited.MatchString)
	if !strings.Contains(screen, "destill-exit=2") || !strings.Contains(screen, "standard input is a terminal") {
		t.Errorf("destill run - on a terminal: want exit 2 saying standard input is a terminal; the screen is:\n%s", screen)
	}
}

// TestE2ETmuxQuitWhileReading quits the UI while a log is still being
// read from a pipe whose writer keeps it open: destill must end at once,
// not when the writer does.
func TestE2ETmuxQuitWhileReading(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and drives it in tmux")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed")
	}
	ui := uiBinary(t)
	s := newTmux(t, 100, 24)
	// The writer stays silent for longer than the 30 seconds waitFor
	// allows; it says who it is so that it can be stopped afterwards.
	pidFile := filepath.Join(t.TempDir(), "writer.pid")
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGTERM)
			}
		}
	})
	run := shellQuote(ui) + " <(echo 'error: boom'; echo $BASHPID > " + shellQuote([]string{pidFile}) + "; exec sleep 45)"
	s.typeLine("clear; bash -c " + shellQuote([]string{run}) + "; echo destill-exit=$?")
	s.waitText("fetching", "? help")
	s.keys("q")
	s.waitText("destill-exit=0")
}
