package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

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

// LeftCounter is implemented by components that keep what they could not
// deliver for their next start instead of dropping it (steadylog's
// processor does, with a spool). RecordsLeft returns how many records the
// component's Shutdown left for the next start; the [Report] shows it.
//
// RecordsLeft is read once, after the component's Shutdown has returned
// (or been given up on), and is bound as RecordCounts is: in its own
// goroutine, within the readings' [AbandonMargin], a panic recovered.
// A failed reading is reported with [OpRecordCounts], and the
// component's counts and records left are left out of the report.
type LeftCounter interface {
	RecordsLeft() uint64
}

// Blocker is implemented by components whose callers can be made to wait:
// steadylog's processor, under its Block overflow policy, makes OnEmit wait
// for room in a full queue. StopBlocking makes the calls waiting now stop
// waiting (steadylog's processor drops their records, counted as
// already_shutdown) and later calls that find no room not wait.
//
// It exists because of the order in which an sdklog.LoggerProvider shuts
// down (v1.47): its Shutdown first waits for every OnEmit in progress,
// bounded by its context, and only then calls its processors' Shutdown; if
// the context ends first it returns without shutting any processor down. An
// OnEmit blocked on a full queue (the exporter is slow or down) would
// therefore hold the provider's Shutdown until its deadline, and the
// processor would never be shut down — nor count what it held. So every
// shutdown made by this package ([Shutdown], [ShutdownNamed], the [Manager],
// and [Group]'s Shutdown) calls StopBlocking on every component that
// implements Blocker — the members of a Group and the counter given to
// [Counted] included, so that Group(provider, processor) and
// Counted(provider, processor) both work — after the flush phase of
// the strategy (a flush makes room, which the blocked callers use) and
// before any component's Shutdown is called; with [Immediate], at once.
//
// StopBlocking must be safe to call concurrently with the component's other
// methods and more than once, and should return at once. Each call runs in
// its own goroutine: one that panics is recovered and reported with
// [ErrPanicked], and one still running [AbandonMargin] after the calls
// began is abandoned and reported with [ErrAbandoned] (all the StopBlocking
// calls of a shutdown share that margin). Either way the failure is
// reported with [OpStopBlocking], and the shutdown goes on.
type Blocker interface {
	StopBlocking()
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

// Counted returns c with counts read from counter: use it when the
// component you shut down (say, the sdklog.LoggerProvider) is not the one that
// counts (the steadylog processor registered in it). When counter is also a
// [LeftCounter], so is the result, reading counter. A nil counter returns c
// unchanged; a nil c returns nil, which Shutdown reports as [ErrNilComponent].
func Counted(c Component, counter RecordCounter) Component {
	if isNil(c) {
		return nil
	}
	if isNil(counter) {
		return c
	}
	cc := counted{Component: c, counter: counter}
	if _, ok := counter.(LeftCounter); ok {
		return countedLeft{cc}
	}
	return cc
}

type counted struct {
	Component
	counter RecordCounter
}

func (c counted) RecordCounts() (exported, dropped uint64) { return c.counter.RecordCounts() }

// countedLeft is a counted whose counter is a LeftCounter too.
type countedLeft struct{ counted }

func (c countedLeft) RecordsLeft() uint64 { return c.counter.(LeftCounter).RecordsLeft() }

// Group returns a Component that calls ForceFlush, then Shutdown, on each of
// cs in order, joining their errors; it counts ([RecordCounter]) the sum of the
// members that count, and its records left ([LeftCounter]) are the sum of
// its members'.
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
//
// Before it calls the members' Shutdown, the Group's Shutdown calls
// StopBlocking on every member that implements [Blocker] (the processor),
// so that the provider's Shutdown is not held up by callers blocked in the
// processor; see Blocker. A shutdown made by this package has already done
// so after its flush phase, and the Group does not do it twice. The calls
// are bounded as there: a StopBlocking that panics, or has not returned
// AbandonMargin after the calls began, is reported in the Group's error and
// the members are shut down all the same.
func Group(cs ...Component) Component {
	g := group{members: append([]Component(nil), cs...), blocking: new(atomic.Bool)}
	counts, left := false, false
	for _, c := range g.members {
		if isNil(c) {
			continue
		}
		if _, ok := c.(RecordCounter); ok {
			counts = true
		}
		if _, ok := c.(LeftCounter); ok {
			left = true
		}
	}
	switch {
	case counts && left:
		return countedLeftGroup{countedGroup{g}}
	case counts:
		return countedGroup{g}
	case left:
		return leftGroup{g}
	}
	return g
}

type group struct {
	members []Component
	// blocking is set once StopBlocking has been called on the members,
	// by the Group's Shutdown or by a shutdown of this package.
	blocking *atomic.Bool
}

func (g group) each(ctx context.Context, f func(Component, context.Context) error) error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range g.members {
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

func (g group) Shutdown(ctx context.Context) error {
	var errs []error
	for _, r := range stopBlocking(g.claimBlockers("", nil)) {
		errs = append(errs, r.err())
	}
	return errors.Join(append(errs, g.each(ctx, Component.Shutdown))...)
}

// claimBlockers appends the Blockers among g's members (at any depth) to
// dst, unless StopBlocking has already been called on them.
func (g group) claimBlockers(where string, dst []blockerRef) []blockerRef {
	if !g.blocking.CompareAndSwap(false, true) {
		return dst
	}
	for i, c := range g.members {
		dst = collectBlockers(c, joinWhere(where, fmt.Sprintf("group member %d", i)), dst)
	}
	return dst
}

type countedGroup struct{ group }

func (g countedGroup) RecordCounts() (exported, dropped uint64) {
	for _, c := range g.members {
		if rc, ok := c.(RecordCounter); ok && !isNil(c) {
			e, d := rc.RecordCounts()
			exported += e
			dropped += d
		}
	}
	return exported, dropped
}

// recordsLeft is the sum of the records left by the members of g.
func (g group) recordsLeft() uint64 {
	var n uint64
	for _, c := range g.members {
		if lc, ok := c.(LeftCounter); ok && !isNil(c) {
			n += lc.RecordsLeft()
		}
	}
	return n
}

type leftGroup struct{ group }

func (g leftGroup) RecordsLeft() uint64 { return g.recordsLeft() }

type countedLeftGroup struct{ countedGroup }

func (g countedLeftGroup) RecordsLeft() uint64 { return g.recordsLeft() }

// isNil reports whether v is nil, typed nil included (see nilness.Is).
func isNil(v any) bool { return nilness.Is(v) }

// defaultName names unnamed components by position and type, e.g.
// "#0 *log.LoggerProvider", so that errors can still tell them apart.
func defaultName(i int, c Component) string {
	if c == nil {
		return fmt.Sprintf("#%d <nil>", i)
	}
	switch cc := c.(type) {
	case counted:
		c = cc.Component
	case countedLeft:
		c = cc.Component
	}
	return fmt.Sprintf("#%d %T", i, c)
}
