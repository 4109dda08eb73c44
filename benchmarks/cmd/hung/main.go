// Command hung measures what a logging call costs while the exporter hangs:
// every Export blocks for 2 s ignoring its context, as an endpoint that
// accepts connections and never answers does. 8 goroutines call OnEmit at a
// steady total rate (50,000 records/s) for 10 s, timing every call, and the
// program prints p50, p99, p99.9 and the maximum for each processor, the
// share of records lost, and how long Shutdown takes with a deadline while
// the exporter is still hung.
//
// A logging call must never wait for the network; this shows whether one
// does, at a realistic rate rather than a benchmark's flood.
//
// Usage:
//
//	hung [-goroutines 8] [-rate 50000] [-duration 10s] [-hold 2s]
//	     [-shutdown-timeout 2s] [-impl sdk,steadylog] [-json out.json]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

// errBadFlag wraps every invalid flag value.
var errBadFlag = errors.New("hung: invalid flag")

type config struct {
	goroutines      int
	rate            float64
	duration        time.Duration
	hold            time.Duration
	shutdownTimeout time.Duration
	impls           []string
	jsonPath        string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("hung", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	fs.IntVar(&cfg.goroutines, "goroutines", 8, "emitting goroutines")
	fs.Float64Var(&cfg.rate, "rate", 50000, "target records per second over all goroutines")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to emit")
	fs.DurationVar(&cfg.hold, "hold", 2*time.Second, "how long each Export blocks")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 2*time.Second,
		"deadline given to Shutdown while the exporter still hangs")
	impls := fs.String("impl", "sdk,steadylog", "processors to measure, comma-separated")
	fs.StringVar(&cfg.jsonPath, "json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var err error
	if cfg.impls, err = harness.ParseImpls(*impls); err != nil {
		return config{}, fmt.Errorf("%w: -impl: %w", errBadFlag, err)
	}
	switch {
	case cfg.goroutines < 1:
		return config{}, fmt.Errorf("%w: -goroutines must be at least 1, got %d", errBadFlag, cfg.goroutines)
	case cfg.rate <= 0:
		return config{}, fmt.Errorf("%w: -rate must be positive, got %v", errBadFlag, cfg.rate)
	case cfg.duration <= 0:
		return config{}, fmt.Errorf("%w: -duration must be positive, got %v", errBadFlag, cfg.duration)
	case cfg.hold < 0:
		return config{}, fmt.Errorf("%w: -hold must not be negative, got %v", errBadFlag, cfg.hold)
	case cfg.shutdownTimeout <= 0:
		return config{}, fmt.Errorf("%w: -shutdown-timeout must be positive, got %v", errBadFlag, cfg.shutdownTimeout)
	}
	return cfg, nil
}

// pace is how often a goroutine checks how many records it owes; records
// due are emitted back to back, so timer slack does not lower the rate.
const pace = 500 * time.Microsecond

func runOne(cfg config, impl string) (harness.Hung, error) {
	exp := harness.NewHungExporter(cfg.hold)
	// Let a blocked Export go however this run ends.
	defer exp.Release()
	p, err := harness.NewProcessor(impl, exp, harness.Config{})
	if err != nil {
		return harness.Hung{}, err
	}
	shape, err := harness.ShapeByName(harness.ShapeSmall)
	if err != nil {
		return harness.Hung{}, err
	}
	rec := shape.SDKRecord()
	perG := cfg.rate / float64(cfg.goroutines)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		all     harness.Histogram
		emitted uint64
	)
	ctx := context.Background()
	start := time.Now()
	end := start.Add(cfg.duration)
	for range cfg.goroutines {
		wg.Go(func() {
			r := rec.Clone()
			h := new(harness.Histogram)
			var sent uint64
			for {
				now := time.Now()
				if !now.Before(end) {
					break
				}
				due := uint64(now.Sub(start).Seconds() * perG)
				if due <= sent {
					time.Sleep(pace) // pacing the load, not synchronising
					continue
				}
				for ; sent < due; sent++ {
					t0 := time.Now()
					_ = p.OnEmit(ctx, &r)
					h.Record(time.Since(t0))
				}
			}
			mu.Lock()
			all.Merge(h)
			emitted += sent
			mu.Unlock()
		})
	}
	wg.Wait()
	window := time.Since(start)

	// Shut down while the exporter still hangs: a deadline must be kept.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	sStart := time.Now()
	shutErr := p.Shutdown(sctx)
	res := harness.Hung{
		Impl:            impl,
		Goroutines:      cfg.goroutines,
		Rate:            cfg.rate,
		Seconds:         window.Seconds(),
		HoldMS:          float64(cfg.hold) / 1e6,
		ShutdownSeconds: time.Since(sStart).Seconds(),
		Emitted:         emitted,
		Exported:        exp.Exported(),
		P50NS:           float64(all.Quantile(0.50)),
		P99NS:           float64(all.Quantile(0.99)),
		P999NS:          float64(all.Quantile(0.999)),
		MaxNS:           float64(all.Max()),
		MeanNS:          float64(all.Mean()),
		CountsDrops:     p.CountsDrops(),
	}
	if shutErr != nil {
		res.ShutdownErr = shutErr.Error()
	}
	res.LostPct = harness.Pct(res.Emitted-min(res.Emitted, res.Exported), res.Emitted)
	res.Dropped, _ = p.Dropped()
	return res, nil
}

func printTable(w io.Writer, rows []harness.Hung) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\temitted\tp50\tp99\tp99.9\tmax\tlost %\tcounted drops\tshutdown\tshutdown error\t")
	for _, r := range rows {
		counted := "-"
		if r.CountsDrops {
			counted = fmt.Sprint(r.Dropped)
		}
		fmt.Fprintf(tw, "%s\t%d\t%v\t%v\t%v\t%v\t%.2f\t%s\t%.3fs\t%s\t\n",
			r.Impl, r.Emitted, time.Duration(r.P50NS), time.Duration(r.P99NS), time.Duration(r.P999NS),
			time.Duration(r.MaxNS), r.LostPct, counted, r.ShutdownSeconds, r.ShutdownErr)
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
	fmt.Fprintf(stdout, "# hung: %d goroutines, %.0f records/s, %v, each Export blocks %v, GOMAXPROCS=%d\n",
		cfg.goroutines, cfg.rate, cfg.duration, cfg.hold, runtime.GOMAXPROCS(0))
	var rows []harness.Hung
	for _, impl := range cfg.impls {
		runtime.GC()
		r, err := runOne(cfg, impl)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	printTable(stdout, rows)
	if cfg.jsonPath != "" {
		return harness.WriteJSON(cfg.jsonPath, harness.Report[harness.Hung]{
			Program: "hung", Env: harness.CurrentEnv(), Results: rows,
		})
	}
	return nil
}
