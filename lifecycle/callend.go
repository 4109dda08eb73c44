package lifecycle

// callStarted is called, on the caller's goroutine, as each call of user
// code — a ForceFlush, a Shutdown, a hook, a RecordCounts or a
// StopBlocking — starts in a goroutine of its own; the function it
// returns, if not nil, is called by that goroutine once the call has ended
// and its result can be seen (done is closed).
//
// In a program it returns nil. The package's tests set it
// (export_test.go): a call that returns at once still needs its goroutine
// to be scheduled, and a test that moves the fake clock past an
// AbandonMargin must know that such calls have ended, or Shutdown would
// abandon them. On the system clock the margin itself is that wait.
var callStarted = func() (ended func()) { return nil }
