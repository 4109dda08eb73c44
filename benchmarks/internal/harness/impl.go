package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/processor"
)

// Implementation names, the values of the impl= key in benchmark names.
const (
	// ImplNoop is a processor that does nothing; the full-path benchmarks
	// subtract it to isolate a processor's share of a call.
	ImplNoop = "noop"
	// ImplSDK is the OTel Go SDK's sdklog.BatchProcessor with its defaults.
	ImplSDK = "sdk"
	// ImplSteadylog is steadylog's processor.Processor with its defaults,
	// which include the process-wide heap monitor (heap-pressure shedding
	// near GOMEMLIMIT).
	ImplSteadylog = "steadylog"
	// ImplSteadylogNoHeap is steadylog's processor with
	// processor.WithoutHeapMonitor: its byte bound is the only limit, however
	// close the heap is to GOMEMLIMIT.
	ImplSteadylogNoHeap = "steadylog-noheap"
)

// Impls lists every implementation name NewProcessor and ParseImpls
// accept.
func Impls() []string { return []string{ImplNoop, ImplSDK, ImplSteadylog, ImplSteadylogNoHeap} }

// IsSteadylog reports whether impl is one of steadylog's variants, which
// take the steadylog-only settings of Config.
func IsSteadylog(impl string) bool { return impl == ImplSteadylog || impl == ImplSteadylogNoHeap }

// ErrUnknownImpl is returned for an implementation name that is not one of
// Impls.
var ErrUnknownImpl = errors.New("harness: unknown processor implementation")

// wantImpls is the list of valid names for error messages.
var wantImpls = "want " + strings.Join(Impls(), ", ")

// Compared lists the two processors under comparison, baseline first.
func Compared() []string { return []string{ImplSDK, ImplSteadylog} }

// Config adjusts a processor away from its defaults. The zero Config means
// defaults for both, which is what every comparison uses unless it says
// otherwise.
type Config struct {
	// MaxQueueBytes, when positive, bounds steadylog's queue in bytes
	// (processor.WithMaxQueueBytes). The SDK has no byte bound and ignores
	// it.
	MaxQueueBytes int64
	// ShedBelow, when set, makes steadylog shed records below this
	// severity at the source while back-pressure is raised
	// (processor.WithShedBelow). The SDK ignores it.
	ShedBelow log.Severity
}

// Instance is a running processor together with what the measurements need
// to know about it.
type Instance struct {
	sdklog.Processor
	// Impl is the implementation name.
	Impl string

	stats func() (dropped uint64, byReason map[string]uint64)
}

// CountsDrops reports whether the processor keeps its own drop count
// (steadylog does; the SDK's BatchProcessor does not expose one).
func (i *Instance) CountsDrops() bool { return i.stats != nil }

// Dropped returns the processor's own count of dropped records and the
// count per reason. Both are zero when CountsDrops is false.
func (i *Instance) Dropped() (uint64, map[string]uint64) {
	if i.stats == nil {
		return 0, nil
	}
	return i.stats()
}

// Steadylog returns the steadylog processor behind the instance, for its
// Stats, or false for another implementation.
func (i *Instance) Steadylog() (*processor.Processor, bool) {
	p, ok := i.Processor.(*processor.Processor)
	return p, ok
}

// NewProcessor builds the processor called impl in front of exp.
func NewProcessor(impl string, exp sdklog.Exporter, cfg Config) (*Instance, error) {
	switch impl {
	case ImplNoop:
		return &Instance{Processor: NoopProcessor{}, Impl: impl}, nil
	case ImplSDK:
		return &Instance{Processor: sdklog.NewBatchProcessor(exp), Impl: impl}, nil
	case ImplSteadylog, ImplSteadylogNoHeap:
		// Drop alerts would write to stderr in the middle of benchmark
		// output; the measurements read the drops from Stats instead.
		opts := []processor.Option{processor.WithoutDropAlerts()}
		if cfg.MaxQueueBytes > 0 {
			opts = append(opts, processor.WithMaxQueueBytes(cfg.MaxQueueBytes))
		}
		if cfg.ShedBelow != 0 {
			opts = append(opts, processor.WithShedBelow(cfg.ShedBelow))
		}
		if impl == ImplSteadylogNoHeap {
			opts = append(opts, processor.WithoutHeapMonitor())
		}
		p, err := processor.New(exp, opts...)
		if err != nil {
			return nil, fmt.Errorf("harness: steadylog processor: %w", err)
		}
		return &Instance{Processor: p, Impl: impl, stats: func() (uint64, map[string]uint64) {
			s := p.Stats()
			by := make(map[string]uint64, len(s.Dropped))
			for reason, n := range s.Dropped {
				if n > 0 {
					by[string(reason)] = n
				}
			}
			return s.TotalDropped(), by
		}}, nil
	default:
		return nil, fmt.Errorf("%w: %q (%s)", ErrUnknownImpl, impl, wantImpls)
	}
}

// ParseImpls splits a comma-separated list of implementation names, as the
// programs' -impl flags take it, and checks each name.
func ParseImpls(list string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(Impls(), name) {
			return nil, fmt.Errorf("%w: %q (%s)", ErrUnknownImpl, name, wantImpls)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty list", ErrUnknownImpl)
	}
	return out, nil
}

// NoopProcessor accepts every record and does nothing with it. Measuring a
// full logging call with it gives the cost of everything but the processor.
type NoopProcessor struct{}

var _ sdklog.Processor = NoopProcessor{}

// Enabled reports true so that bridges do the same work as with a real
// processor.
func (NoopProcessor) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

// OnEmit does nothing.
func (NoopProcessor) OnEmit(context.Context, *sdklog.Record) error { return nil }

// Shutdown does nothing.
func (NoopProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing.
func (NoopProcessor) ForceFlush(context.Context) error { return nil }
