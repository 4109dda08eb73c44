package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

// printExporter prints the body of each exported record.
type printExporter struct{}

func (printExporter) Export(_ context.Context, recs []sdklog.Record) error {
	for _, r := range recs {
		fmt.Println("exported:", r.Body().AsString())
	}
	return nil
}
func (printExporter) ForceFlush(context.Context) error { return nil }
func (printExporter) Shutdown(context.Context) error   { return nil }

func emit(lp *sdklog.LoggerProvider, body string) {
	var r log.Record
	r.SetBody(attribute.StringValue(body))
	lp.Logger("example").Emit(context.Background(), r)
}

// Shut logs down before metrics, draining within the time left.
func ExampleShutdown() {
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(printExporter{})))
	mp := sdkmetric.NewMeterProvider()
	emit(lp, "last words")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lifecycle.Shutdown(ctx, lifecycle.Graceful, lp, mp); err != nil {
		fmt.Println("shutdown:", err)
	}
	// Output:
	// exported: last words
}

// blockedExporter never gets a record out: the backend is down.
type blockedExporter struct{ release chan struct{} }

func (e blockedExporter) Export(context.Context, []sdklog.Record) error {
	<-e.release
	return nil
}
func (blockedExporter) ForceFlush(context.Context) error { return nil }
func (blockedExporter) Shutdown(context.Context) error   { return nil }

// Immediate stops at once; steadylog's processor counts what it still held.
func ExampleShutdownNamed_immediate() {
	exp := blockedExporter{release: make(chan struct{})}
	defer close(exp.release)
	proc, _ := processor.New(exp, processor.WithExportInterval(time.Hour))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	for range 3 {
		emit(lp, "queued")
	}

	r, err := lifecycle.ShutdownNamed(context.Background(), lifecycle.Immediate,
		lifecycle.Named("logs", lifecycle.Group(lp, proc)))
	fmt.Println("err:", err)
	c := r.Components[0]
	fmt.Printf("%s: %s, exported %d, dropped %d\n", c.Name, c.Strategy, c.Exported, c.Dropped)
	fmt.Println("counted as dropped by shutdown:", proc.Stats().Dropped[processor.DropShutdown])
	// Output:
	// err: <nil>
	// logs: immediate, exported 0, dropped 3
	// counted as dropped by shutdown: 3
}

// stuck ignores its context, like an exporter blocked in a network call
// without a timeout.
type stuck struct{ release chan struct{} }

func (s stuck) ForceFlush(context.Context) error { <-s.release; return nil }
func (s stuck) Shutdown(context.Context) error   { <-s.release; return nil }

// A component that ignores its context cannot hold the shutdown past its
// deadline: it is abandoned, and the error says which and why.
func ExampleShutdown_abandoned() {
	s := stuck{release: make(chan struct{})}
	defer close(s.release)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := lifecycle.Shutdown(ctx, lifecycle.Flush, s)

	var ce *lifecycle.ComponentError
	if errors.As(err, &ce) {
		fmt.Println("component:", ce.Name)
		fmt.Println("call:", ce.Op)
	}
	fmt.Println("abandoned:", errors.Is(err, lifecycle.ErrAbandoned))
	fmt.Println("deadline exceeded:", errors.Is(err, context.DeadlineExceeded))
	// Output:
	// component: #0 lifecycle_test.stuck
	// call: force_flush
	// abandoned: true
	// deadline exceeded: true
}

// A program's shutdown: hooks first (the HTTP server), then the components.
// In main, call Listen to have SIGINT/SIGTERM start it, and Wait for it.
func ExampleManager() {
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(printExporter{})))
	mp := sdkmetric.NewMeterProvider()

	m, err := lifecycle.NewManager(lifecycle.WithTimeout(10 * time.Second))
	if err != nil {
		panic(err)
	}
	_ = m.Register("logs", lp)
	_ = m.Register("metrics", mp)
	_ = m.AddHook("http", func(context.Context) error {
		// srv.Shutdown(ctx) in a real program; its last requests still log.
		emit(lp, "request finished")
		return nil
	})
	// _ = m.Listen(); defer m.Stop(); report := m.Wait()
	_ = m.Shutdown(context.Background())

	r := m.Wait()
	fmt.Println("strategy:", r.Strategy, "trigger:", r.Trigger, "err:", r.Err)
	for _, c := range r.Components {
		fmt.Println(c.Name, c.Err == nil)
	}
	// Output:
	// exported: request finished
	// strategy: graceful trigger: Shutdown called err: <nil>
	// logs true
	// metrics true
}

// Strategies are values; a flag or a configuration file can name them.
func ExampleParseStrategy() {
	for _, text := range []string{"immediate", "graceful", "graceful(0.5)", "soon"} {
		s, err := lifecycle.ParseStrategy(text)
		fmt.Println(s, err)
	}
	// Output:
	// immediate <nil>
	// graceful <nil>
	// graceful(0.5) <nil>
	// invalid steadylog/lifecycle: invalid strategy: "soon" (want immediate, flush, graceful or graceful(SHARE))
}
