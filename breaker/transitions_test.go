package breaker

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTransitionsCountEveryChange(t *testing.T) {
	clk := newFakeClock()
	var rec transitions
	b := MustNew(Config{
		Name: "otlp", ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: clk,
		Rand: noJitter, OnStateChange: rec.record,
	})
	assert.Zero(t, b.Transitions().Total(), "a new breaker has changed nothing")

	failN(t, b, 1)           // closed -> open
	clk.Advance(time.Second) // open -> half-open, applied when looked at
	tr := b.Transitions()    // looking applies it, as State does
	require.Equal(t, HalfOpen, b.State())
	assert.Equal(t, uint64(1), tr.Count(Open, HalfOpen), "Transitions applies a due change")
	failN(t, b, 1)               // half-open -> open
	clk.Advance(2 * time.Second) // open -> half-open (backed-off wait)
	succeedN(t, b, 1)            // half-open -> closed

	tr = b.Transitions()
	assert.Equal(t, uint64(1), tr.Count(Closed, Open))
	assert.Equal(t, uint64(2), tr.Count(Open, HalfOpen))
	assert.Equal(t, uint64(1), tr.Count(HalfOpen, Open))
	assert.Equal(t, uint64(1), tr.Count(HalfOpen, Closed))
	assert.Zero(t, tr.Count(Closed, HalfOpen))
	assert.Zero(t, tr.Count(State(7), Open), "unknown states count nothing")
	assert.Equal(t, uint64(len(rec.list())), tr.Total(), "one count per OnStateChange call")

	var each []string
	tr.each(func(from, to State, n uint64) {
		each = append(each, fmt.Sprintf("%s->%s=%d", from, to, n))
	})
	assert.Equal(t, []string{"closed->open=1", "half-open->closed=1", "half-open->open=1", "open->half-open=2"}, each,
		"Each visits non-zero pairs by from, then to")
}

func TestStateNameAndEachTransition(t *testing.T) {
	b := MustNew(Config{ConsecutiveFailures: 1, OpenTimeout: time.Second, Clock: newFakeClock(), Rand: noJitter})
	assert.Equal(t, "closed", b.StateName())
	_ = b.Execute(func() error { return errBackend })
	assert.Equal(t, "open", b.StateName())
	type pair struct {
		from, to string
		n        uint64
	}
	var got []pair
	b.EachTransition(func(from, to string, n uint64) { got = append(got, pair{from, to, n}) })
	assert.Equal(t, []pair{{"closed", "open", 1}}, got)
}
