package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// roleFlag, as the first argument, makes the binary run as the service
// under test instead of the orchestrator.
const roleFlag = "-role=service"

// Implementations of the service.
const (
	implSDK       = "sdk"
	implSteadylog = "steadylog"
	implNolog     = "nolog"
)

// seqKey is the attribute holding each record's sequence number, unique
// within one service process, by which the Collector's output is counted.
const seqKey = "seq"

// ServiceReport is what the service writes when it exits.
type ServiceReport struct {
	Impl string `json:"impl"`
	// Emitted counts records handed to the logger (0 for nolog, whose
	// logger is disabled).
	Emitted uint64 `json:"emitted"`
	// Requests counts requests served (the /_stats endpoint excluded).
	Requests uint64 `json:"requests"`
	// CPUNanos is the process's user+system CPU time at exit.
	CPUNanos int64 `json:"cpu_ns"`
	// ShutdownNanos is how long LoggerProvider.Shutdown took; ShutdownErr
	// its error.
	ShutdownNanos int64  `json:"shutdown_ns"`
	ShutdownErr   string `json:"shutdown_err,omitempty"`
	// ErrorsHandled counts errors that reached otel's global error handler.
	ErrorsHandled uint64 `json:"errors_handled"`
	// Stats is steadylog's processor accounting after Shutdown.
	Stats *ProcStats `json:"stats,omitempty"`
	// Exports lists every call to the OTLP exporter (inside the breaker, so
	// calls the breaker refused are not there).
	Exports []ExportCall `json:"exports"`
	// Timeline samples the sequence counter every 20 ms, to map a time
	// window onto the records emitted in it.
	Timeline []SeqSample `json:"timeline"`
	// Samples is the time series taken every -sample interval (none when
	// it is 0), until Shutdown has returned.
	Samples []Sample `json:"samples,omitempty"`
}

// ProcStats is the part of processor.Stats the benchmark reports.
type ProcStats struct {
	Received uint64            `json:"received"`
	Exported uint64            `json:"exported"`
	Dropped  map[string]uint64 `json:"dropped,omitempty"`
	Queued   int               `json:"queued"`
	InFlight int               `json:"in_flight"`
}

// ExportCall is one call to the OTLP exporter.
type ExportCall struct {
	Start   int64 `json:"start"` // Unix ns
	End     int64 `json:"end"`   // Unix ns
	Records int   `json:"n"`
	OK      bool  `json:"ok"`
}

// SeqSample is the number of records emitted by a moment.
type SeqSample struct {
	At  int64  `json:"t"` // Unix ns
	Seq uint64 `json:"seq"`
}

// LiveStats is what GET /_stats answers: the orchestrator reads it when its
// measurement starts and ends.
type LiveStats struct {
	At       int64  `json:"t"`
	CPUNanos int64  `json:"cpu_ns"`
	Seq      uint64 `json:"seq"`
	Requests uint64 `json:"requests"`
}

// countingExporter records every call to the exporter it wraps.
type countingExporter struct {
	sdklog.Exporter
	mu    sync.Mutex
	calls []ExportCall
}

func (c *countingExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	start := time.Now().UnixNano()
	err := c.Exporter.Export(ctx, recs)
	call := ExportCall{Start: start, End: time.Now().UnixNano(), Records: len(recs), OK: err == nil}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	return err
}

func (c *countingExporter) snapshot() []ExportCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ExportCall(nil), c.calls...)
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// serviceMain runs the service: an HTTP server on -listen whose handler logs
// three records per request through slog → otelslog → the processor →
// otlploghttp. It serves until SIGTERM or SIGINT, then shuts the provider
// down within -shutdown-timeout and writes its report to -report.
func serviceMain(args []string) error {
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	impl := fs.String("impl", implSteadylog, "sdk, steadylog or nolog")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	endpoint := fs.String("endpoint", "", "the Collector's OTLP/HTTP host:port")
	report := fs.String("report", "", "write the report (JSON) to this file; stdout when empty")
	shutdownTimeout := fs.Duration("shutdown-timeout", 5*time.Second, "deadline of LoggerProvider.Shutdown")
	sample := fs.Duration("sample", 0, "take a Sample of the processor every this interval (0: none); for sdk, turns on its opt-in metrics to see its queue")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var errorsHandled atomic.Uint64
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { errorsHandled.Add(1) }))

	ctx := context.Background()
	var (
		provider *sdklog.LoggerProvider
		steady   *processor.Processor
		brk      *breaker.Breaker
		sdkM     *sdkMetrics
		counter  *countingExporter
		logger   *slog.Logger
	)
	switch *impl {
	case implNolog:
		logger = slog.New(slog.DiscardHandler)
	case implSDK, implSteadylog:
		if *endpoint == "" {
			return errors.New("-endpoint is required")
		}
		exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(*endpoint), otlploghttp.WithInsecure())
		if err != nil {
			return err
		}
		counter = &countingExporter{Exporter: exp}
		var proc sdklog.Processor
		if *impl == implSDK {
			if *sample > 0 {
				if sdkM, err = enableSDKMetrics(); err != nil {
					return err
				}
			}
			proc = sdklog.NewBatchProcessor(counter)
		} else {
			// As most users run it: a breaker with its defaults, no options.
			brk = breaker.MustNew(breaker.Config{})
			steady, err = processor.New(exporter.MustBreaker(counter, brk))
			if err != nil {
				return err
			}
			proc = steady
		}
		provider = sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
		logger = slog.New(otelslog.NewHandler("service", otelslog.WithLoggerProvider(provider)))
	default:
		return fmt.Errorf("unknown -impl %q", *impl)
	}

	var seq, requests atomic.Uint64
	mux := http.NewServeMux()
	mux.HandleFunc("/_stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(LiveStats{At: time.Now().UnixNano(), CPUNanos: cpuNanos(), Seq: seq.Load(), Requests: requests.Load()})
	})
	mux.HandleFunc("/api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		id := r.PathValue("id")
		logger.LogAttrs(ctx, slog.LevelInfo, "request received",
			slog.Uint64(seqKey, seq.Add(1)-1), slog.String("http.method", r.Method), slog.String("url.path", r.URL.Path))
		// A little work: a lookup keyed by the id.
		h := fnv.New64a()
		_, _ = h.Write([]byte(id))
		sum := h.Sum64()
		logger.LogAttrs(ctx, slog.LevelInfo, "item loaded",
			slog.Uint64(seqKey, seq.Add(1)-1), slog.String("item.id", id), slog.Int("item.size", int(sum%4096)))
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"id":%q,"hash":"%016x","size":%d}`+"\n", id, sum, sum%4096)
		logger.LogAttrs(ctx, slog.LevelInfo, "request completed",
			slog.Uint64(seqKey, seq.Add(1)-1), slog.Int("http.status_code", http.StatusOK),
			slog.Duration("duration", time.Since(start)))
		requests.Add(1)
	})

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	// The timeline of the sequence counter.
	var timeline []SeqSample
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			timeline = append(timeline, SeqSample{At: time.Now().UnixNano(), Seq: seq.Load()})
			select {
			case <-stopSampling:
				timeline = append(timeline, SeqSample{At: time.Now().UnixNano(), Seq: seq.Load()})
				return
			case <-tick.C:
			}
		}
	}()

	var smp *sampler
	if *sample > 0 {
		smp = startSampler(*sample, &seq, steady, brk, sdkM)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Printf("READY %s\n", ln.Addr())

	select {
	case <-sigs:
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	close(stopSampling)
	<-sampled

	rep := ServiceReport{Impl: *impl, Requests: requests.Load(), Timeline: timeline}
	if *impl != implNolog {
		rep.Emitted = seq.Load()
	}
	if provider != nil {
		sctx, cancel := context.WithTimeout(ctx, *shutdownTimeout)
		t0 := time.Now()
		if err := provider.Shutdown(sctx); err != nil {
			rep.ShutdownErr = err.Error()
		}
		rep.ShutdownNanos = int64(time.Since(t0))
		cancel()
	}
	if smp != nil {
		rep.Samples = smp.stop()
	}
	rep.CPUNanos = cpuNanos()
	rep.ErrorsHandled = errorsHandled.Load()
	if counter != nil {
		rep.Exports = counter.snapshot()
	}
	if steady != nil {
		st := steady.Stats()
		ps := &ProcStats{Received: st.Received, Exported: st.Exported, Queued: st.Queued, InFlight: st.InFlight}
		if len(st.Dropped) > 0 {
			ps.Dropped = map[string]uint64{}
			for r, n := range st.Dropped {
				ps.Dropped[string(r)] = n
			}
		}
		rep.Stats = ps
	}
	b, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	if *report == "" {
		_, err = os.Stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(*report, b, 0o644)
}

// itoa is strconv.Itoa, kept short for the load generator's URLs.
func itoa(i int) string { return strconv.Itoa(i) }
