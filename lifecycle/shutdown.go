package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/steadylog/steadylog/internal/clock"
)

// AbandonMargin is how long Shutdown keeps waiting for calls after their
// context has ended. A component that honours its context returns within it
// (and gets to report, for instance, how many records it dropped); one that
// does not is abandoned: Shutdown stops waiting, reports it with
// [ErrAbandoned] and returns. The margin is paid once per shutdown, not once
// per component, because once the context has ended every remaining call is
// started at once and all of them share the same margin. Shutdown therefore
// returns by the context's deadline plus AbandonMargin (plus scheduling
// delay), whatever the components do. The exceptions are a [RecordCounter]
// whose RecordCounts does not return — each set of readings (before the
// first call, after the last) waits for it at most AbandonMargin more — and
// a [Blocker] whose StopBlocking does not return: the StopBlocking calls
// wait for it at most AbandonMargin more.
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
// so that the caller can stop waiting for it. The fields are written by that
// goroutine and read only after done is closed.
type call struct {
	done  chan struct{}
	err   error
	start time.Time
	end   time.Time

	// What err means, worked out in the call's goroutine: errors.Is runs
	// the error's own Is and Unwrap methods, which are user code too (a
	// typed nil *T whose Is reads a field panics).
	canceled  bool  // err is context.Canceled
	ctxErr    bool  // err is context.Canceled or context.DeadlineExceeded
	annotated error // err with the cause of ctx added (see annotate)
	ctxEnded  error // ctx.Err() when the call returned
	cause     error // context.Cause(ctx) when the call returned
}

// errGoexit is the error of a call that ended in runtime.Goexit (t.FailNow,
// say) instead of returning.
var errGoexit = fmt.Errorf("%w: called runtime.Goexit instead of returning", ErrPanicked)

func launch(ctx context.Context, fn func(context.Context) error) *call {
	c := &call{done: make(chan struct{}), start: clk.Now()}
	ended := callStarted()
	go func() {
		if ended != nil {
			defer ended() // last: once done is closed
		}
		returned := false
		defer close(c.done)
		defer func() {
			// A panicking component must not take the rest of the shutdown
			// (and the report of it) down with it.
			if r := recover(); r != nil {
				c.err = panicError(r)
			} else if !returned {
				c.err = errGoexit
			}
			c.end = clk.Now()
			c.classify(ctx)
		}()
		c.err = fn(ctx)
		returned = true
	}()
	return c
}

// panicError is the error of a call that panicked with r; when r is an error
// it stays in the chain.
func panicError(r any) error {
	if err, ok := r.(error); ok {
		return fmt.Errorf("%w: %w", ErrPanicked, err)
	}
	return fmt.Errorf("%w: %v", ErrPanicked, r) // fmt recovers a panicking String method
}

func (c *call) classify(ctx context.Context) {
	c.ctxEnded = ctx.Err()
	c.cause = context.Cause(ctx)
	if c.err == nil {
		return
	}
	c.canceled = safeIs(c.err, context.Canceled)
	c.ctxErr = c.canceled || safeIs(c.err, context.DeadlineExceeded)
	c.annotated = annotate(c.err, ctx)
}

// safeIs is errors.Is, false when a method of err panics.
func safeIs(err, target error) (is bool) {
	defer func() {
		if recover() != nil {
			is = false
		}
	}()
	return errors.Is(err, target)
}

// countsCall is one RecordCounts reading — with, after Shutdown, the
// RecordsLeft reading — made in its own goroutine for the same reasons as
// a call: it is user code, and may block or panic.
type countsCall struct {
	done              chan struct{}
	exported, dropped uint64
	left              uint64
	err               error
}

// errCountsHung is why a RecordCounts reading was abandoned.
var errCountsHung = errors.New("steadylog/lifecycle: RecordCounts did not return")

// readCounts reads rc and lc, either of which may be nil.
func readCounts(rc RecordCounter, lc LeftCounter) *countsCall {
	r := &countsCall{done: make(chan struct{})}
	ended := callStarted()
	go func() {
		if ended != nil {
			defer ended() // last: once done is closed
		}
		returned := false
		defer close(r.done)
		defer func() {
			if p := recover(); p != nil {
				r.err = panicError(p)
			} else if !returned {
				r.err = errGoexit
			}
		}()
		if rc != nil {
			r.exported, r.dropped = rc.RecordCounts()
		}
		if lc != nil {
			r.left = lc.RecordsLeft()
		}
		returned = true
	}()
	return r
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
		if overall.Err() != nil {
			// Ended together (callCtx may be overall itself): the call
			// joins the rest, which share one margin; no timer of its own.
			return overallDone
		}
	}
	t := clk.NewTimer(AbandonMargin)
	defer t.Stop()
	select {
	case <-c.done:
		return finished
	case <-overall.Done():
		return overallDone
	case <-t.C():
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
	counter   RecordCounter // nil when the component does not count, or its counts could not be read
	leftCtr   LeftCounter   // likewise, for the records left for the next start
	reading   *countsCall   // the RecordCounts call in progress, if any
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
	budgetEnd   time.Time // when the Graceful drain budget ends; zero if there is none
	immCtx      context.Context
	failures    []*ComponentError
	report      Report
}

// execute runs the hooks (in reverse order), then the components with
// strategy s. s must be valid and ctx non-nil.
func execute(ctx context.Context, s Strategy, hooks []hookEntry, comps []NamedComponent, trigger string) Report {
	x := &execution{ctx: ctx, s: s, hooks: hooks}
	x.report = Report{Strategy: s, Trigger: trigger, Start: clk.Now()}
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
			cs.reading = readCounts(rc, nil)
		}
		if lc, ok := nc.Component.(LeftCounter); ok {
			cs.leftCtr = lc // read after Shutdown only
		}
		live = append(live, i)
	}
	x.awaitCounts(false)
	if s.kind != kindImmediate {
		for _, i := range live {
			steps = append(steps, &step{op: OpForceFlush, idx: i})
		}
	}
	if len(live) > 0 {
		// After the flush phase, before the first Shutdown: see Blocker.
		steps = append(steps, &step{op: OpStopBlocking, idx: -1})
	}
	for _, i := range live {
		steps = append(steps, &step{op: OpShutdown, idx: i})
	}

	x.run(steps)
	x.awaitCounts(true)

	for _, cs := range x.comps {
		cs.rep.Err = errors.Join(cs.failures...)
		x.report.Components = append(x.report.Components, cs.rep)
	}
	if len(x.failures) > 0 {
		x.report.Err = &Error{Failures: x.failures}
	}
	x.report.Duration = clock.Since(clk, x.report.Start)
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
		case OpStopBlocking:
			x.stopBlocking()
			continue
		case OpHook:
			st.ctx, st.cancel = clock.WithTimeout(clk, x.ctx, x.hooks[st.idx].timeout)
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
		case OpStopBlocking:
			// Before the Shutdown calls below start: the provider's
			// Shutdown waits for the callers blocked in its processor.
			x.stopBlocking()
			continue
		case OpHook:
			st.ctx, st.cancel = clock.WithTimeout(clk, x.ctx, x.hooks[st.idx].timeout)
		case OpForceFlush:
			// Nothing can be flushed any more; Shutdown will account for it.
			// The step still gets the drain's context (or the ended one, if
			// no drain started), so that skipFlush can tell why it is
			// skipped: the Graceful budget, or the end of everything.
			st.ctx = x.flushContext()
			x.skipFlush(st)
			continue
		case OpShutdown:
			st.ctx = x.shutdownContext()
		}
		x.start(st)
		pending = append(pending, st)
	}
	timer := clk.NewTimer(AbandonMargin)
	defer timer.Stop()
	expired := false
	for _, st := range pending {
		if !expired {
			select {
			case <-st.call.done:
				x.resolve(st, false)
				continue
			case <-timer.C():
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

// stopBlocking calls StopBlocking on the Blockers among the components
// (see Blocker) and reports the calls that panicked or did not return in
// time. It waits for them at most AbandonMargin.
func (x *execution) stopBlocking() {
	var refs []blockerRef
	var owners []*compState
	for _, cs := range x.comps {
		if isNil(cs.nc.Component) {
			continue
		}
		n := len(refs)
		refs = collectBlockers(cs.nc.Component, "", refs)
		for range len(refs) - n {
			owners = append(owners, cs)
		}
	}
	for _, r := range stopBlocking(refs) {
		cs := owners[r.idx] // the first component it was found in
		err := r.failure
		if r.ref.where != "" {
			err = fmt.Errorf("%s: %w", r.ref.where, err)
		}
		x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpStopBlocking, Err: err, Abandoned: r.abandoned})
	}
}

// flushContext is the context of the ForceFlush calls, created when the first
// one starts so that a Graceful budget is a share of the time left after the
// hooks. Once the context has ended no budget is created: the ended context
// itself is returned, and nothing is reported as BudgetExpired.
func (x *execution) flushContext() context.Context {
	if x.flushCtx != nil {
		return x.flushCtx
	}
	x.flushCtx = x.ctx
	if x.s.kind != kindGraceful || x.ctx.Err() != nil {
		return x.flushCtx
	}
	dl, ok := x.ctx.Deadline()
	if !ok {
		return x.flushCtx
	}
	left := clock.Until(clk, dl)
	budget := drainBudget(left, x.s.share)
	if budget >= left {
		// GracefulWithin(1): the budget is all the time left. It ends with
		// the context, and its end is the context's, not a budget's.
		x.flushCtx, x.flushCancel = context.WithCancel(x.ctx)
		return x.flushCtx
	}
	x.flushCtx, x.flushCancel = clock.WithTimeoutCause(clk, x.ctx, budget, errBudget)
	x.budgetEnd, _ = x.flushCtx.Deadline()
	return x.flushCtx
}

// budgetEnded reports whether the drain's context, seen at time at with error
// err and cause cause, ended because the Graceful budget did, rather than
// with the overall context (cancelled, forced, or a GracefulWithin(1)).
//
// The cause alone is not enough: when the runtime is late and the budget's
// timer and the overall deadline's fire together, the parent's cancellation
// can reach the drain context first. An overall deadline always comes after
// the budget's, so a drain context ended by a deadline after the budget's end
// means the budget ended first.
func (x *execution) budgetEnded(err, cause error, at time.Time) bool {
	if x.budgetEnd.IsZero() || err == nil {
		return false
	}
	return cause == errBudget || (err == context.DeadlineExceeded && !at.Before(x.budgetEnd))
}

// drainBudget is share (in (0, 1)) of left, never negative nor more than
// left. float64(left) rounds up for durations near math.MaxInt64 (a deadline
// centuries away), and converting 2⁶³ back to a Duration overflows to a
// negative budget.
func drainBudget(left time.Duration, share float64) time.Duration {
	if left <= 0 {
		return 0
	}
	if share >= 1 {
		return left
	}
	b := float64(left) * share
	if b >= float64(left) || b >= math.MaxInt64 {
		return left
	}
	return time.Duration(b)
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
	left := clock.Until(clk, dl)
	if n <= 1 || left <= 0 {
		// (left <= 0: the deadline has passed and the context is about to
		// say so; a share of nothing would blame errShare.)
		return x.ctx, func() {}
	}
	return clock.WithTimeoutCause(clk, x.ctx, left/time.Duration(n), errShare)
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

// skipFlush records a ForceFlush that is not made because st.ctx, the drain's
// context, has ended: by the Graceful budget (BudgetExpired), or with the
// overall context (not a budget, whatever the strategy).
func (x *execution) skipFlush(st *step) {
	cs := x.comps[st.idx]
	if st.ctx != nil && x.budgetEnded(st.ctx.Err(), context.Cause(st.ctx), clk.Now()) {
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
	c := st.call
	end := clk.Now()
	var err error
	if !abandonedCall {
		end, err = c.end, c.err
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
			ce = &ComponentError{Name: h.Name, Op: OpHook, Err: c.annotated}
		}
		if ce != nil {
			h.Err = ce
			x.fail(nil, ce)
		}

	case OpForceFlush:
		cs := x.comps[st.idx]
		budgeted := x.s.kind == kindGraceful && x.flushCancel != nil
		switch {
		case budgeted && abandonedCall && x.budgetEnded(st.ctx.Err(), context.Cause(st.ctx), end),
			budgeted && !abandonedCall && c.ctxErr && (c.ctxEnded == nil || x.budgetEnded(c.ctxEnded, c.cause, c.end)):
			// The drain ran out of budget: that is when Graceful moves on to
			// Shutdown, which drains the rest or counts it. Not a failure.
			// (A component may also give up before the budget ends, when
			// it knows it cannot finish in time: steadylog's processor does
			// when its next retry falls after the deadline.) When the
			// overall context ended first — cancelled, forced, or
			// GracefulWithin(1) — no budget expired: that is handled below
			// as it is for Flush.
			cs.rep.BudgetExpired = true
		case !abandonedCall && stoppedOnPurpose(c, st.ctx):
			// Forced: the Shutdown that follows accounts for the rest.
		case abandonedCall:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpForceFlush, Err: causeOf(st.ctx), Abandoned: true})
		case err != nil:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpForceFlush, Err: c.annotated})
		}

	case OpShutdown:
		cs := x.comps[st.idx]
		switch {
		case abandonedCall:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpShutdown, Err: causeOf(st.ctx), Abandoned: true})
		case !abandonedCall && stoppedOnPurpose(c, st.ctx):
			// Immediate (or a forced shutdown) asked for exactly this: stop
			// without exporting. What was lost shows in the counts, not as
			// an error.
		case err != nil:
			x.fail(cs, &ComponentError{Name: cs.nc.Name, Op: OpShutdown, Err: c.annotated})
		}
		cs.rep.Duration = end.Sub(cs.first)
		if cs.counter != nil || cs.leftCtr != nil {
			// Read even for an abandoned component: the counts show what it
			// had exported and dropped by the time Shutdown gave up on it.
			// The reading runs on its own and is collected by awaitCounts.
			cs.reading = readCounts(cs.counter, cs.leftCtr)
		}
	}
}

// awaitCounts collects the RecordCounts readings in progress: the first ones
// (before any call) or the last ones (after each Shutdown). Well-behaved
// counters return at once; all the readings share one AbandonMargin, after
// which those still running are abandoned. A component whose counts cannot
// be read (abandoned or panicked) is reported with OpRecordCounts and without
// counts.
func (x *execution) awaitCounts(final bool) {
	var timer clock.Timer
	expired := false
	for _, cs := range x.comps {
		r := cs.reading
		if r == nil {
			continue
		}
		cs.reading = nil
		select {
		case <-r.done:
		default:
			if timer == nil {
				timer = clk.NewTimer(AbandonMargin)
				defer timer.Stop()
			}
			if !expired {
				select {
				case <-r.done:
				case <-timer.C():
					expired = true
				}
			}
		}
		var ce *ComponentError
		select {
		case <-r.done:
			if r.err != nil {
				ce = &ComponentError{Name: cs.nc.Name, Op: OpRecordCounts, Err: r.err}
			}
		default:
			ce = &ComponentError{Name: cs.nc.Name, Op: OpRecordCounts, Err: errCountsHung, Abandoned: true}
		}
		if ce != nil {
			x.fail(cs, ce)
			cs.counter, cs.leftCtr = nil, nil
			cs.rep.HasCounts, cs.rep.Exported, cs.rep.Dropped = false, 0, 0
			continue
		}
		if !final {
			cs.exported0, cs.dropped0 = r.exported, r.dropped
			cs.rep.HasCounts = true
			continue
		}
		if cs.counter != nil {
			cs.rep.Exported, cs.rep.Dropped = since(r.exported, cs.exported0), since(r.dropped, cs.dropped0)
		}
		if cs.leftCtr != nil {
			cs.rep.HasLeft, cs.rep.Left = true, r.left
		}
	}
}

// since is now - before, or 0 for a counter that went backwards (one that
// was reset) rather than a wrapped-around 2⁶⁴ - n.
func since(now, before uint64) uint64 {
	if now < before {
		return 0
	}
	return now - before
}

// stoppedOnPurpose reports whether c returned the cancellation that
// Immediate or a forced shutdown asked for.
func stoppedOnPurpose(c *call, ctx context.Context) bool {
	if c.err == nil || !c.canceled {
		return false
	}
	cause := context.Cause(ctx)
	return cause == ErrImmediate || cause == ErrForced
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
	if ctx.Err() == nil || !safeIs(err, ctx.Err()) {
		return err
	}
	c := context.Cause(ctx)
	if c == nil || safeIs(err, c) {
		return err
	}
	return fmt.Errorf("%w: %w", err, c)
}
