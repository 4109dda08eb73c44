package exporter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

// ErrNoExporters is returned by [NewFanout] when it is given no exporter.
var ErrNoExporters = errors.New("steadylog/exporter: fan-out needs at least one exporter")

// NewFanout returns an exporter that sends each batch to every one of exps.
//
// Under steadylog's processor (processor.New), a fan-out is not called as
// an exporter at all: the processor takes its members (see
// [FanoutMembers]; the members of a nested fan-out included) and makes
// each a destination of its own, with its own
// worker, position, retries and accounting. There, an error, a panic or a
// hang in one member never delays, duplicates or drops records for the
// others. The rest of this comment describes the weaker semantics a
// fan-out has when something else — such as the SDK's own BatchProcessor —
// calls its Export.
//
// Called as an exporter, a fan-out isolates its members' calls, but its
// members share each batch's fate: the joined error of a failed member
// makes the caller treat the whole batch as failed, so a caller that
// retries sends the batch again to every member, the healthy ones
// included (duplicates), and a caller that drops it counts it lost for all
// of them.
//
// Export runs the members concurrently and returns when all have finished
// or ctx is done, whichever comes first; it never waits longer than ctx
// allows, even for a member that ignores ctx. Its error joins the members'
// errors, each a [*MemberError] that names the member. A member that has not
// finished when ctx is done keeps running in the background and is reported
// with ctx's error; until it finishes it is skipped, with [ErrBusy], because
// an exporter's Export must never run concurrently with itself. A panic is
// recovered and reported as a [*PanicError].
//
// Each member gets its own shallow copy of the records slice, because a
// member that outlives the call must not read a slice its caller has reused.
// That costs one slice copy per member per batch (584 bytes per record with
// sdk/log v1.47).
//
// ForceFlush and Shutdown call every member concurrently in the same way;
// they may run concurrently with anything, as the Exporter interface allows.
//
// NewFanout returns [ErrNoExporters] for an empty list, an error naming
// the position of any nil member, and an error wrapping
// [ErrDuplicateExporter] when one exporter is used twice, directly or
// inside a member (see [CheckDistinct]): Export would run it concurrently
// with itself. It returns an error rather than panicking because fan-out
// lists are often assembled from configuration at run time; [MustFanout] is
// the panicking form for fixed lists.
func NewFanout(exps ...sdklog.Exporter) (sdklog.Exporter, error) {
	if len(exps) == 0 {
		return nil, ErrNoExporters
	}
	f := &fanout{members: make([]*member, len(exps))}
	for i, exp := range exps {
		if isNil(exp) {
			return nil, fmt.Errorf("steadylog/exporter: fan-out member %d is nil", i)
		}
		f.members[i] = &member{index: i, name: nameOf(exp), exp: exp}
	}
	if err := CheckDistinct(exps...); err != nil {
		return nil, err
	}
	return f, nil
}

// MustFanout is like [NewFanout] but panics with its error, as
// regexp.MustCompile does, for lists fixed in the program.
func MustFanout(exps ...sdklog.Exporter) sdklog.Exporter {
	f, err := NewFanout(exps...)
	if err != nil {
		panic(err)
	}
	return f
}

type fanout struct {
	members []*member
}

// FanoutMembers returns the exporters a fan-out made by [NewFanout] or
// [MustFanout] delivers to, in order, and true; for any other exporter it
// returns nil and false. steadylog's processor uses it to give each of
// them a destination of its own.
//
// Nested fan-outs are flattened: a member that is itself a fan-out is
// replaced by its own members, recursively, so none of the exporters
// returned is a fan-out. A fan-out wrapped in [Named] counts as a fan-out
// (its name is not passed on to its members). A fan-out inside another
// decorator — [NewBreaker], [NewFailover] — is not looked into: that
// decorator calls it as one exporter.
func FanoutMembers(exp sdklog.Exporter) ([]sdklog.Exporter, bool) {
	f, ok := asFanout(exp)
	if !ok {
		return nil, false
	}
	return f.leaves(nil), true
}

// asFanout returns the fan-out exp is, seeing through Named.
func asFanout(exp sdklog.Exporter) (*fanout, bool) {
	for {
		switch e := exp.(type) {
		case *fanout:
			return e, true
		case *namedExporter:
			exp = e.Exporter
		default:
			return nil, false
		}
	}
}

// leaves appends f's members to out, nested fan-outs flattened.
func (f *fanout) leaves(out []sdklog.Exporter) []sdklog.Exporter {
	for _, m := range f.members {
		if inner, ok := asFanout(m.exp); ok {
			out = inner.leaves(out)
		} else {
			out = append(out, m.exp)
		}
	}
	return out
}

type member struct {
	index int
	name  string
	exp   sdklog.Exporter
	busy  atomic.Bool // an Export of this member is running
}

func (m *member) wrap(err error) error {
	if err == nil {
		return nil
	}
	return &MemberError{Index: m.index, Name: m.name, Err: err}
}

type result struct {
	index int
	err   error
}

func (f *fanout) Export(ctx context.Context, records []sdklog.Record) error {
	errs := make([]error, len(f.members))
	running := make([]bool, len(f.members))
	// Buffered so that a member finishing after Export returned never blocks.
	results := make(chan result, len(f.members))
	pending := 0
	for i, m := range f.members {
		if !m.busy.CompareAndSwap(false, true) {
			errs[i] = m.wrap(ErrBusy)
			continue
		}
		running[i] = true
		pending++
		batch := slices.Clone(records)
		go func() {
			// Deliver the result before freeing the member: whoever sees the
			// member free can rely on its result being in the channel.
			results <- result{i, safeExport(ctx, m.exp, batch)}
			m.busy.Store(false)
		}()
	}
	return collect(ctx, f.members, errs, running, pending, results)
}

// collect waits for pending results, or for ctx, and joins the errors.
func collect(ctx context.Context, members []*member, errs []error, running []bool, pending int, results <-chan result) error {
	for pending > 0 {
		select {
		case r := <-results:
			errs[r.index] = members[r.index].wrap(r.err)
			running[r.index] = false
			pending--
		case <-ctx.Done():
			// Take the results that arrived meanwhile before declaring the
			// rest unfinished.
			for drained := false; !drained; {
				select {
				case r := <-results:
					errs[r.index] = members[r.index].wrap(r.err)
					running[r.index] = false
				default:
					drained = true
				}
			}
			for i, still := range running {
				if still {
					errs[i] = members[i].wrap(fmt.Errorf("did not finish: %w", context.Cause(ctx)))
				}
			}
			return errors.Join(errs...)
		}
	}
	return errors.Join(errs...)
}

func (f *fanout) ForceFlush(ctx context.Context) error {
	return f.all(ctx, safeForceFlush)
}

func (f *fanout) Shutdown(ctx context.Context) error {
	return f.all(ctx, safeShutdown)
}

// all calls fn on every member concurrently.
func (f *fanout) all(ctx context.Context, fn func(context.Context, sdklog.Exporter) error) error {
	errs := make([]error, len(f.members))
	running := make([]bool, len(f.members))
	results := make(chan result, len(f.members))
	for i, m := range f.members {
		running[i] = true
		go func() { results <- result{i, fn(ctx, m.exp)} }()
	}
	return collect(ctx, f.members, errs, running, len(f.members), results)
}
