package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/steadylog/steadylog/internal/nilness"
)

// Component is anything that can be flushed and shut down with a context:
// sdklog.LoggerProvider, sdkmetric.MeterProvider, sdktrace.TracerProvider,
// every sdklog.Processor (the SDK's BatchProcessor and steadylog's processor)
// and sdklog.Exporter all satisfy it. The strategies are built only on these
// two calls, so they work with any of them.
type Component interface {
	ForceFlush(context.Context) error
	Shutdown(context.Context) error
}

// RecordCounter is implemented by components that count the records they
// exported and dropped (steadylog's processor does). When a component
// implements it, the [Report] shows how many records were exported and dropped
// during the shutdown: the difference between a reading before the first call
// and one after the last (0 for a count that went down).
//
// RecordCounts must be safe to call concurrently with the component's other
// methods and should return at once. Each reading runs in its own goroutine:
// one that panics is recovered, and one still running [AbandonMargin] after
// it began is abandoned (all the readings of a shutdown share that margin).
// Either way the component's counts are left out of the report and the
// failure is reported with [OpRecordCounts].
type RecordCounter interface {
	RecordCounts() (exported, dropped uint64)
}

// NamedComponent is a Component with the name used for it in the [Report] and
// in errors.
type NamedComponent struct {
	Name      string
	Component Component
}

// Named pairs a name with a component for [ShutdownNamed].
func Named(name string, c Component) NamedComponent {
	return NamedComponent{Name: name, Component: c}
}

// WithCounts returns c with counts read from counter: use it when the
// component you shut down (say, the sdklog.LoggerProvider) is not the one that
// counts (the steadylog processor registered in it). A nil counter returns c
// unchanged; a nil c returns nil, which Shutdown reports as [ErrNilComponent].
func WithCounts(c Component, counter RecordCounter) Component {
	if isNil(c) {
		return nil
	}
	if isNil(counter) {
		return c
	}
	return counted{Component: c, counter: counter}
}

type counted struct {
	Component
	counter RecordCounter
}

func (c counted) RecordCounts() (exported, dropped uint64) { return c.counter.RecordCounts() }

// Group returns a Component that calls ForceFlush, then Shutdown, on each of
// cs in order, joining their errors; it counts ([RecordCounter]) the sum of the
// members that count.
//
// Its main use is a LoggerProvider with its processors:
// Group(provider, processor). The SDK's LoggerProvider.Shutdown, given a
// context that has already ended (always the case with [Immediate], and with
// the other strategies once time has run out), returns at once without
// shutting down its processors: their goroutines keep running and what they
// held is neither exported nor counted. Shutting the processor down directly
// afterwards makes it stop and count; when the provider did shut it down, the
// second Shutdown is a no-op. A nil member is skipped and reported with
// [ErrNilComponent]; a member that panics is reported with [ErrPanicked] and
// the members after it are still called. An empty Group does nothing and is
// not nil.
func Group(cs ...Component) Component {
	// Never a nil slice, which isNil would take for a nil component: an
	// empty Group is a valid component that does nothing.
	g := group(append(make([]Component, 0, len(cs)), cs...))
	for _, c := range g {
		if _, ok := c.(RecordCounter); ok && !isNil(c) {
			return countedGroup{g}
		}
	}
	return g
}

type group []Component

func (g group) each(ctx context.Context, f func(Component, context.Context) error) error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range g {
		err := fmt.Errorf("%w: group member %d", ErrNilComponent, i)
		if !isNil(c) {
			err = callMember(i, c, ctx, f)
		}
		if err == nil {
			continue
		}
		// A provider and its processor both report the same context error;
		// once is enough. (fmt, unlike err.Error(), recovers an Error
		// method that panics.)
		if text := fmt.Sprint(err); !seen[text] {
			seen[text] = true
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// callMember calls f on member i, recovering a panic so that the members
// after it (the processor after its provider) are still called.
func callMember(i int, c Component, ctx context.Context, f func(Component, context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("group member %d: %w", i, panicError(r))
		}
	}()
	return f(c, ctx)
}

func (g group) ForceFlush(ctx context.Context) error { return g.each(ctx, Component.ForceFlush) }
func (g group) Shutdown(ctx context.Context) error   { return g.each(ctx, Component.Shutdown) }

type countedGroup struct{ group }

func (g countedGroup) RecordCounts() (exported, dropped uint64) {
	for _, c := range g.group {
		if rc, ok := c.(RecordCounter); ok && !isNil(c) {
			e, d := rc.RecordCounts()
			exported += e
			dropped += d
		}
	}
	return exported, dropped
}

// isNil reports whether v is nil, typed nil included (see nilness.Is).
func isNil(v any) bool { return nilness.Is(v) }

// defaultName names unnamed components by position and type, e.g.
// "#0 *log.LoggerProvider", so that errors can still tell them apart.
func defaultName(i int, c Component) string {
	if c == nil {
		return fmt.Sprintf("#%d <nil>", i)
	}
	if cc, ok := c.(counted); ok {
		c = cc.Component
	}
	return fmt.Sprintf("#%d %T", i, c)
}
