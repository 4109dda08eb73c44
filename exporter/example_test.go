package exporter_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
)

// countingExporter counts the records it is given, and fails while err is
// set.
type countingExporter struct {
	mu      sync.Mutex
	records int
	err     error
}

func (c *countingExporter) Export(_ context.Context, records []sdklog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.records += len(records)
	return nil
}

func (c *countingExporter) ForceFlush(context.Context) error { return nil }
func (c *countingExporter) Shutdown(context.Context) error   { return nil }

func (c *countingExporter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records
}

func (c *countingExporter) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

// stepClock is a breaker.Clock moved by hand, for a deterministic example.
type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

func ExampleNewBreaker() {
	backend := &countingExporter{err: errors.New("connection refused")}
	b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 2})
	exp, err := exporter.NewBreaker(backend, b)
	if err != nil {
		panic(err)
	}

	batch := make([]sdklog.Record, 10)
	for range 3 {
		err = exp.Export(context.Background(), batch)
		fmt.Println("open:", errors.Is(err, breaker.ErrOpen), "state:", b.State())
	}
	// Output:
	// open: false state: closed
	// open: false state: open
	// open: true state: open
}

func ExampleNewFanout() {
	collector, audit := &countingExporter{}, &countingExporter{err: errors.New("disk full")}
	fan, err := exporter.NewFanout(exporter.Named("collector", collector), exporter.Named("audit", audit))
	if err != nil {
		panic(err)
	}
	err = fan.Export(context.Background(), make([]sdklog.Record, 5))
	fmt.Println(err)
	fmt.Println("collector got", collector.count())
	// Output:
	// exporter 1 (audit): disk full
	// collector got 5
}

// The Must… forms compose decorators inline.
func ExampleMustFailover() {
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := breaker.MustNew(breaker.Config{
		ConsecutiveFailures: 1, OpenTimeout: time.Minute, Clock: clock,
		Rand: func() float64 { return 0 },
	})
	collector, spool := &countingExporter{}, &countingExporter{}
	exp := exporter.MustFailover(exporter.MustBreaker(collector, b), spool)
	batch := make([]sdklog.Record, 1)

	collector.fail(errors.New("503 Service Unavailable"))
	_ = exp.Export(context.Background(), batch) // fails over and trips the breaker
	collector.fail(nil)
	_ = exp.Export(context.Background(), batch) // breaker open: straight to the spool
	fmt.Println("collector", collector.count(), "spool", spool.count())

	clock.t = clock.t.Add(time.Minute)
	_ = exp.Export(context.Background(), batch) // probe succeeds: back to the collector
	fmt.Println("collector", collector.count(), "spool", spool.count(), b.State())
	// Output:
	// collector 0 spool 2
	// collector 1 spool 2 closed
}
