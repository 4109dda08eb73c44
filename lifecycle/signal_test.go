package lifecycle_test

// Signals after the shutdown: once a Manager's shutdown has finished, the
// signals it caught have their default effect again. SIGTERM's default
// ends the process, so that case runs in a child process (this test
// binary, switched by an environment variable).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadylog/steadylog/lifecycle"
)

const signalChildEnv = "STEADYLOG_TEST_SIGNAL_CHILD"

// TestManagerSignalsHaveDefaultEffectAfterShutdown: in a child process, a
// first SIGTERM starts a Graceful shutdown whose drain waits for its
// context, a second forces it to Immediate (the documented behaviour
// during a shutdown), and a third, after Wait has returned while the
// program goes on running, ends the process by SIGTERM's default action.
func TestManagerSignalsHaveDefaultEffectAfterShutdown(t *testing.T) {
	if os.Getenv(signalChildEnv) == "1" {
		signalChild()
		return
	}
	// A hang detector: before the fix the child ignored the last SIGTERM
	// and ran until killed.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestManagerSignalsHaveDefaultEffectAfterShutdown$", "-test.count=1")
	cmd.Env = append(os.Environ(), signalChildEnv+"=1")
	stdin, err := cmd.StdinPipe() // kept open: the child waits on it after its shutdown
	require.NoError(t, err)
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())

	lines := bufio.NewScanner(stdout)
	var seen []string
	next := func(prefix string) string {
		t.Helper()
		for lines.Scan() {
			seen = append(seen, lines.Text())
			if strings.HasPrefix(lines.Text(), prefix) {
				return lines.Text()
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the child's stdout ended before %q: %q\nstderr:\n%s", prefix, seen, &stderr)
		return ""
	}
	term := func() {
		t.Helper()
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	}

	next("listening")
	term() // starts the shutdown
	next("draining")
	term() // forces it
	finished := next("finished")
	assert.Equal(t, "finished forced=true trigger=signal terminated", finished)
	term() // the Manager has stopped listening: the default action
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	t.Logf("child: %v; stdout %q; stderr:\n%s", err, seen, &stderr)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	ws, ok := exit.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "the child must end by a signal, not exit: %v", err)
	assert.Equal(t, syscall.SIGTERM, ws.Signal(), "ended by SIGTERM (not killed by the test's deadline)")
}

// drainingComponent's ForceFlush says so on stdout, then waits for its
// context, as a processor draining to a dead backend does.
type drainingComponent struct{}

func (drainingComponent) ForceFlush(ctx context.Context) error {
	fmt.Println("draining")
	<-ctx.Done()
	return ctx.Err()
}
func (drainingComponent) Shutdown(context.Context) error { return nil }

// signalChild is the child of TestManagerSignalsHaveDefaultEffectAfterShutdown.
func signalChild() {
	m, err := lifecycle.NewManager(lifecycle.WithTimeout(time.Minute)) // default signals: SIGINT, SIGTERM
	if err == nil {
		err = errors.Join(m.Register("logs", drainingComponent{}), m.Listen())
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	fmt.Println("listening")
	r := m.Wait()
	fmt.Printf("finished forced=%v trigger=%s\n", r.Forced, r.Trigger)
	// The program goes on (its main has more to do, or is stuck): only the
	// parent's next SIGTERM can end it now.
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Println("still running after SIGTERM")
	os.Exit(3)
}

// TestManagerLeavesOtherSignalRegistrations: when its shutdown finishes,
// the Manager stops only its own registration; a channel the program
// registered for the same signal still receives it.
func TestManagerLeavesOtherSignalRegistrations(t *testing.T) {
	mine := make(chan os.Signal, 1)
	signal.Notify(mine, syscall.SIGUSR1)
	defer signal.Stop(mine)

	m := newManager(t, lifecycle.WithSignals(syscall.SIGUSR1))
	require.NoError(t, m.Register("logs", newFake("logs", nil, fast, fast)))
	require.NoError(t, m.Listen())
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	r := m.Wait()
	assert.Equal(t, "signal "+syscall.SIGUSR1.String(), r.Trigger)
	select {
	case <-mine: // the first signal reached both
	case <-time.After(10 * time.Second): // a hang detector
		t.Fatal("the program's own channel did not receive the first signal")
	}

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	select {
	case <-mine:
	case <-time.After(10 * time.Second): // a hang detector
		t.Fatal("the Manager's end of listening unregistered the program's channel")
	}
	assert.False(t, m.Wait().Forced, "a signal after the shutdown forces nothing")
}
