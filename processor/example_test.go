package processor_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/memguard"
	"github.com/steadylog/steadylog/processor"
)

// printExporter prints each record's body.
type printExporter struct{}

func (printExporter) Export(_ context.Context, recs []sdklog.Record) error {
	for i := range recs {
		fmt.Println("exported:", recs[i].Body().AsString())
	}
	return nil
}
func (printExporter) ForceFlush(context.Context) error { return nil }
func (printExporter) Shutdown(context.Context) error   { return nil }

func Example() {
	proc, err := processor.New(printExporter{}, processor.WithMaxQueueSize(100))
	if err != nil {
		panic(err)
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := provider.Logger("example")

	var r log.Record
	r.SetBody(attribute.StringValue("hello"))
	r.SetSeverity(log.SeverityInfo)
	logger.Emit(context.Background(), r)

	_ = provider.Shutdown(context.Background())
	fmt.Println(proc.Stats())
	// Output:
	// exported: hello
	// received=1 exported=1 queued=0 queued_bytes=0 in_flight=0 dropped=0
}

// A record larger than the whole byte budget is refused on its own and
// counted; it evicts nothing.
func Example_recordTooLarge() {
	proc, _ := processor.New(printExporter{}, processor.WithMaxQueueBytes(2048))
	ctx := context.Background()
	for _, body := range []string{"small", strings.Repeat("x", 4096)} {
		var r sdklog.Record
		r.SetBody(attribute.StringValue(body))
		_ = proc.OnEmit(ctx, &r)
	}
	_ = proc.Shutdown(ctx)
	s := proc.Stats()
	fmt.Println("received:", s.Received, "exported:", s.Exported, "dropped:", s.Dropped)
	// Output:
	// exported: small
	// received: 2 exported: 1 dropped: map[record_too_large:1]
}

// Audit logs wait for room instead of being dropped; ordinary logs of the
// same processor are refused when it is full. Two processors share one
// memory budget.
func ExampleWithOverflow() {
	budget, _ := memguard.NewBudget(64 << 20)
	audit, _ := processor.New(printExporter{},
		processor.WithOverflow(processor.DropNewest()),
		processor.WithOverflowFrom(log.SeverityWarn, processor.Block(2*time.Second)),
		processor.WithBudget(budget))
	app, _ := processor.New(printExporter{}, processor.WithBudget(budget))

	ctx := context.Background()
	var r sdklog.Record
	r.SetBody(attribute.StringValue("user 42 deleted invoice 7"))
	r.SetSeverity(log.SeverityWarn)
	_ = audit.OnEmit(ctx, &r)
	fmt.Println("budget in use:", budget.Used() > 0)

	_ = audit.Shutdown(ctx)
	_ = app.Shutdown(ctx)
	fmt.Println("budget in use after shutdown:", budget.Used())
	// Output:
	// budget in use: true
	// exported: user 42 deleted invoice 7
	// budget in use after shutdown: 0
}
