package fakeclock

import (
	"testing"
	"time"
)

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestAdvanceFiresDueTimers(t *testing.T) {
	f := New(start)
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
	f := New(start)
	select {
	case <-f.After(0):
	default:
		t.Fatal("After(0) did not fire")
	}
}

func TestBlockUntil(t *testing.T) {
	f := New(start)
	done := make(chan struct{})
	go func() {
		<-f.After(time.Hour)
		close(done)
	}()
	f.BlockUntil(1)
	f.Advance(time.Hour)
	<-done
	if f.Timers() != 0 {
		t.Fatalf("Timers = %d after firing", f.Timers())
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
