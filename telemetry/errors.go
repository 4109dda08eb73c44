package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/steadylog/steadylog/internal/setting"
)

// DefaultErrorMessage is the message of the lines an ErrorReporter writes,
// unless WithErrorMessage sets another.
const DefaultErrorMessage = "steadylog: error"

// MaxErrorKinds is the number of distinct error kinds an ErrorReporter
// tracks at once. Errors of further kinds are counted together, in one
// "other" kind, until a tracked kind has been quiet for a whole interval
// and is forgotten.
const MaxErrorKinds = 64

// Bounds of the text an ErrorReporter keeps: an error's text is user data
// (a response body, say) and may be of any size.
const (
	// maxErrorText bounds the error text of a line, in bytes.
	maxErrorText = 2048
	// maxKeyText bounds the key of a kind, in bytes.
	maxKeyText = 512
)

// FirstLineWait bounds how long Handle waits for the first line of a new
// kind to be written. The writer is the caller's code and may be stuck (a
// full stderr pipe): after one wait has run out, Handle does not wait
// again until that line has been written.
const FirstLineWait = 100 * time.Millisecond

// ErrReporterPanic is wrapped by the error of ErrorReporter.Shutdown when
// the logger panicked on the last summary. The panic itself was
// recovered.
var ErrReporterPanic = errors.New("steadylog/telemetry: error reporter: panic in caller's code")

// ErrorOption configures an ErrorReporter.
type ErrorOption interface {
	applyError(*errorConfig)
}

type errorConfig struct {
	lineConfig
	msg setting.Value[string]
}

type errorOptionFunc func(*errorConfig)

func (f errorOptionFunc) applyError(c *errorConfig) { f(c) }

// WithErrorLogger sets the logger the error lines are written to, at level
// Error. It must not feed the pipeline whose errors it reports: an export
// error logged into a failing pipeline is one more record for it to fail
// on, and the operator never sees it.
//
// The logger is called only from the reporter's own goroutine and from
// the final summary of Shutdown, never from Handle and never with a lock
// that Handle takes: a logger that blocks holds up those, Handle for at
// most FirstLineWait once (see ErrorReporter.Handle), and Shutdown gives
// up when its context ends. A panic in its handler is recovered. It must
// not call back into the ErrorReporter.
//
// Default: DefaultAlertLogger, a log/slog text handler on os.Stderr, which
// depends on nothing but the process's standard error. nil makes
// NewErrorReporter fail.
func WithErrorLogger(l *slog.Logger) ErrorOption {
	return errorOptionFunc(func(c *errorConfig) { c.setLogger("WithErrorLogger", l) })
}

// WithErrorInterval sets the rate limit: a kind of error gets at most one
// line per interval, and the repeats in between are counted into the next
// summary.
//
// Default: DefaultAlertInterval (10s). A value ≤ 0 makes NewErrorReporter
// fail. There is no upper limit: math.MaxInt64 means, in practice, one
// line for the first error of each kind and a last summary at Shutdown.
func WithErrorInterval(d time.Duration) ErrorOption {
	return errorOptionFunc(func(c *errorConfig) { c.setInterval("WithErrorInterval", d) })
}

// WithErrorAttrs adds attributes to every line, such as the
// otel.component.name of the component whose errors it reports. The
// arguments are those of slog.Logger.Error: slog.Attr values or key-value
// pairs.
//
// Default: none.
func WithErrorAttrs(args ...any) ErrorOption {
	return errorOptionFunc(func(c *errorConfig) { c.attrs = append(c.attrs, args...) })
}

// WithErrorMessage sets the message of every line; the error itself is in
// the error attribute.
//
// Default: DefaultErrorMessage ("steadylog: error"). An empty message
// makes NewErrorReporter fail.
func WithErrorMessage(msg string) ErrorOption {
	return errorOptionFunc(func(c *errorConfig) {
		if msg == "" {
			c.errs.Reject("WithErrorMessage(\"\"): must not be empty")
			return
		}
		c.msg = setting.Of(msg)
	})
}

// ErrorReporter writes errors to a local logger, rate limited by kind:
// the first error of a kind at once, its repeats as one summary line per
// interval with their count and the latest error's text.
//
//	level=ERROR msg="steadylog: error" count=1 error="export of 512 records failed (will be retried): 503 Service Unavailable"
//	level=ERROR msg="steadylog: error" count=37 interval=10s error="export of 498 records failed (will be retried): 503 Service Unavailable"
//
// It is meant as an error handler (Handle has the signature of one) for
// code whose errors must be seen even when the pipeline they concern is
// down, and must not flood the log when they repeat: its lines go to
// standard error by default, through nothing that OpenTelemetry does.
//
// # Kinds
//
// The kind of an error is its text with every word that contains a digit
// replaced by "N": "export of 512 records failed: dial tcp 10.0.0.7:4318:
// connection refused" and "export of 3 records failed: dial tcp
// 10.0.0.9:4318: connection refused" are one kind, "export of N records
// failed: dial tcp N.N.N.N:N: connection refused". A word is a run of
// letters, digits and underscores, so counts, addresses, ports, status
// codes, versions and most hexadecimal identifiers and UUIDs fold (a
// segment with no digit, such as "beef", stays): "404 Not Found" and
// "503 Service Unavailable" stay apart by their words, "status 404" and
// "status 503" do not (the summary shows the latest). At most
// MaxErrorKinds kinds are tracked at once; errors of further kinds are
// counted in one "other" kind, whose lines carry kind=other. A kind is
// forgotten once it has been quiet for a whole interval after its last
// line, so it is written at once again when it comes back, and memory
// stays bounded whatever errors arrive: at most MaxErrorKinds+1 kinds,
// each with a text of at most 2 KiB (longer texts are cut, ending in "…").
//
// # Timing
//
// The first error of a kind is written at once, by the call that reports
// it: Handle takes the line (count=1, that error's text), hands it to the
// reporter's goroutine and waits until it is written, so it is on the
// logger's output when Handle returns. The wait is bounded, because the
// logger may be stuck: after FirstLineWait Handle returns and the line is
// written when the logger unblocks; while a line that outwaited Handle is
// still unwritten, Handle does not wait at all. Repeats never wait: Handle
// only counts them. After its first line, a kind gets at most one line
// per interval: the goroutine's ticker ticks once per interval, and a
// kind that had a line since the previous tick waits for the next one, so
// two lines of a kind are at least one interval apart (but for
// Shutdown's), and a summary covers at most two intervals. Its interval
// attribute is the time since the kind's previous line. Shutdown writes a
// last summary of every count not written yet.
//
// The goroutine runs only while there is something to report: Handle
// starts it, and it ends by itself when every kind has been forgotten, an
// interval or two after the last error. A reporter that is never given an
// error starts no goroutine, and one that is never shut down leaves none
// behind once its errors stop.
//
// The logger is the caller's code. A panic in its handler is recovered;
// a line whose write panicked is lost. A logger
// that blocks delays the goroutine, Shutdown, which returns when its
// context ends, and one Handle by at most FirstLineWait; Handle keeps
// counting meanwhile.
//
// The methods are safe for concurrent use.
type ErrorReporter struct {
	lines     // the logger, interval, clock, panics and final summary
	msg       string
	firstWait time.Duration // FirstLineWait; tests change it

	mu      sync.Mutex // guards the fields below; never held while calling the logger
	kinds   map[string]*errorKind
	other   *errorKind // the kinds beyond MaxErrorKinds; nil when there are none
	seq     uint64     // orders the kinds by first occurrence
	ticks   uint64     // ticks handled, over all goroutines
	running bool       // a goroutine is running, or about to
	stopped bool
	runErr  error // the first ticker failure, returned by Shutdown
	// pending are the first lines Handle has taken and the goroutine (or
	// the final summary) has not written yet, in the order of their kinds.
	pending []pendingLine
	// slow is the done channel of a first line whose Handle stopped
	// waiting for it: until it is closed, Handle does not wait. nil when
	// no wait has run out.
	slow chan struct{}

	wake chan struct{} // a first line is pending; buffered, 1
	runs sync.WaitGroup

	write sync.Mutex // serialises the calls into the logger
}

// errorKind is the state of one kind of error.
type errorKind struct {
	seq   uint64
	text  string    // the latest error's text
	count uint64    // errors since the kind's previous line
	last  time.Time // when the previous line was taken
	// lineTick is the tick from which the kind may have its next line: the
	// tick of its previous line, or the tick after the immediate write of
	// its first line.
	lineTick uint64
	seenTick uint64 // the value of ticks at its latest error
	other    bool
}

// errorLine is a line taken for writing.
type errorLine struct {
	seq   uint64
	text  string
	count uint64
	span  time.Duration
	first bool
	other bool
}

// pendingLine is a first line taken by Handle, with the channel closed
// once it has been written (or its write panicked).
type pendingLine struct {
	line errorLine
	done chan struct{}
}

// NewErrorReporter returns an ErrorReporter. No goroutine is started
// until the first error. It fails when an option is nil or has an invalid
// value, with an error wrapping ErrInvalidOption for each.
func NewErrorReporter(opts ...ErrorOption) (*ErrorReporter, error) {
	c := errorConfig{lineConfig: newLineConfig()}
	setting.Apply(c.errs, opts, func(o ErrorOption) { applyOption(&c.lineConfig, o, func(o ErrorOption) { o.applyError(&c) }) })
	if err := c.errs.Err(); err != nil {
		return nil, err
	}
	return &ErrorReporter{
		lines:     newLines(&c.lineConfig, ErrReporterPanic),
		msg:       c.msg.Resolve(DefaultErrorMessage),
		firstWait: FirstLineWait,
		kinds:     map[string]*errorKind{},
		wake:      make(chan struct{}, 1),
	}, nil
}

// Handle reports err. It never calls the logger itself: it takes the
// error's text (calling err.Error, whose panic is recovered and reported
// as the error's text) and counts it under its kind. For a repeat it then
// returns. For the first error of a kind it takes the line, hands it to
// the reporter's goroutine and waits until it is written, at most
// FirstLineWait, and not at all while an earlier first line that outwaited
// its Handle is still unwritten (the logger is stuck). A nil err is
// ignored, and so is every error once Shutdown has been called: nothing is
// written after the final summary.
func (r *ErrorReporter) Handle(err error) {
	if err == nil {
		return
	}
	text := errorText(err)
	key := errorKey(text)
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	k := r.kinds[key]
	fresh := k == nil
	if fresh {
		switch {
		case len(r.kinds) < MaxErrorKinds:
			k = &errorKind{seq: r.seq}
			r.seq++
			r.kinds[key] = k
		case r.other == nil:
			r.other = &errorKind{seq: r.seq, other: true}
			r.seq++
			k = r.other
		default:
			k, fresh = r.other, false
		}
	}
	k.count = addSat(k.count, 1)
	k.text = text
	k.seenTick = r.ticks
	var done chan struct{}
	wait := false
	if fresh {
		done = make(chan struct{})
		r.pending = append(r.pending, pendingLine{line: k.takeLocked(r.readClock(), r.ticks+1, true), done: done})
		if r.slow != nil {
			select {
			case <-r.slow: // the logger has recovered
				r.slow = nil
			default:
			}
		}
		wait = r.slow == nil
	}
	switch {
	case !r.running:
		r.running = true
		r.runs.Add(1)
		go r.run() // writes the pending lines as it starts
	case fresh:
		select {
		case r.wake <- struct{}{}:
		default: // already woken
		}
	}
	r.mu.Unlock()
	if wait {
		r.awaitFirst(done)
	}
}

// awaitFirst waits until the first line whose channel is done has been
// written, at most FirstLineWait. When the wait runs out, it marks the
// logger as slow, so that no other Handle waits until that line is out.
func (r *ErrorReporter) awaitFirst(done chan struct{}) {
	t := time.NewTimer(r.firstWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.mu.Lock()
		if r.slow == nil {
			r.slow = done
		}
		r.mu.Unlock()
	}
}

// run is the reporter's goroutine. It writes the first lines as Handle
// hands them over, the summaries at its ticks, and ends when every kind
// has been forgotten or Shutdown is called.
func (r *ErrorReporter) run() {
	defer r.runs.Done()
	t, c, err := r.startTicker()
	if err != nil {
		// No ticks, no summaries: write what can be written and end; the
		// next new kind starts a goroutine again, and Shutdown writes the
		// repeats.
		r.mu.Lock()
		r.running = false
		r.runErr = cmp.Or(r.runErr, err)
		pending := r.takePendingLocked()
		r.mu.Unlock()
		r.writePending(pending)
		return
	}
	defer r.stopTicker(t)
	r.writeFirst()
	for {
		select {
		case <-r.quit: // before anything else that is ready
			return
		default:
		}
		select {
		case <-r.quit:
			return
		case <-r.wake:
			r.writeFirst()
		case now := <-c:
			pending, lines, more := r.tick(now)
			r.writePending(pending)
			r.writeLines(lines)
			if !more {
				return
			}
		}
	}
}

// readClock reads the clock, falling back to time.Now if it panics.
func (r *ErrorReporter) readClock() (now time.Time) {
	if r.guard("clock", func() { now = r.clock.Now() }) != nil {
		return time.Now()
	}
	return now
}

// writeFirst writes the first lines Handle has handed over.
func (r *ErrorReporter) writeFirst() {
	r.mu.Lock()
	pending := r.takePendingLocked()
	r.mu.Unlock()
	r.writePending(pending)
}

// takePendingLocked takes the first lines waiting to be written.
func (r *ErrorReporter) takePendingLocked() []pendingLine {
	pending := r.pending
	r.pending = nil
	return pending
}

// writePending writes the first lines taken by takePendingLocked, then
// tells the Handle calls waiting for them, and returns the panics.
func (r *ErrorReporter) writePending(pending []pendingLine) error {
	if len(pending) == 0 {
		return nil
	}
	lines := make([]errorLine, len(pending))
	for i, p := range pending {
		lines[i] = p.line
	}
	err := r.writeLines(lines)
	for _, p := range pending {
		close(p.done)
	}
	return err
}

// tick takes the first lines still pending and the summaries due at a
// tick, and forgets the kinds that were quiet for the whole interval
// before it. It reports whether the goroutine must go on: false once no
// kind is left, and then the goroutine is marked as ended.
func (r *ErrorReporter) tick(now time.Time) (pending []pendingLine, lines []errorLine, more bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pending = r.takePendingLocked()
	r.ticks++
	n := r.ticks
	for key, k := range r.kinds {
		if l, ok := r.dueLocked(k, now, n); ok {
			lines = append(lines, l)
		} else if k.quietLocked(n) {
			delete(r.kinds, key)
		}
	}
	if k := r.other; k != nil {
		if l, ok := r.dueLocked(k, now, n); ok {
			lines = append(lines, l)
		} else if k.quietLocked(n) {
			r.other = nil
		}
	}
	if len(r.kinds) == 0 && r.other == nil {
		r.running = false
		return pending, nil, false // no kind left, so no summary either
	}
	return pending, sortLines(lines), true
}

// dueLocked takes the summary of k due at tick n, if there is one. (Its
// first line was taken by Handle.)
func (r *ErrorReporter) dueLocked(k *errorKind, now time.Time, n uint64) (errorLine, bool) {
	if k.count > 0 && k.lineTick < n {
		return k.takeLocked(now, n, false), true
	}
	return errorLine{}, false
}

// quietLocked reports whether k has had no error since the tick before n
// and has nothing left to write.
func (k *errorKind) quietLocked(n uint64) bool {
	return k.count == 0 && k.seenTick+1 < n
}

// takeLocked takes k's count for a line, at time now; k's next line may
// be written from tick next.
func (k *errorKind) takeLocked(now time.Time, next uint64, first bool) errorLine {
	l := errorLine{seq: k.seq, text: k.text, count: k.count, first: first, other: k.other}
	if !first {
		l.span = max(now.Sub(k.last), 0).Round(time.Millisecond)
	}
	k.count, k.last, k.lineTick = 0, now, next
	return l
}

// allLocked yields the tracked kinds, the other kind included.
func (r *ErrorReporter) allLocked() func(yield func(*errorKind) bool) {
	return func(yield func(*errorKind) bool) {
		for _, k := range r.kinds {
			if !yield(k) {
				return
			}
		}
		if r.other != nil {
			yield(r.other)
		}
	}
}

// sortLines orders lines by their kind's first occurrence, keeping the
// order of lines of one kind.
func sortLines(lines []errorLine) []errorLine {
	slices.SortStableFunc(lines, func(a, b errorLine) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return lines
}

// writeLines writes lines to the logger, one guarded call each, and
// returns the panics.
func (r *ErrorReporter) writeLines(lines []errorLine) error {
	if len(lines) == 0 {
		return nil
	}
	r.write.Lock()
	defer r.write.Unlock()
	var errs []error
	for _, l := range lines {
		args := make([]any, 0, 4+len(r.attrs))
		args = append(args, slog.Uint64("count", l.count))
		if !l.first {
			args = append(args, slog.Duration("interval", l.span))
		}
		if l.other {
			args = append(args, slog.String("kind", "other"))
		}
		args = append(args, slog.String("error", l.text))
		args = append(args, r.attrs...)
		if err := r.guard("logger", func() { r.logger.Log(context.Background(), slog.LevelError, r.msg, args...) }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Shutdown stops the reporter's goroutine and writes a last summary of
// every error not written yet: the first lines still pending (the logger
// was stuck, say), then the count of the repeats of each kind. Handle
// ignores the errors that come after it.
//
// It returns nil once that summary is written (or there was nothing to
// write), and an error wrapping ErrReporterPanic if the logger panicked on
// it. It returns ctx.Err() as soon as ctx is done, even while the logger is stuck
// (a full stderr pipe, say): the work goes on in the background, and the
// summary is written, after any line the goroutine was writing, when the
// logger unblocks; the reporter's goroutines end then.
//
// Only the first call does anything; later calls return nil at once,
// without waiting for the first to finish. A nil ctx is taken as
// context.Background().
func (r *ErrorReporter) Shutdown(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	close(r.quit)
	r.mu.Unlock()

	return r.awaitFinal(ctx, r.finish)
}

// finish waits for the goroutines and writes the final summary, for
// Shutdown.
func (r *ErrorReporter) finish() error {
	r.runs.Wait() // stopped is set: no goroutine starts any more
	now := r.readClock()
	r.mu.Lock()
	pending := r.takePendingLocked()
	var lines []errorLine
	for _, p := range pending {
		lines = append(lines, p.line)
	}
	for k := range r.allLocked() {
		if k.count > 0 {
			lines = append(lines, k.takeLocked(now, 0, false))
		}
	}
	clear(r.kinds)
	r.other = nil
	runErr := r.runErr
	r.mu.Unlock()
	// A kind's first line, if pending, comes before its summary: the sort
	// is stable and the pending lines are first.
	err := r.writeLines(sortLines(lines))
	for _, p := range pending {
		close(p.done)
	}
	return errors.Join(runErr, err)
}

// errorText returns err's text, cut to maxErrorText bytes. A panic in
// err.Error (a typed nil, say) is recovered and described instead.
func errorText(err error) (text string) {
	defer func() {
		if p := recover(); p != nil {
			text = fmt.Sprintf("%T (its Error method panicked: %v)", err, p)
		}
		text = truncate(text, maxErrorText)
	}()
	return err.Error()
}

// truncate cuts s to at most n bytes, at a rune boundary, marking the cut
// with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// errorKey returns the kind an ErrorReporter counts an error text under:
// the text with every word (a run of letters, digits and underscores) that
// contains a digit replaced by "N", cut to maxKeyText bytes.
//
//	errorKey("export of 512 records failed: dial tcp 10.0.0.7:4318: connection refused")
//	// "export of N records failed: dial tcp N.N.N.N:N: connection refused"
func errorKey(text string) string {
	var b strings.Builder
	b.Grow(min(len(text), maxKeyText))
	for i := 0; i < len(text) && b.Len() < maxKeyText; {
		r, size := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			b.WriteString(text[i : i+size])
			i += size
			continue
		}
		j, digit := i, false
		for j < len(text) {
			r, size := utf8.DecodeRuneInString(text[j:])
			if !isWordRune(r) {
				break
			}
			digit = digit || unicode.IsDigit(r)
			j += size
		}
		if digit {
			b.WriteByte('N')
		} else {
			b.WriteString(text[i:j])
		}
		i = j
	}
	return truncate(b.String(), maxKeyText)
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
