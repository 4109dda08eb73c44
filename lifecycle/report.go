package lifecycle

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what happened during a shutdown: per hook and per component, how
// long it took, whether it failed or was abandoned and, for components that
// count ([RecordCounter]), how many records they exported and dropped while
// shutting down.
type Report struct {
	// Strategy is the strategy the shutdown started with.
	Strategy Strategy
	// Trigger says what started the shutdown: "signal terminated",
	// "Shutdown called", or "" for the package-level functions.
	Trigger string
	// Forced is true when a second signal switched a Manager's shutdown to
	// Immediate part way through.
	Forced bool
	// Start is when the shutdown began; Duration how long it took in all.
	Start    time.Time
	Duration time.Duration
	// Hooks are a Manager's cleanup hooks in registration order (they run
	// in the reverse order).
	Hooks []HookReport
	// Components in the order given (and shut down).
	Components []ComponentReport
	// Err is nil or an [*Error] listing every failure.
	Err error
}

// HookReport is what happened to one cleanup hook.
type HookReport struct {
	Name      string
	Duration  time.Duration
	Err       error // nil on success; a *ComponentError otherwise
	Abandoned bool  // the hook ignored its context and was left running
}

// ComponentReport is what happened to one component.
type ComponentReport struct {
	Name string
	// Strategy is the strategy applied to this component: the shutdown's,
	// or Immediate if a second signal forced it before the component's turn.
	Strategy Strategy
	// Duration runs from the first call to the component (ForceFlush, or
	// Shutdown for Immediate) to the return of its Shutdown, or to the moment
	// Shutdown stopped waiting for it.
	Duration time.Duration
	// Err is nil when the component shut down cleanly, otherwise its
	// failures (each a *ComponentError), joined.
	Err error
	// Abandoned is true when a call to the component ignored its context
	// (or a RecordCounts or StopBlocking call did not return) and was left
	// running.
	Abandoned bool
	// BudgetExpired is true when Graceful's drain budget ended before the
	// component's ForceFlush returned (or before it could start); Shutdown
	// then had the rest of the time to drain or count what was left. It is
	// not a failure. It is false when the context given to Shutdown ended
	// first (cancelled, a Manager's second signal, or the deadline of
	// GracefulWithin(1), whose budget is the whole time): the drain was then
	// cut short as with Flush, and an interrupted ForceFlush is a failure
	// unless the shutdown was forced.
	BudgetExpired bool
	// HasCounts is true when the component implements [RecordCounter] and
	// both readings succeeded; Exported and Dropped are then the records it
	// exported and dropped between the start of the shutdown and its
	// Shutdown's return.
	HasCounts bool
	Exported  uint64
	Dropped   uint64
	// HasLeft is true when the component implements [LeftCounter] and
	// its reading after Shutdown succeeded; Left is then the records its
	// Shutdown left for the next start (in steadylog's processor, its
	// spool): neither exported nor dropped.
	HasLeft bool
	Left    uint64
}

// Exported is the total of the components' exported counts.
func (r Report) Exported() uint64 {
	var n uint64
	for _, c := range r.Components {
		n += c.Exported
	}
	return n
}

// Left is the total of the components' records left for the next start.
func (r Report) Left() uint64 {
	var n uint64
	for _, c := range r.Components {
		n += c.Left
	}
	return n
}

// Dropped is the total of the components' dropped counts.
func (r Report) Dropped() uint64 {
	var n uint64
	for _, c := range r.Components {
		n += c.Dropped
	}
	return n
}

// String is a readable multi-line summary, for example:
//
//	shutdown graceful (signal terminated): ok in 212ms, 1200 exported, 0 dropped
//	  hook       http     1.2ms                                      ok
//	  component  logs     210ms  graceful  exported 1200, dropped 0  ok
//	  component  metrics  400µs  graceful                            ok
//
// Durations of a second or more are rounded to the millisecond, from a
// millisecond to 100µs, and below that to the microsecond. The counts column
// is empty for a component that does not implement [RecordCounter]; for one
// that implements [LeftCounter] and left records it ends with "left for
// next start N" (and the first line with ", N left for next start"); a failed
// or abandoned entry reads "FAILED: …" or "ABANDONED: …" in place of "ok".
func (r Report) String() string {
	var b strings.Builder
	b.WriteString("shutdown ")
	b.WriteString(r.Strategy.String())
	if r.Trigger != "" {
		fmt.Fprintf(&b, " (%s)", r.Trigger)
	}
	if r.Forced {
		b.WriteString(", forced to immediate by a second signal")
	}
	status := "ok"
	if r.Err != nil {
		status = "FAILED"
	}
	fmt.Fprintf(&b, ": %s in %v, %d exported, %d dropped", status, roundDuration(r.Duration), r.Exported(), r.Dropped())
	if left := r.Left(); left > 0 {
		fmt.Fprintf(&b, ", %d left for next start", left)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, h := range r.Hooks {
		fmt.Fprintf(tw, "  hook\t%s\t%v\t\t\t%s\n", h.Name, roundDuration(h.Duration), outcome(h.Err, h.Abandoned, false))
	}
	for _, c := range r.Components {
		counts := ""
		if c.HasCounts {
			counts = fmt.Sprintf("exported %d, dropped %d", c.Exported, c.Dropped)
		}
		if c.HasLeft && c.Left > 0 { // a processor without a spool leaves nothing, always
			if counts != "" {
				counts += ", "
			}
			counts += fmt.Sprintf("left for next start %d", c.Left)
		}
		fmt.Fprintf(tw, "  component\t%s\t%v\t%s\t%s\t%s\n", c.Name, roundDuration(c.Duration), c.Strategy, counts, outcome(c.Err, c.Abandoned, c.BudgetExpired))
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

func outcome(err error, abandoned, budget bool) string {
	var s string
	switch {
	case abandoned:
		s = "ABANDONED: " + err.Error()
	case err != nil:
		s = "FAILED: " + err.Error()
	default:
		s = "ok"
	}
	if budget {
		s += " (drain budget used up)"
	}
	// Joined errors span lines; keep one line per entry in the table.
	return strings.ReplaceAll(s, "\n", "; ")
}

func roundDuration(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
