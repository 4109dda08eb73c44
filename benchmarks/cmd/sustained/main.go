// Command sustained measures sustained throughput: N goroutines log as fast
// as they can for a fixed time into a counting exporter, through each
// processor with its default sizes, and the program prints emitted/s,
// exported/s and the share of records dropped.
//
// A benchmark loop cannot show this: it measures the cost of a call, not
// how much of a flood the processor delivers and how much it silently loses.
//
// Drops for steadylog come from its own Stats; the SDK's BatchProcessor
// keeps no count, so for it they are emitted − exported after Shutdown
// (Shutdown drains the queue, so what is missing then was overwritten).
//
// Usage:
//
//	sustained [-goroutines 2,8,64] [-duration 5s] [-impl sdk,steadylog]
//	          [-path emit|onemit] [-shape small] [-json out.json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

// Emission paths.
const (
	// pathEmit logs through Logger.Emit of an sdklog.LoggerProvider, as an
	// application does.
	pathEmit = "emit"
	// pathOnEmit calls Processor.OnEmit directly: the harshest flood.
	pathOnEmit = "onemit"
)

// errBadFlag wraps every invalid flag value.
var errBadFlag = errors.New("sustained: invalid flag")

type config struct {
	goroutines []int
	duration   time.Duration
	impls      []string
	path       string
	shape      harness.Shape
	jsonPath   string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("sustained", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gs := fs.String("goroutines", "2,8,64", "comma-separated numbers of emitting goroutines")
	dur := fs.Duration("duration", 5*time.Second, "how long each run emits")
	impls := fs.String("impl", "sdk,steadylog", "processors to measure, comma-separated")
	path := fs.String("path", pathEmit, "emission path: emit (Logger.Emit) or onemit (Processor.OnEmit)")
	shape := fs.String("shape", harness.ShapeSmall, "record shape: small, medium or large")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var cfg config
	for _, s := range strings.Split(*gs, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return config{}, fmt.Errorf("%w: -goroutines %q: want positive integers", errBadFlag, *gs)
		}
		cfg.goroutines = append(cfg.goroutines, n)
	}
	if *dur <= 0 {
		return config{}, fmt.Errorf("%w: -duration must be positive, got %v", errBadFlag, *dur)
	}
	cfg.duration = *dur
	var err error
	if cfg.impls, err = harness.ParseImpls(*impls); err != nil {
		return config{}, fmt.Errorf("%w: -impl: %w", errBadFlag, err)
	}
	if *path != pathEmit && *path != pathOnEmit {
		return config{}, fmt.Errorf("%w: -path %q: want emit or onemit", errBadFlag, *path)
	}
	cfg.path = *path
	if cfg.shape, err = harness.ShapeByName(*shape); err != nil {
		return config{}, fmt.Errorf("%w: -shape: %w", errBadFlag, err)
	}
	cfg.jsonPath = *jsonPath
	return cfg, nil
}

// runOne floods one processor from n goroutines for cfg.duration.
func runOne(cfg config, impl string, n int) (harness.Sustained, error) {
	exp := &harness.CountingExporter{}
	p, err := harness.NewProcessor(impl, exp, harness.Config{})
	if err != nil {
		return harness.Sustained{}, err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := lp.Logger("github.com/steadylog/steadylog/benchmarks/sustained")
	apiRec := cfg.shape.APIRecord()
	sdkRec := cfg.shape.SDKRecord()

	var (
		stop    atomic.Bool
		emitted atomic.Uint64
		wg      sync.WaitGroup
		ready   sync.WaitGroup
		begin   = make(chan struct{})
	)
	ctx := context.Background()
	ready.Add(n)
	for range n {
		wg.Go(func() {
			var local uint64
			r := sdkRec.Clone()
			ready.Done()
			<-begin
			for !stop.Load() {
				if cfg.path == pathEmit {
					logger.Emit(ctx, apiRec)
				} else {
					_ = p.OnEmit(ctx, &r)
				}
				local++
			}
			emitted.Add(local)
		})
	}
	ready.Wait()
	start := time.Now()
	close(begin)
	time.Sleep(cfg.duration) // the measurement window itself, not synchronisation
	stop.Store(true)
	window := time.Since(start)
	inWindow := exp.Exported()
	wg.Wait()

	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sStart := time.Now()
	shutErr := lp.Shutdown(sctx)
	res := harness.Sustained{
		Impl:             impl,
		Goroutines:       n,
		Path:             cfg.path,
		Seconds:          window.Seconds(),
		Emitted:          emitted.Load(),
		ExportedInWindow: inWindow,
		ExportedTotal:    exp.Exported(),
		ShutdownSeconds:  time.Since(sStart).Seconds(),
	}
	if shutErr != nil {
		res.ShutdownErr = shutErr.Error()
	}
	if p.CountsDrops() {
		res.Dropped, res.DropReason = p.Dropped()
		res.DropSource = "stats"
	} else {
		res.Dropped = res.Emitted - min(res.Emitted, res.ExportedTotal)
		res.DropSource = "emitted-exported"
	}
	res.Unaccounted = int64(res.Emitted) - int64(res.ExportedTotal) - int64(res.Dropped)
	res.EmittedPerSec = float64(res.Emitted) / window.Seconds()
	res.ExportedPerSec = float64(res.ExportedInWindow) / window.Seconds()
	res.DropPct = harness.Pct(res.Dropped, res.Emitted)
	return res, nil
}

func run(cfg config, stdout io.Writer) ([]harness.Sustained, error) {
	var out []harness.Sustained
	for _, n := range cfg.goroutines {
		for _, impl := range cfg.impls {
			// Start each run from a collected heap so one run's garbage
			// does not bill the next.
			runtime.GC()
			r, err := runOne(cfg, impl, n)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(stdout, "# N=%d %s: %.0f emitted/s, %.0f exported/s, %.1f%% dropped\n",
				n, impl, r.EmittedPerSec, r.ExportedPerSec, r.DropPct)
			out = append(out, r)
		}
	}
	return out, nil
}

func printTable(w io.Writer, rows []harness.Sustained) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "N\timpl\temitted/s\texported/s\tdropped %\tdrop source\tunaccounted\tshutdown\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%.0f\t%.0f\t%.2f\t%s\t%d\t%.3fs\t\n",
			r.Goroutines, r.Impl, r.EmittedPerSec, r.ExportedPerSec, r.DropPct, r.DropSource,
			r.Unaccounted, r.ShutdownSeconds)
	}
	_ = tw.Flush()
}

func main() {
	if err := mainErr(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(2)
	}
}

func mainErr(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "# sustained: path=%s shape=%s duration=%v GOMAXPROCS=%d, default processor sizes\n",
		cfg.path, cfg.shape.Name, cfg.duration, runtime.GOMAXPROCS(0))
	rows, err := run(cfg, stdout)
	if err != nil {
		return err
	}
	printTable(stdout, rows)
	if cfg.jsonPath != "" {
		return harness.WriteJSON(cfg.jsonPath, harness.Report[harness.Sustained]{
			Program: "sustained", Env: harness.CurrentEnv(), Results: rows,
		})
	}
	return nil
}
