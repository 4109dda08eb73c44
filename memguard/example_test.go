package memguard_test

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/memguard"
)

// budgetProcessor admits a record only if its size fits in a shared budget.
// A real processor would queue the admitted clone and Release its size once
// the record has been exported.
type budgetProcessor struct {
	budget *memguard.Budget
	sizes  []int64
}

func (p *budgetProcessor) OnEmit(_ context.Context, r *sdklog.Record) error {
	size := memguard.RecordSize(r)
	if !p.budget.TryAcquire(size) {
		fmt.Println("dropped a record of more than 100 KiB:", size > 100<<10)
		return nil
	}
	p.sizes = append(p.sizes, size)
	return nil
}

func (p *budgetProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }
func (p *budgetProcessor) Shutdown(context.Context) error                         { return nil }
func (p *budgetProcessor) ForceFlush(context.Context) error                       { return nil }

func ExampleRecordSize() {
	budget, err := memguard.NewBudget(64 << 10)
	if err != nil {
		panic(err)
	}
	p := &budgetProcessor{budget: budget}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	defer func() { _ = provider.Shutdown(context.Background()) }()
	logger := provider.Logger("example")

	emit := func(body string, attrs ...attribute.KeyValue) {
		var r log.Record
		r.SetBody(attribute.StringValue(body))
		r.AddAttributes(attrs...)
		logger.Emit(context.Background(), r)
	}
	emit("user logged in", attribute.String("user.id", "u-42"))
	emit(strings.Repeat("stack frame\n", 400)) // a 4.8 KB body
	emit(strings.Repeat("x", 100<<10))         // larger than the whole budget

	small, large := p.sizes[0], p.sizes[1]
	fmt.Println("large > small:", large > small)
	fmt.Println("large counts its body:", large-small > 4800)
	fmt.Println("budget used matches:", budget.Used() == small+large)
	// Output:
	// dropped a record of more than 100 KiB: true
	// large > small: true
	// large counts its body: true
	// budget used matches: true
}

func ExampleBudget() {
	// One budget shared by every processor of the program.
	budget, err := memguard.NewBudget(1000)
	if err != nil {
		panic(err)
	}
	fmt.Println(budget.TryAcquire(600)) // a 600-byte record is queued
	fmt.Println(budget.TryAcquire(600)) // the next one does not fit
	budget.Release(600)                 // the first was exported
	fmt.Println(budget.TryAcquire(600), budget.Used(), budget.Limit())

	_, err = memguard.NewBudget(0)
	fmt.Println(err)
	// Output:
	// true
	// false
	// true 600 1000
	// steadylog/memguard: limit must be positive: budget limit 0
}

func ExampleHeapMonitor() {
	// Measure against 1 PiB instead of GOMEMLIMIT, so that the output is
	// stable; a program would usually rely on GOMEMLIMIT.
	m, err := memguard.NewHeapMonitor(
		memguard.WithLimit(1<<50),
		memguard.WithThreshold(0.9),
	)
	if err != nil {
		panic(err)
	}
	// On the hot path: shed optional work when the heap is near the limit.
	if m.High() {
		fmt.Println("shedding debug records")
	} else {
		fmt.Println("pressure is fine:", m.Pressure() < 0.9)
	}

	_, err = memguard.NewHeapMonitor(memguard.WithThreshold(1.5))
	fmt.Println(err)
	// Output:
	// pressure is fine: true
	// steadylog/memguard: invalid option: WithThreshold(1.5): must be within [0, 1]
}
