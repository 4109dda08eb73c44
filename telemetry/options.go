package telemetry

import (
	"errors"
	"log/slog"
	"time"

	"github.com/steadylog/steadylog/internal/setting"
	"github.com/steadylog/steadylog/internal/tick"
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
	clock    tick.Clock // set only by withClock, for tests
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

// clockOption makes a DropAlerter or an ErrorReporter run on a clock and
// a ticker of the test's own; it is both an AlertOption and an
// ErrorOption.
type clockOption tick.Clock

func (o clockOption) applyAlert(c *alertConfig) { c.setClock(tick.Clock(o)) }
func (o clockOption) applyError(c *errorConfig) { c.setClock(tick.Clock(o)) }

// withClock sets the function that makes the ticker driving the
// goroutine, and the clock that measures the time a summary covers. The
// tests use it to tick by hand; the processor's reach it through
// tick.Option. Both must be non-nil.
func withClock(newTicker func(time.Duration) tick.Ticker, now func() time.Time) clockOption {
	return clockOption{NewTicker: newTicker, Now: now}
}

func (c *lineConfig) setClock(clock tick.Clock) {
	ok := setting.NotNil(c.errs, "withClock", clock.NewTicker)
	if setting.NotNil(c.errs, "withClock", clock.Now) && ok {
		c.clock = clock
	}
}

func init() {
	tick.Option = func(c tick.Clock) any { return clockOption(c) }
}
