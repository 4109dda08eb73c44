package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// terminateGrace is how long Terminate waits after SIGTERM before SIGKILL. The
// collector shuts down in ~50 ms and Prometheus in well under a second.
const terminateGrace = 5 * time.Second

// Process is a child process running in its own process group. Signals go to the
// whole group, so anything the child spawns is stopped with it.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done is closed

	stopOnce sync.Once
}

// StartProcess starts bin with args in a new process group, appending its stdout
// and stderr to logPath, and registers a t.Cleanup that stops the group by PID
// (SIGTERM, then SIGKILL after a grace period) whether the test passes or fails.
func StartProcess(t testing.TB, name, logPath, bin string, args ...string) (*Process, error) {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Own process group: signals reach the group, and a Ctrl-C aimed at `go test`
	// does not race the harness for the child.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("harness: starting %s: %w", name, err)
	}
	p := &Process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Terminate(); err != nil {
			t.Logf("harness: stopping %s (pid %d): %v", name, p.Pid(), err)
		}
		if t.Failed() {
			t.Logf("harness: last lines of %s log %s:\n%s", name, logPath, p.LogTail(40))
		}
	})
	return p, nil
}

// Name returns the name given at start, used in messages.
func (p *Process) Name() string { return p.name }

// Pid returns the process ID, which is also its process-group ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitErr returns the error from waiting on the process, once it has exited.
func (p *Process) ExitErr() error {
	<-p.done
	return p.waitErr
}

// Signal sends sig to the process group. Signalling a group that has already
// exited is not an error.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	err := syscall.Kill(-p.Pid(), sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Kill sends SIGKILL to the group and waits until the process is reaped: no
// shutdown, no flush, exactly like an OOM kill or a crashed node.
func (p *Process) Kill() error {
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("harness: SIGKILL %s: %w", p.name, err)
	}
	<-p.done
	return nil
}

// Stop freezes the group with SIGSTOP: connections stay open but nothing answers,
// like a hung or GC-paused peer. It returns once the process is stopped: kill(2)
// returns when the signal is sent, and a thread already at work may still write
// a response until the kernel has stopped every thread.
func (p *Process) Stop() error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for {
		if stopped, err := p.stopped(); err != nil || stopped || p.Exited() {
			return err
		}
		select {
		case <-tick.C:
		case <-p.done:
			return nil
		case <-deadline:
			return fmt.Errorf("harness: %s not stopped 5s after SIGSTOP", p.name)
		}
	}
}

// stopped reports whether every thread of the process is stopped (state T in
// /proc/PID/task/*/stat).
func (p *Process) stopped() (bool, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.Pid()))
	if err != nil {
		return false, nil // exited meanwhile: Exited says so
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", p.Pid(), task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// "pid (comm) S ...": the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("harness: unreadable %s/stat: %q", task.Name(), b)
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return false, nil
		}
	}
	return true, nil
}

// Cont resumes a group frozen by Stop.
func (p *Process) Cont() error { return p.Signal(syscall.SIGCONT) }

// Terminate stops the group gracefully: SIGCONT (a stopped process cannot handle
// SIGTERM), SIGTERM, then SIGKILL if it has not exited within the grace period.
// It waits until the process is reaped. Safe to call more than once.
func (p *Process) Terminate() error { return p.TerminateWithin(terminateGrace) }

// TerminateWithin is Terminate with another grace period between SIGTERM and
// SIGKILL, for a process that stops others before it exits (dockerd). Only
// the first Terminate or TerminateWithin call acts; later ones return nil.
func (p *Process) TerminateWithin(grace time.Duration) error {
	var err error
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		_ = p.Signal(syscall.SIGCONT)
		if e := p.Signal(syscall.SIGTERM); e != nil {
			err = e
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
			err = errors.Join(err, fmt.Errorf("no exit %s after SIGTERM, sending SIGKILL", grace))
		}
		// SIGKILL whatever is left of the group (children that outlived their
		// leader included); ESRCH, the usual case, is ignored by Signal.
		if e := syscall.Kill(-p.Pid(), syscall.SIGKILL); e != nil && !errors.Is(e, syscall.ESRCH) {
			err = errors.Join(err, e)
		}
		<-p.done
	})
	return err
}

// LogTail returns at most n last lines of the process's combined output.
func (p *Process) LogTail(n int) string { return fileTail(p.logPath, n) }

func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func siblingPath(bin, name string) string { return filepath.Join(filepath.Dir(bin), name) }
