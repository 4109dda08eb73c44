package clock

import (
	"context"
	"testing"
	"time"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestAdvanceFiresDueTimers(t *testing.T) {
	f := NewFake(start)
	t1 := f.NewTimer(time.Second)
	t2 := f.NewTimer(time.Minute)
	f.Advance(time.Second)
	select {
	case got := <-t1.C():
		if !got.Equal(start.Add(time.Second)) {
			t.Fatalf("fired at %v", got)
		}
	default:
		t.Fatal("a timer due now did not fire")
	}
	select {
	case <-t2.C():
		t.Fatal("a timer not due fired")
	default:
	}
	if !t2.Stop() || t2.Stop() {
		t.Fatal("Stop must stop a pending timer once")
	}
	if t1.Stop() {
		t.Fatal("Stop of a fired timer must report false")
	}
	if got := f.Since(start); got != time.Second {
		t.Fatalf("Since = %v", got)
	}
}

func TestZeroTimerFiresAtOnce(t *testing.T) {
	f := NewFake(start)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
}

func TestBlockUntil(t *testing.T) {
	f := NewFake(start)
	done := make(chan struct{})
	go func() {
		<-f.After(time.Hour)
		close(done)
	}()
	f.BlockUntil(1)
	f.Advance(time.Hour)
	<-done
	if f.Waiters() != 0 {
		t.Fatalf("Waiters = %d after firing", f.Waiters())
	}
}

func TestReal(t *testing.T) {
	c := Real()
	if time.Since(c.Now()) > time.Hour {
		t.Fatal("Real is not the system clock")
	}
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending real timer")
	}
	<-c.NewTimer(0).C()
}

func TestTickerHoldsOneTick(t *testing.T) {
	f := NewFake(start)
	tk := f.NewTicker(time.Second)
	f.Advance(3 * time.Second)
	if got := <-tk.C(); !got.Equal(start.Add(3 * time.Second)) {
		t.Fatalf("ticked at %v", got)
	}
	select {
	case <-tk.C():
		t.Fatal("an Advance over three periods delivered more than one tick")
	default:
	}
	f.Advance(time.Second)
	<-tk.C()
	tk.Stop()
	if f.Waiters() != 0 {
		t.Fatal("a stopped ticker is still waiting")
	}
}

func TestWithDeadline(t *testing.T) {
	f := NewFake(start)
	ctx, cancel := WithTimeout(f, context.Background(), time.Minute)
	defer cancel()
	if dl, _ := ctx.Deadline(); !dl.Equal(start.Add(time.Minute)) {
		t.Fatalf("Deadline = %v", dl)
	}
	f.Advance(time.Minute - 1)
	if ctx.Err() != nil {
		t.Fatal("ended before its deadline")
	}
	f.Advance(1)
	<-ctx.Done()
	if ctx.Err() != context.DeadlineExceeded || context.Cause(ctx) != context.DeadlineExceeded {
		t.Fatalf("Err = %v, Cause = %v", ctx.Err(), context.Cause(ctx))
	}

	past, cancel := f.WithDeadlineCause(context.Background(), start, nil)
	defer cancel()
	if past.Err() != context.DeadlineExceeded {
		t.Fatal("a deadline already reached must end the context at once")
	}
	canceled, cancel := WithTimeout(f, context.Background(), time.Hour)
	cancel()
	if canceled.Err() != context.Canceled || f.Waiters() != 0 {
		t.Fatalf("cancel: Err = %v, %d waiters", canceled.Err(), f.Waiters())
	}
}

func TestAdvanceAndWaitReturnsOnceTheTickIsTaken(t *testing.T) {
	f := NewFake(start)
	tk := f.NewTicker(time.Second)
	if got := f.Periods(); len(got) != 1 || got[0] != time.Second {
		t.Fatalf("Periods = %v", got)
	}
	var handled []time.Time // written by the reader
	done := make(chan struct{})
	go func() {
		defer close(done)
		for tick := range tk.C() {
			handled = append(handled, tick)
			if len(handled) == 2 {
				return
			}
		}
	}()
	f.AdvanceAndWait(time.Second) // taken
	f.AdvanceAndWait(time.Second) // taken: the first one was handled
	<-done
	if len(handled) != 2 || !handled[0].Equal(start.Add(time.Second)) || !handled[1].Equal(start.Add(2*time.Second)) {
		t.Fatalf("handled %v", handled)
	}
	f.Advance(time.Second) // nobody reads it
	tk.Stop()
	f.AdvanceAndWait(0) // the stopped ticker's tick is no longer waited for
	f.BlockUntilAtMost(0)
}

func TestTickAndWaitRepeatsTheTimeAndWaitsForTheReader(t *testing.T) {
	f := NewFake(start)
	tk := f.NewTicker(time.Second)
	handled := make(chan time.Time)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case tick := <-tk.C():
				handled <- tick
			case <-quit:
				return
			}
		}
	}()
	f.Advance(time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.TickAndWait() // taken only once the first tick is handled
	}()
	if got := <-handled; !got.Equal(start.Add(time.Second)) {
		t.Fatalf("first tick at %v", got)
	}
	if got := <-handled; !got.Equal(start.Add(time.Second)) {
		t.Fatalf("repeated tick at %v", got)
	}
	<-done
	if got := f.Periods(); len(got) != 1 {
		t.Fatalf("Periods = %v", got)
	}
	f.Advance(time.Second) // the next tick is still a period after the first
	if got := <-handled; !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("next tick at %v", got)
	}
	tk.Stop()
	f.TickAndWait() // a stopped ticker gets nothing
}

func TestTickersMadeCountsStoppedTickers(t *testing.T) {
	f := NewFake(start)
	if got := f.TickersMade(); got != 0 {
		t.Fatalf("TickersMade = %d on a new clock", got)
	}
	f.NewTicker(time.Second).Stop()
	f.NewTimer(time.Second) // not a ticker
	tk := f.NewTicker(time.Minute)
	defer tk.Stop()
	if got := f.TickersMade(); got != 2 {
		t.Fatalf("TickersMade = %d, want 2", got)
	}
	if got := f.Periods(); len(got) != 1 || got[0] != time.Minute {
		t.Fatalf("Periods = %v: only the running ticker", got)
	}
}
