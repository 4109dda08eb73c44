// Command graceful is an HTTP service that shuts its logging down in a
// predictable way when Kubernetes (or Ctrl-C) stops it.
//
// Logs go log/slog → otelslog bridge → sdklog.LoggerProvider → steadylog's
// processor → stdoutlog exporter (on stdout). On SIGTERM or SIGINT a
// lifecycle.Manager stops the HTTP server (a cleanup hook), then shuts the
// logging pipeline down with the chosen strategy within the grace period,
// and prints a report on stderr of what was exported and what was dropped. A
// second signal forces an immediate stop.
//
// Try it (in a script too: the binary's own PID, not a job number, and not
// go run's PID, which is not the service's):
//
//	go build -o /tmp/graceful ./examples/graceful
//	/tmp/graceful -addr 127.0.0.1:8080 & pid=$!
//	curl 127.0.0.1:8080/hello
//	curl 127.0.0.1:8080/debug/steadylog   # the processor's Stats, as JSON
//	curl 127.0.0.1:8080/debug/vars        # expvar, with the same under "steadylog"
//	kill -TERM $pid; wait $pid
//
// Flags let you see the strategies at work with a slow or hung exporter:
//
//	-export-delay 50ms   each export takes this long (honouring its context)
//	-export-hang         exports never return (ignoring their context)
//	-grace 25s           the shutdown deadline; keep it below the platform's
//	                     grace period (Kubernetes: 30 s by default)
//	-strategy graceful   immediate, flush, graceful or graceful(SHARE)
package main

import (
	"context"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/lifecycle"
	"github.com/steadylog/steadylog/processor"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "graceful:", err)
		os.Exit(1)
	}
}

type options struct {
	addr           string
	grace          time.Duration
	strategy       lifecycle.Strategy
	exportDelay    time.Duration
	exportHang     bool
	exportInterval time.Duration
	startupLogs    int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("graceful", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	fs.DurationVar(&o.grace, "grace", 25*time.Second, "shutdown deadline; keep it below the platform's grace period")
	fs.TextVar(&o.strategy, "strategy", lifecycle.Graceful, "shutdown strategy: immediate, flush, graceful or graceful(SHARE)")
	fs.DurationVar(&o.exportDelay, "export-delay", 0, "make each export take this long (honouring its context)")
	fs.BoolVar(&o.exportHang, "export-hang", false, "make exports hang for ever, ignoring their context")
	fs.DurationVar(&o.exportInterval, "export-interval", time.Second, "longest time a record waits before export")
	fs.IntVar(&o.startupLogs, "startup-logs", 0, "log records to emit at start-up")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.grace <= 0:
		return o, fmt.Errorf("-grace %v must be positive", o.grace)
	case o.exportDelay < 0:
		return o, fmt.Errorf("-export-delay %v must not be negative", o.exportDelay)
	case o.exportInterval <= 0:
		return o, fmt.Errorf("-export-interval %v must be positive", o.exportInterval)
	case o.startupLogs < 0:
		return o, fmt.Errorf("-startup-logs %d must not be negative", o.startupLogs)
	}
	return o, nil
}

// publishStats guards the expvar.Publish in run.
var publishStats sync.Once

// run is main without the exit, so that the status lines can be checked.
// Status lines go to stderr; stdout carries only the exported records.
func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	m, err := lifecycle.NewManager(lifecycle.WithStrategy(o.strategy), lifecycle.WithTimeout(o.grace))
	if err != nil {
		_ = ln.Close()
		return err
	}

	// The logging pipeline.
	stdoutExp, err := stdoutlog.New(stdoutlog.WithWriter(stdout))
	if err != nil {
		_ = ln.Close()
		return err
	}
	var exp sdklog.Exporter = stdoutExp
	if o.exportDelay > 0 || o.exportHang {
		exp = &troubledExporter{Exporter: stdoutExp, delay: o.exportDelay, hang: o.exportHang, stderr: stderr}
	}
	proc, err := processor.New(exp, processor.WithExportInterval(o.exportInterval))
	if err != nil {
		_ = ln.Close()
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := otelslog.NewLogger("github.com/steadylog/steadylog/examples/graceful", otelslog.WithLoggerProvider(lp))

	// The processor's accounting, published under expvar's global registry.
	// expvar.Publish panics on a name taken twice, so it is done once per
	// process (run is called once by main, but tests may call it again).
	publishStats.Do(func() { expvar.Publish("steadylog", proc.Var()) })

	// The service. The debug endpoints belong on an address only operators
	// reach; they share the service's here to keep the example short.
	mux := http.NewServeMux()
	mux.Handle("/debug/steadylog", proc.StatsHandler())
	mux.Handle("/debug/vars", expvar.Handler()) // importing expvar mounts it on DefaultServeMux only
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "request", slog.String("method", r.Method), slog.String("path", r.URL.Path))
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	// The shutdown: the HTTP server stops first (no new log records), then
	// the pipeline drains within the grace period. Group(lp, proc) makes sure
	// the processor is shut down (and counts its losses) even when the
	// provider is given an already-ended context.
	err = errors.Join(
		m.Register("logs", lifecycle.Group(lp, proc)),
		m.AddHook("http", srv.Shutdown),
		// Hooks run in reverse order of registration, so this one runs first.
		m.AddHook("notice", func(context.Context) error {
			fmt.Fprintln(stderr, "shutting down")
			return nil
		}),
		m.Listen(),
	)
	if err != nil {
		_ = ln.Close()
		_ = m.Shutdown(context.Background())
		m.Stop()
		return err
	}
	defer m.Stop()

	var serveErr error
	serveDone := make(chan struct{})
	go func() {
		serveErr = srv.Serve(ln)
		close(serveDone)
	}()

	for i := range o.startupLogs {
		logger.Info("starting", slog.Int("i", i))
	}
	fmt.Fprintf(stderr, "ready addr=%s strategy=%s grace=%v\n", ln.Addr(), o.strategy, o.grace)

	select {
	case <-m.Done():
	case <-serveDone:
		// http.ErrServerClosed means the http hook ran: the shutdown is under
		// way. Anything else is the server failing on its own: shut down the
		// same way.
		if !errors.Is(serveErr, http.ErrServerClosed) {
			fmt.Fprintln(stderr, "serve:", serveErr)
			_ = m.Shutdown(context.Background())
		}
	}
	report := m.Wait()
	_ = srv.Close() // in case the http hook was abandoned
	<-serveDone
	fmt.Fprintln(stderr, report)
	return report.Err
}

// troubledExporter makes an exporter slow or hung, to show what the
// strategies do when the backend is in trouble.
type troubledExporter struct {
	sdklog.Exporter
	delay  time.Duration
	hang   bool
	stderr io.Writer
	once   sync.Once
}

func (e *troubledExporter) Export(ctx context.Context, recs []sdklog.Record) error {
	if e.hang {
		e.once.Do(func() { fmt.Fprintln(e.stderr, "exporter hung") })
		select {} // ignores ctx on purpose, like a stuck network call
	}
	t := time.NewTimer(e.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return e.Exporter.Export(ctx, recs)
}
