package lifecycle

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// Defaults of a [Manager].
const (
	// DefaultTimeout bounds a Manager's whole shutdown (hooks and
	// components). Kubernetes sends SIGKILL 30 s after SIGTERM by default
	// (terminationGracePeriodSeconds); 25 s leaves time to print the report
	// and exit on our own terms.
	DefaultTimeout = 25 * time.Second
	// DefaultHookTimeout bounds each cleanup hook, so that one slow hook
	// (an HTTP server waiting for a long request) cannot use the time the
	// telemetry needs to drain.
	DefaultHookTimeout = 10 * time.Second
)

// DefaultSignals are the signals a Manager listens for: SIGINT (Ctrl-C) and
// SIGTERM (what Kubernetes, systemd and docker stop send).
func DefaultSignals() []os.Signal { return []os.Signal{os.Interrupt, syscall.SIGTERM} }

// Option configures a [Manager].
type Option interface {
	apply(*config) error
}

type config struct {
	strategy    Strategy
	timeout     time.Duration
	hookTimeout time.Duration
	signals     []os.Signal
}

func defaultConfig() config {
	return config{
		strategy:    Graceful,
		timeout:     DefaultTimeout,
		hookTimeout: DefaultHookTimeout,
		signals:     DefaultSignals(),
	}
}

type optionFunc func(*config) error

func (f optionFunc) apply(c *config) error { return f(c) }

// WithStrategy sets the strategy run on the first signal or Shutdown call.
// Default: [Graceful]. An invalid strategy makes NewManager fail with
// [ErrInvalidStrategy].
func WithStrategy(s Strategy) Option {
	return optionFunc(func(c *config) error {
		if err := s.validate(); err != nil {
			return err
		}
		c.strategy = s
		return nil
	})
}

// WithTimeout bounds the whole shutdown, hooks included. Default:
// [DefaultTimeout] (25 s). Set it a few seconds below the platform's grace
// period. It must be positive.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v must be positive", ErrInvalidOption, d)
		}
		c.timeout = d
		return nil
	})
}

// WithHookTimeout bounds each cleanup hook. Default: [DefaultHookTimeout]
// (10 s). A hook still running AbandonMargin after its timeout is abandoned.
// It must be positive.
func WithHookTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: hook timeout %v must be positive", ErrInvalidOption, d)
		}
		c.hookTimeout = d
		return nil
	})
}

// WithSignals sets the signals Listen waits for. Default:
// [DefaultSignals] (SIGINT, SIGTERM). The list must not be empty or hold nil.
func WithSignals(sig ...os.Signal) Option {
	return optionFunc(func(c *config) error {
		if len(sig) == 0 {
			return fmt.Errorf("%w: empty signal list", ErrInvalidOption)
		}
		for i, s := range sig {
			if s == nil {
				return fmt.Errorf("%w: signal %d is nil", ErrInvalidOption, i)
			}
		}
		c.signals = append([]os.Signal(nil), sig...)
		return nil
	})
}
