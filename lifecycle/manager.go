package lifecycle

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/setting"
)

// Manager runs one shutdown for a whole program: it holds the components
// (logs before metrics) and cleanup hooks (the HTTP server, the queue
// consumer: whatever produces telemetry), listens for SIGINT and SIGTERM, and
// on the first signal or [Manager.Shutdown] call runs the hooks, then the
// strategy. A second signal while that runs forces [Immediate]: the person
// (or orchestrator) who asked twice wants the process gone now. Once the
// shutdown has finished the Manager stops catching signals, and they have
// their default effect again: a SIGTERM then ends a program that kept
// running after [Manager.Wait].
//
// Hooks run first, in reverse order of registration (like defer), each with
// its own timeout; components then shut down in registration order. The whole
// shutdown is bounded by the Manager's timeout and by the context given to
// Shutdown, plus [AbandonMargin].
//
// All methods are safe for concurrent use. The shutdown runs once: later
// Shutdown calls wait for it and return its result.
type Manager struct {
	cfg  config
	done chan struct{} // closed when the shutdown has finished

	mu        sync.Mutex
	comps     []NamedComponent
	hooks     []hookEntry
	names     map[string]bool
	started   bool
	forced    bool
	cancel    context.CancelCauseFunc
	report    Report
	listening bool
	sigCh     chan os.Signal
	stopCh    chan struct{}
	exited    chan struct{}
}

// NewManager returns a Manager configured by opts (see [WithStrategy],
// [WithTimeout], [WithHookTimeout], [WithSignals]), or an error joining
// one error per invalid option, each wrapping [ErrInvalidOption]. It does
// not listen for signals until [Manager.Listen].
func NewManager(opts ...Option) (*Manager, error) {
	cfg := defaultConfig()
	errs := setting.NewErrors(ErrInvalidOption)
	setting.Apply(errs, opts, func(o Option) { o.apply(&cfg, errs) })
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &Manager{cfg: cfg, done: make(chan struct{}), names: map[string]bool{}}, nil
}

// Register adds a component to shut down. Components shut down in the order
// registered: register the LoggerProvider before the MeterProvider so that the
// drop counters are exported last. Wrap a provider with [Counted] to have
// its processor's counts in the report.
//
// It fails with [ErrNilComponent], [ErrEmptyName], [ErrDuplicateName] (names
// are shared with hooks), or [ErrShutdownStarted].
func (m *Manager) Register(name string, c Component) error {
	if isNil(c) {
		return fmt.Errorf("%w: %q", ErrNilComponent, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkName(name); err != nil {
		return err
	}
	m.comps = append(m.comps, NamedComponent{Name: name, Component: c})
	return nil
}

// AddHook adds a cleanup hook, such as an http.Server's Shutdown method.
// Hooks run before the components, in reverse order of registration, each
// with a context that ends after the hook timeout ([WithHookTimeout]); a hook
// that ignores it is abandoned [AbandonMargin] later so the next can run.
//
// It fails with [ErrNilHook], [ErrEmptyName], [ErrDuplicateName] or
// [ErrShutdownStarted].
func (m *Manager) AddHook(name string, fn func(context.Context) error) error {
	if fn == nil {
		return fmt.Errorf("%w: %q", ErrNilHook, name)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.checkName(name); err != nil {
		return err
	}
	m.hooks = append(m.hooks, hookEntry{name: name, fn: fn, timeout: m.cfg.hookTimeout})
	return nil
}

// checkName is called with m.mu held.
func (m *Manager) checkName(name string) error {
	switch {
	case m.started:
		return fmt.Errorf("%w: cannot register %q", ErrShutdownStarted, name)
	case name == "":
		return ErrEmptyName
	case m.names[name]:
		return fmt.Errorf("%w: %q", ErrDuplicateName, name)
	}
	m.names[name] = true
	return nil
}

// Listen starts listening for the configured signals in a goroutine: the
// first starts the shutdown, a second forces Immediate. When the shutdown
// has finished, or [Manager.Stop] is called, the Manager stops listening
// (as signal.Stop on its own channel: what other code registered with
// signal.Notify is left alone) and the goroutine ends; the signals then
// have their default effect again, which for SIGINT and SIGTERM is to end
// the process. It fails with [ErrAlreadyListening], or
// [ErrShutdownStarted] once the shutdown has finished.
func (m *Manager) Listen() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listening {
		return ErrAlreadyListening
	}
	select {
	case <-m.done:
		return fmt.Errorf("%w: shutdown has finished", ErrShutdownStarted)
	default:
	}
	// Room for two signals: the one that starts the shutdown and the one
	// that forces it, even if they arrive back to back.
	m.sigCh = make(chan os.Signal, 2)
	m.stopCh = make(chan struct{})
	m.exited = make(chan struct{})
	m.listening = true
	signal.Notify(m.sigCh, m.cfg.signals...)
	go m.listen(m.sigCh, m.stopCh, m.exited)
	return nil
}

func (m *Manager) listen(sig <-chan os.Signal, stop <-chan struct{}, exited chan<- struct{}) {
	defer close(exited)
	for {
		select {
		case <-stop:
			return
		case <-m.done:
			// Nothing is left to force; the shutdown stopped listening
			// before it closed done (see finish).
			return
		case s := <-sig:
			m.onSignal(s)
		}
	}
}

func (m *Manager) onSignal(s os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.started {
		m.begin(context.Background(), "signal "+s.String())
		return
	}
	m.forceLocked()
}

// Stop stops listening and restores the default behaviour of the signals. It
// does not shut anything down and is a no-op when not listening (the
// shutdown's end stops listening by itself). It waits for the listening
// goroutine to end, also when called concurrently.
func (m *Manager) Stop() {
	m.mu.Lock()
	exited := m.exited // nil if Listen was never called
	m.stopListeningLocked()
	m.mu.Unlock()
	// Also when another Stop is under way: each returns only once the
	// goroutine has ended. (It needs m.mu only briefly, to handle a signal.)
	if exited != nil {
		<-exited
	}
}

// Shutdown starts the shutdown if no signal has yet, and waits for it to
// finish. It returns nil or the shutdown's [*Error]; a second call returns the
// first one's result, or ctx's error if ctx ends first.
//
// The shutdown is bounded by ctx, by the Manager's timeout and, for a
// component that ignores its context, by [AbandonMargin] more. A nil ctx is
// refused with [ErrNilContext] and starts nothing.
func (m *Manager) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return ErrNilContext
	}
	m.mu.Lock()
	first := !m.started
	if first {
		m.begin(ctx, "Shutdown called")
	}
	m.mu.Unlock()
	if first {
		// Bounded by ctx plus AbandonMargin: no need to watch ctx too, and
		// waiting lets the caller have the real result.
		<-m.done
		return m.report.Err
	}
	select {
	case <-m.done:
		return m.report.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// begin starts the shutdown in its own goroutine; called with m.mu held.
func (m *Manager) begin(parent context.Context, trigger string) {
	m.started = true
	ctx, cancelTimeout := clock.WithTimeout(clk, parent, m.cfg.timeout)
	ctx, cancel := context.WithCancelCause(ctx)
	m.cancel = cancel
	comps := append([]NamedComponent(nil), m.comps...)
	hooks := append([]hookEntry(nil), m.hooks...)
	go func() {
		r := execute(ctx, m.cfg.strategy, hooks, comps, trigger)
		cancel(nil)
		cancelTimeout()
		m.finish(r)
	}()
}

// finish records the report, stops listening and marks the shutdown as
// finished, in one critical section: a signal handled before it forces (or
// finds nothing to force), and none is captured after it. A program that
// goes on running after Wait — or hangs in its own code — must still be
// stoppable by SIGTERM, so the signals get their default behaviour back
// here rather than at Stop, which such a program may never call. Only the
// Manager's own channel is stopped: signals that other code registered
// with signal.Notify stay registered.
func (m *Manager) finish(r Report) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r.Forced = m.forced
	m.report = r
	m.stopListeningLocked()
	close(m.done)
}

// stopListeningLocked stops relaying signals to the Manager and tells its
// goroutine to end; called with m.mu held. It does not wait for the
// goroutine, which may be waiting for m.mu.
func (m *Manager) stopListeningLocked() {
	if !m.listening {
		return
	}
	signal.Stop(m.sigCh)
	close(m.stopCh)
	m.listening = false
}

// forceLocked switches a running shutdown to Immediate; called with m.mu held.
func (m *Manager) forceLocked() {
	if m.forced {
		return
	}
	select {
	case <-m.done:
		return
	default:
	}
	m.forced = true
	m.cancel(ErrForced)
}

// Done is closed when the shutdown has finished.
func (m *Manager) Done() <-chan struct{} { return m.done }

// Wait blocks until the shutdown has finished and returns its report.
func (m *Manager) Wait() Report {
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.report
}
