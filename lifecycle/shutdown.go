package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// AbandonMargin is how long Shutdown keeps waiting for calls after their
// context has ended. A component that honours its context returns within it
// (and gets to report, for instance, how many records it dropped); one that
// does not is abandoned: Shutdown stops waiting, reports it with
// [ErrAbandoned] and returns. The margin is paid once per shutdown, not once
// per component, because once the context has ended every remaining call is
// started at once and all of them share the same margin. Shutdown therefore
// returns by the context's deadline plus AbandonMargin (plus scheduling
// delay), whatever the components do.
const AbandonMargin = 40 * time.Millisecond

// Shutdown shuts down the components in the given order with strategy s and
// returns nil or an [*Error] naming each component that failed or was
// abandoned, and why.
//
// Order matters: shut down the LoggerProvider before the MeterProvider, so
// that the drop counters updated while logs shut down are in the final metric
// export. Once ctx has ended nothing more can be exported, so the components
// not yet shut down are then shut down concurrently (each with the ended
// context, which lets a counting processor count what it still held) and all
// of them share one [AbandonMargin].
//
// A nil component is reported with [ErrNilComponent] and skipped; the others
// are still shut down. A nil ctx is refused with [ErrNilContext] and an
// invalid strategy with [ErrInvalidStrategy], and then nothing is shut down:
// both are programming errors that a test will catch.
//
// Components are named "#INDEX TYPE" in errors; use [ShutdownNamed] to choose
// names and to get the full [Report].
func Shutdown(ctx context.Context, s Strategy, components ...Component) error {
	named := make([]NamedComponent, len(components))
	for i, c := range components {
		named[i] = NamedComponent{Name: defaultName(i, c), Component: c}
	}
	_, err := ShutdownNamed(ctx, s, named...)
	return err
}

// ShutdownNamed is [Shutdown] with named components, returning the [Report] of
// what happened as well as the error (which is also Report.Err). An empty name
// is replaced by "#INDEX TYPE".
func ShutdownNamed(ctx context.Context, s Strategy, components ...NamedComponent) (Report, error) {
	if ctx == nil {
		return Report{Strategy: s, Err: ErrNilContext}, ErrNilContext
	}
	if err := s.validate(); err != nil {
		return Report{Strategy: s, Err: err}, err
	}
	r := execute(ctx, s, nil, components, "")
	return r, r.Err
}

// hookEntry is a cleanup hook registered with a Manager.
type hookEntry struct {
	name    string
	fn      func(context.Context) error
	timeout time.Duration
}

// call is one ForceFlush, Shutdown or hook call running in its own goroutine,
// so that the caller can stop waiting for it.
type call struct {
	done  chan struct{}
	err   error
	start time.Time
	end   time.Time
}

func launch(ctx context.Context, fn func(context.Context) error) *call {
	c := &call{done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(c.done)
		defer func() {
			// A panicking component must not take the rest of the shutdown
			// (and the report of it) down with it.
			if r := recover(); r != nil {
				c.err = fmt.Errorf("%w: %v", ErrPanicked, r)
			}
			c.end = time.Now()
		}()
		c.err = fn(ctx)
	}()
	return c
}

type waitResult uint8

const (
	finished waitResult = iota
	abandoned
	overallDone
)

// waitOne waits for c while the overall context is alive. When c's own
// context (a hook timeout or the Graceful drain budget) ends first, c gets
// AbandonMargin more to return.
func waitOne(c *call, callCtx, overall context.Context) waitResult {
	select {
	case <-c.done:
		return finished
	case <-overall.Done():
		return overallDone
	case <-callCtx.Done():
	}
	t := time.NewTimer(AbandonMargin)
	defer t.Stop()
	select {
	case <-c.done:
		return finished
	case <-overall.Done():
		return overallDone
	case <-t.C:
		return abandoned
	}
}

type step struct {
	op     Op
	idx    int // into execution.hooks or execution.comps
	ctx    context.Context
	cancel context.CancelFunc
	call   *call
}

type compState struct {
	nc        NamedComponent
	counter   RecordCounter
	exported0 uint64
	dropped0  uint64
	first     time.Time
	failures  []error
	rep       ComponentReport
}

type execution struct {
	ctx         context.Context
	s           Strategy
	hooks       []hookEntry
	comps       []*compState
	flushCtx    context.Context
	flushCancel context.CancelFunc
	immCtx      context.Context
	failures    []*ComponentError
	report      Report
}

// execute runs the hooks (in reverse order), then the components with
// strategy s. s must be valid and ctx non-nil.
func execute(ctx context.Context, s Strategy, hooks []hookEntry, comps []NamedComponent, trigger string) Report {
	x := &execution{ctx: ctx, s: s, hooks: hooks}
	x.report = Report{Strategy: s, Trigger: trigger, Start: time.Now()}
	x.report.Hooks = make([]HookReport, len(hooks))
	for i, h := range hooks {
		x.report.Hooks[i].Name = h.name
	}
	defer func() {
		if x.flushCancel != nil {
			x.flushCancel()
		}
	}()

	var steps []*step
	for i := len(hooks) - 1; i >= 0; i-- {
		steps = append(steps, &step{op: OpHook, idx: i})
	}
	var live []int
	for i, nc := range comps {
		cs := &compState{nc: nc}
		if cs.nc.Name == "" {
			cs.nc.Name = defaultName(i, nc.Component)
		}
		cs.rep = ComponentReport{Name: cs.nc.Name, Strategy: s}
		x.comps = append(x.comps, cs)
		if isNil(nc.Component) {
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpShutdown, Err: ErrNilComponent})
			continue
		}
		if rc, ok := nc.Component.(RecordCounter); ok {
			cs.counter = rc
			cs.rep.HasCounts = true
			cs.exported0, cs.dropped0 = rc.RecordCounts()
		}
		live = append(live, i)
	}
	if s.kind != kindImmediate {
		for _, i := range live {
			steps = append(steps, &step{op: OpForceFlush, idx: i})
		}
	}
	for _, i := range live {
		steps = append(steps, &step{op: OpShutdown, idx: i})
	}

	x.run(steps)

	for _, cs := range x.comps {
		cs.rep.Err = errors.Join(cs.failures...)
		x.report.Components = append(x.report.Components, cs.rep)
	}
	if len(x.failures) > 0 {
		x.report.Err = &Error{Failures: x.failures}
	}
	x.report.Duration = time.Since(x.report.Start)
	return x.report
}

// run makes the calls one after another while the context lives, then the
// remaining ones all at once.
func (x *execution) run(steps []*step) {
	var inflight *step
	i := 0
sequential:
	for ; i < len(steps); i++ {
		st := steps[i]
		if x.ctx.Err() != nil || (st.op == OpShutdown && x.s.kind == kindImmediate) {
			break
		}
		switch st.op {
		case OpHook:
			st.ctx, st.cancel = context.WithTimeout(x.ctx, x.hooks[st.idx].timeout)
		case OpForceFlush:
			st.ctx = x.flushContext()
			if st.ctx.Err() != nil {
				x.skipFlush(st)
				continue
			}
		case OpShutdown:
			st.ctx, st.cancel = x.shareContext(steps[i:])
		}
		x.start(st)
		switch waitOne(st.call, st.ctx, x.ctx) {
		case finished:
			x.resolve(st, false)
		case abandoned:
			x.resolve(st, true)
		case overallDone:
			inflight = st
			i++
			break sequential
		}
	}
	if inflight == nil && i >= len(steps) {
		return
	}

	// The context has ended (or the strategy is Immediate): start every
	// remaining call now and give them all one shared margin.
	var pending []*step
	if inflight != nil {
		pending = append(pending, inflight)
	}
	for ; i < len(steps); i++ {
		st := steps[i]
		switch st.op {
		case OpHook:
			st.ctx, st.cancel = context.WithTimeout(x.ctx, x.hooks[st.idx].timeout)
		case OpForceFlush:
			// Nothing can be flushed any more; Shutdown will account for it.
			x.skipFlush(st)
			continue
		case OpShutdown:
			st.ctx = x.shutdownContext()
		}
		x.start(st)
		pending = append(pending, st)
	}
	timer := time.NewTimer(AbandonMargin)
	defer timer.Stop()
	expired := false
	for _, st := range pending {
		if !expired {
			select {
			case <-st.call.done:
				x.resolve(st, false)
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case <-st.call.done:
			x.resolve(st, false)
		default:
			x.resolve(st, true)
		}
	}
}

// flushContext is the context of the ForceFlush calls, created when the first
// one starts so that a Graceful budget is a share of the time left after the
// hooks.
func (x *execution) flushContext() context.Context {
	if x.flushCtx != nil {
		return x.flushCtx
	}
	x.flushCtx = x.ctx
	if x.s.kind == kindGraceful {
		if dl, ok := x.ctx.Deadline(); ok {
			budget := time.Duration(float64(time.Until(dl)) * x.s.share)
			x.flushCtx, x.flushCancel = context.WithTimeoutCause(x.ctx, budget, errBudget)
		}
	}
	return x.flushCtx
}

// shareContext is the context of a Shutdown call made while the context
// lives: when it has a deadline, the call gets an equal share of the time
// left among the Shutdown calls still to make (rest, from this one on), and
// what it does not use passes to the next. Without the split the first
// component — a log processor draining to a slow backend — could use all
// the time, and the MeterProvider after it would have none left for the
// final export that carries the drop counters.
func (x *execution) shareContext(rest []*step) (context.Context, context.CancelFunc) {
	dl, ok := x.ctx.Deadline()
	if !ok {
		return x.ctx, func() {}
	}
	n := 0
	for _, st := range rest {
		if st.op == OpShutdown {
			n++
		}
	}
	if n <= 1 {
		return x.ctx, func() {}
	}
	return context.WithTimeoutCause(x.ctx, time.Until(dl)/time.Duration(n), errShare)
}

// shutdownContext is the context of the Shutdown calls made after the
// context ended or for the Immediate strategy.
func (x *execution) shutdownContext() context.Context {
	if x.s.kind != kindImmediate {
		return x.ctx
	}
	if x.immCtx == nil {
		ctx, cancel := context.WithCancelCause(x.ctx)
		cancel(ErrImmediate)
		x.immCtx = ctx
	}
	return x.immCtx
}

func (x *execution) start(st *step) {
	switch st.op {
	case OpHook:
		st.call = launch(st.ctx, x.hooks[st.idx].fn)
	case OpForceFlush:
		cs := x.comps[st.idx]
		st.call = launch(st.ctx, cs.nc.Component.ForceFlush)
		cs.first = st.call.start
	case OpShutdown:
		cs := x.comps[st.idx]
		st.call = launch(st.ctx, cs.nc.Component.Shutdown)
		if cs.first.IsZero() {
			cs.first = st.call.start
		}
		if context.Cause(st.ctx) == ErrForced {
			cs.rep.Strategy = Immediate
		}
	}
}

func (x *execution) skipFlush(st *step) {
	cs := x.comps[st.idx]
	if x.s.kind == kindGraceful && context.Cause(st.ctx) == errBudget {
		cs.rep.BudgetExpired = true
	}
	// A Flush strategy that ran out of time fails in Shutdown, which also
	// gets the ended context; one error per component is enough.
}

func (x *execution) fail(cs *compState, ce *ComponentError) {
	x.failures = append(x.failures, ce)
	if cs != nil {
		cs.failures = append(cs.failures, ce)
		if ce.Abandoned {
			cs.rep.Abandoned = true
		}
	}
}

// resolve records the outcome of st; abandoned means it had not returned when
// Shutdown stopped waiting.
func (x *execution) resolve(st *step, abandonedCall bool) {
	end := time.Now()
	var err error
	if !abandonedCall {
		end, err = st.call.end, st.call.err
	}
	if st.cancel != nil {
		st.cancel()
	}
	switch st.op {
	case OpHook:
		h := &x.report.Hooks[st.idx]
		h.Duration = end.Sub(st.call.start)
		h.Abandoned = abandonedCall
		var ce *ComponentError
		switch {
		case abandonedCall:
			ce = &ComponentError{Name: h.Name, Op: OpHook, Err: causeOf(st.ctx), Abandoned: true}
		case err != nil:
			ce = &ComponentError{Name: h.Name, Op: OpHook, Err: annotate(err, st.ctx)}
		}
		if ce != nil {
			h.Err = ce
			x.fail(nil, ce)
		}

	case OpForceFlush:
		cs := x.comps[st.idx]
		budgeted := x.s.kind == kindGraceful && x.flushCancel != nil
		switch {
		case budgeted && abandonedCall && context.Cause(st.ctx) == errBudget,
			budgeted && !abandonedCall && isContextErr(err):
			// (A component may also give up before the budget ends, when
			// it knows it cannot finish in time: steadylog's processor does
			// when its next retry falls after the deadline.)
			// The drain ran out of budget: that is when Graceful moves on to
			// Shutdown, which drains the rest or counts it. Not a failure.
			cs.rep.BudgetExpired = true
		case !abandonedCall && stoppedOnPurpose(err, st.ctx):
			// Forced: the Shutdown that follows accounts for the rest.
		case abandonedCall:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpForceFlush, Err: causeOf(st.ctx), Abandoned: true})
		case err != nil:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpForceFlush, Err: annotate(err, st.ctx)})
		}

	case OpShutdown:
		cs := x.comps[st.idx]
		switch {
		case abandonedCall:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpShutdown, Err: causeOf(st.ctx), Abandoned: true})
		case !abandonedCall && stoppedOnPurpose(err, st.ctx):
			// Immediate (or a forced shutdown) asked for exactly this: stop
			// without exporting. What was lost shows in the counts, not as
			// an error.
		case err != nil:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpShutdown, Err: annotate(err, st.ctx)})
		}
		cs.rep.Duration = end.Sub(cs.first)
		if cs.counter != nil {
			// Read even for an abandoned component: the counts show what it
			// had exported and dropped by the time Shutdown gave up on it.
			e, d := cs.counter.RecordCounts()
			cs.rep.Exported, cs.rep.Dropped = e-cs.exported0, d-cs.dropped0
		}
	}
}

// stoppedOnPurpose reports whether err is the cancellation that Immediate
// or a forced shutdown asked for.
func stoppedOnPurpose(err error, ctx context.Context) bool {
	if err == nil || !errors.Is(err, context.Canceled) {
		return false
	}
	c := context.Cause(ctx)
	return c == ErrImmediate || c == ErrForced
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// causeOf is why ctx ended: ErrForced, ErrImmediate, a user's cause, or
// ctx.Err() when there is no more specific cause.
func causeOf(ctx context.Context) error {
	if c := context.Cause(ctx); c != nil {
		if c != ctx.Err() && !errors.Is(c, ctx.Err()) {
			return fmt.Errorf("%w: %w", ctx.Err(), c)
		}
		return c
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded // unreachable: calls are abandoned only after their context ended
}

// annotate adds ctx's cause to a context error a component returned, so that
// errors.Is(err, ErrForced) holds after a forced shutdown.
func annotate(err error, ctx context.Context) error {
	if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	c := context.Cause(ctx)
	if c == nil || errors.Is(err, c) {
		return err
	}
	return fmt.Errorf("%w: %w", err, c)
}
