package telemetry

import (
	"errors"
	"log/slog"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
	"github.com/steadylog/steadylog/internal/setting"
)

// ErrInvalidOption is wrapped by the error NewDropAlerter and
// NewErrorReporter return for an option given an invalid value, and for a
// nil option.
var ErrInvalidOption = errors.New("steadylog/telemetry: invalid option")

// lineConfig holds the settings a DropAlerter and an ErrorReporter share,
// with the invalid values their options were given.
type lineConfig struct {
	errs     *setting.Errors
	logger   setting.Value[*slog.Logger]
	interval setting.Value[time.Duration]
	clock    setting.Value[clock.Clock] // set only by a clock.Carrier, for tests
	attrs    []any
}

func newLineConfig() lineConfig { return lineConfig{errs: setting.NewErrors(ErrInvalidOption)} }

func (c *lineConfig) setLogger(opt string, l *slog.Logger) {
	if setting.NotNil(c.errs, opt, l) {
		c.logger = setting.Of(l)
	}
}

func (c *lineConfig) setInterval(opt string, d time.Duration) {
	if setting.Positive(c.errs, opt, d) {
		c.interval = setting.Of(d)
	}
}

// clockOption makes a DropAlerter or an ErrorReporter run on a clock of
// the test's own; it is both an AlertOption and an ErrorOption. Options
// are applied through applyOption, which takes the clock of any
// clock.Carrier, this one or the processor's.
type clockOption struct{ c clock.Clock }

func (o clockOption) CarriedClock() clock.Clock { return o.c }
func (o clockOption) applyAlert(c *alertConfig) { c.setClock(o.c) }
func (o clockOption) applyError(c *errorConfig) { c.setClock(o.c) }

// withClock sets the clock that makes the ticker driving the goroutine
// and measures the time a summary covers. It must be non-nil.
func withClock(c clock.Clock) clockOption { return clockOption{c} }

func (c *lineConfig) setClock(clk clock.Clock) {
	if setting.NotNil(c.errs, "withClock", clk) {
		c.clock = setting.Of(clk)
	}
}

// applyOption applies o to c with apply, unless o is a clock.Carrier:
// then it sets the clock o carries, and nothing else of o is used.
func applyOption[O any](c *lineConfig, o O, apply func(O)) {
	if cc, ok := any(o).(clock.Carrier); ok {
		c.setClock(cc.CarriedClock())
		return
	}
	apply(o)
}
