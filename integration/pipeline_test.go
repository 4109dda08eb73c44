package integration

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/integration/harness"
)

// transport selects the OTLP exporter.
type transport string

const (
	overHTTP transport = "otlploghttp"
	overGRPC transport = "otlploggrpc"
)

// newOTLPExporter returns an exporter of the given kind aimed at col, insecure,
// otherwise with the exporter's defaults (timeouts, retries, compression).
func newOTLPExporter(ctx context.Context, t *testing.T, kind transport, col *harness.Collector) sdklog.Exporter {
	t.Helper()
	var (
		exp sdklog.Exporter
		err error
	)
	switch kind {
	case overHTTP:
		exp, err = otlploghttp.New(ctx, otlploghttp.WithEndpoint(col.HTTPAddr), otlploghttp.WithInsecure())
	case overGRPC:
		exp, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(col.GRPCAddr), otlploggrpc.WithInsecure())
	default:
		t.Fatalf("unknown transport %q", kind)
	}
	require.NoError(t, err)
	return exp
}

// newSlog wires the application side the way users do: log/slog through the
// otelslog bridge into a LoggerProvider with the given processor.
func newSlog(p sdklog.Processor) (*slog.Logger, *sdklog.LoggerProvider) {
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	return otelslog.NewLogger("steadylog-integration", otelslog.WithLoggerProvider(provider)), provider
}

// emitRecord logs one record carrying its sequence number under seqKey, with
// a realistic handful of attributes.
func emitRecord(ctx context.Context, logger *slog.Logger, seq int) {
	logger.InfoContext(ctx, "request served",
		slog.Int(seqKey, seq),
		slog.String("http.route", "/api/v1/orders/{id}"),
		slog.Int("http.status_code", 200),
		slog.Float64("duration_ms", 12.5),
	)
}

// emitPaced emits perTick records every tick until stop closes or ctx
// ends, numbering them from 0 and, when emitted is not nil, counting them
// there as they go.
func emitPaced(ctx context.Context, logger *slog.Logger, tick time.Duration, perTick int,
	emitted *atomic.Int64, stop <-chan struct{}) {
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for seq := 0; ; {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for range perTick {
			emitRecord(ctx, logger, seq)
			seq++
			if emitted != nil {
				emitted.Store(int64(seq))
			}
		}
	}
}

// emitParallel emits records [0, n) from workers goroutines, each a disjoint
// stride of sequence numbers, and waits for them.
func emitParallel(ctx context.Context, logger *slog.Logger, n, workers int) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for seq := w; seq < n; seq += workers {
				emitRecord(ctx, logger, seq)
			}
		})
	}
	wg.Wait()
}

// errorCounter is a processor error handler that counts errors and keeps the
// first few distinct messages for the test log, instead of flooding stderr.
type errorCounter struct {
	n     atomic.Int64
	mu    sync.Mutex
	first []string
}

func (e *errorCounter) handle(err error) {
	e.n.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.first) < 3 {
		e.first = append(e.first, err.Error())
	}
}

func (e *errorCounter) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fmt.Sprintf("%d errors; first: %s", e.n.Load(), strings.Join(e.first, " | "))
}
