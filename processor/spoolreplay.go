package processor

import (
	"context"
	"time"
)

// The replay rate (WithSpoolReplayRate) paces each destination's reads of
// the spool, so that the backlog of a long outage, read back and exported
// as fast as the backend takes it, does not take the application's CPU and
// disk. It is a token bucket of one batch per destination, kept as the
// time of its next read: a read of n records moves that time n/rate
// seconds past the later of itself and now, and the next read waits for
// it. A batch held for a retry is not read again, so a retry is not paced;
// reads of memory never are.
//
// The wait ends early with the context of the export loop — ForceFlush's,
// Shutdown's — and, outside Shutdown's drain, when Shutdown begins: the
// worker then drains, still paced, within Shutdown's context. What it does
// not read by then stays in the spool for the next start.

// replayWait waits until the replay rate lets d read the spool. It returns
// false when it stopped early: with ctx's error when ctx ended, with nil
// when Shutdown began. Worker only.
func (d *destination) replayWait(ctx context.Context) (bool, error) {
	cfg := &d.p.sp.cfg
	r := &d.disk
	if cfg.replayRate == 0 || r.held {
		return true, nil
	}
	wait := r.replayAt.Sub(cfg.clock.Now())
	if wait <= 0 {
		return true, nil
	}
	t := cfg.clock.NewTimer(wait)
	defer t.Stop()
	var stop <-chan struct{}
	if !r.draining {
		stop = d.p.stop
	}
	select {
	case <-t.C():
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-stop:
		return false, nil
	}
}

// replayRead charges the replay rate for n records just read. Worker only.
func (d *destination) replayRead(n int) {
	cfg := &d.p.sp.cfg
	if cfg.replayRate == 0 || n == 0 {
		return
	}
	r := &d.disk
	from := cfg.clock.Now()
	if r.replayAt.After(from) {
		from = r.replayAt
	}
	r.replayAt = from.Add(time.Duration(n) * time.Second / time.Duration(cfg.replayRate))
}
