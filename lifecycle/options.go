package lifecycle

import (
	"os"
	"syscall"
	"time"

	"github.com/steadylog/steadylog/internal/setting"
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

// Option configures a [Manager]. Options never panic: an invalid value
// makes [NewManager] return an error wrapping [ErrInvalidOption].
type Option interface {
	apply(*config, *setting.Errors)
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

type optionFunc func(*config, *setting.Errors)

func (f optionFunc) apply(c *config, errs *setting.Errors) { f(c, errs) }

// WithStrategy sets the strategy run on the first signal or Shutdown call.
// Default: [Graceful]. An invalid strategy is an invalid option; the error
// wraps [ErrInvalidStrategy] too.
func WithStrategy(s Strategy) Option {
	return optionFunc(func(c *config, errs *setting.Errors) {
		if err := s.validate(); err != nil {
			errs.Reject("WithStrategy(%v): %w", s, err)
			return
		}
		c.strategy = s
	})
}

// WithTimeout bounds the whole shutdown, hooks included. Default:
// [DefaultTimeout] (25 s). Set it a few seconds below the platform's grace
// period. It must be positive.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config, errs *setting.Errors) {
		if setting.Positive(errs, "WithTimeout", d) {
			c.timeout = d
		}
	})
}

// WithHookTimeout bounds each cleanup hook. Default: [DefaultHookTimeout]
// (10 s). A hook still running AbandonMargin after its timeout is abandoned.
// It must be positive.
func WithHookTimeout(d time.Duration) Option {
	return optionFunc(func(c *config, errs *setting.Errors) {
		if setting.Positive(errs, "WithHookTimeout", d) {
			c.hookTimeout = d
		}
	})
}

// WithSignals sets the signals Listen waits for. Default:
// [DefaultSignals] (SIGINT, SIGTERM). The list must not be empty or hold nil.
func WithSignals(sig ...os.Signal) Option {
	return optionFunc(func(c *config, errs *setting.Errors) {
		if len(sig) == 0 {
			errs.Reject("WithSignals(): the list must not be empty")
			return
		}
		for i, s := range sig {
			if s == nil {
				errs.Reject("WithSignals: signal %d is nil", i)
				return
			}
		}
		c.signals = append([]os.Signal(nil), sig...)
	})
}
