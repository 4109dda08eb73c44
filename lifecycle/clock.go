package lifecycle

import "github.com/steadylog/steadylog/internal/clock"

// marginClock makes the timers of AbandonMargin: how long a call, a
// RecordCounts reading or a StopBlocking call gets to return after its
// context ended (or from its start), before the shutdown stops waiting for
// it. It is the system clock; the package's tests set a fake one to end
// those waits without waiting.
//
// Only these timers read it. The other times the package reads — when a
// call started and ended, how long the drain budget and each Shutdown's
// share are — are compared with context deadlines, which the runtime
// measures on the system clock, so they stay on it too.
var marginClock = clock.Real()
