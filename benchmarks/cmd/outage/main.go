// Command outage runs the collector-outage scenario through the SDK's
// BatchProcessor and through steadylog (processor + exporter.NewBreaker)
// side by side: the backend refuses connections for a while, records keep
// coming at a steady rate, then the backend recovers.
//
// It reports, for each: records delivered (distinct) and duplicated,
// records lost, calls made to the dead backend, and the time from
// recovery until everything emitted during the outage was delivered.
//
//	go run ./benchmarks/cmd/outage -outage 2s -after 2s -rate 1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/breaker"
	"github.com/steadylog/steadylog/exporter"
	"github.com/steadylog/steadylog/processor"
)

// Result is one processor's outcome.
type Result struct {
	Impl         string        `json:"impl"`
	Emitted      int           `json:"emitted"`
	Delivered    int           `json:"delivered"`
	Duplicates   int           `json:"duplicates"`
	Lost         int           `json:"lost"`
	OutageCalls  int           `json:"outage_calls"`
	Recovered    bool          `json:"recovered"`
	RecoveryTime time.Duration `json:"recovery_ns"`
}

type settings struct {
	outage, after time.Duration
	rate          int
	queue         int
}

func main() {
	var s settings
	flag.DurationVar(&s.outage, "outage", 2*time.Second, "how long the backend refuses connections")
	flag.DurationVar(&s.after, "after", 2*time.Second, "how long records keep coming after recovery")
	flag.IntVar(&s.rate, "rate", 1000, "records per second")
	flag.IntVar(&s.queue, "queue", 10000, "queue size for both processors (large enough for the outage)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Parse()
	// The SDK reports each failed export through the global handler; the
	// table says what matters.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	if err := run(s, *jsonOut, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "outage:", err)
		os.Exit(1)
	}
}

func run(s settings, jsonOut string, w io.Writer) error {
	if s.outage <= 0 || s.after < 0 || s.rate <= 0 || s.queue <= 0 {
		return errors.New("want -outage > 0, -after >= 0, -rate > 0, -queue > 0")
	}
	var results []Result
	for _, impl := range []string{"sdk", "steadylog"} {
		r, err := scenario(impl, s)
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "impl\temitted\tdelivered\tduplicates\tlost\tcalls during outage\trecovery\t\n")
	for _, r := range results {
		rec := "never"
		if r.Recovered {
			rec = r.RecoveryTime.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.Impl, r.Emitted, r.Delivered, r.Duplicates, r.Lost, r.OutageCalls, rec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if jsonOut != "" {
		b, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(jsonOut, b, 0o644)
	}
	return nil
}

// backend refuses connections until `until`, then records what it gets.
type backend struct {
	until time.Time

	mu          sync.Mutex
	outageCalls int
	seen        map[int]int
	// target, when positive, is the number of distinct records whose
	// delivery marks recovery; reached is closed then.
	target     int
	reached    chan struct{}
	reachedAt  time.Time
	closedOnce bool
}

func (b *backend) Export(_ context.Context, recs []sdklog.Record) error {
	if time.Now().Before(b.until) {
		b.mu.Lock()
		b.outageCalls++
		b.mu.Unlock()
		return fmt.Errorf("dial tcp 127.0.0.1:4318: %w", syscall.ECONNREFUSED)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range recs {
		n, _ := strconv.Atoi(recs[i].Body().AsString())
		b.seen[n]++
	}
	b.check()
	return nil
}

// deliveredBelow counts distinct records with a sequence number < n.
func (b *backend) deliveredBelow(n int) int {
	c := 0
	for seq := range b.seen {
		if seq < n {
			c++
		}
	}
	return c
}

// arm sets the number of records emitted during the outage, whose
// delivery marks recovery. It reports false when there is nothing to arm.
func (b *backend) arm(n int) bool {
	if n <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.target = n
	b.check()
	return true
}

// check closes reached once every record below target was delivered.
// b.mu is held.
func (b *backend) check() {
	if b.target > 0 && !b.closedOnce && b.deliveredBelow(b.target) == b.target {
		b.closedOnce = true
		b.reachedAt = time.Now()
		close(b.reached)
	}
}

func (b *backend) ForceFlush(context.Context) error { return nil }
func (b *backend) Shutdown(context.Context) error   { return nil }

func scenario(impl string, s settings) (Result, error) {
	start := time.Now()
	be := &backend{until: start.Add(s.outage), seen: map[int]int{}, reached: make(chan struct{})}
	var proc sdklog.Processor
	switch impl {
	case "sdk":
		proc = sdklog.NewBatchProcessor(be, sdklog.WithMaxQueueSize(s.queue))
	case "steadylog":
		b := breaker.MustNew(breaker.Config{ConsecutiveFailures: 3, OpenTimeout: 500 * time.Millisecond})
		p, err := processor.New(exporter.MustBreaker(be, b), processor.WithMaxQueueSize(s.queue),
			processor.WithErrorHandler(func(error) {}), processor.WithoutDropAlerts())
		if err != nil {
			return Result{}, err
		}
		proc = p
	}
	provider := sdklog.NewLoggerProvider(sdklog.WithProcessor(proc))
	logger := provider.Logger("outage")

	interval := time.Second / time.Duration(s.rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	emitted, duringOutage := 0, 0
	end := be.until.Add(s.after)
	for now := time.Now(); now.Before(end); now = <-tick.C {
		var r log.Record
		r.SetBody(attribute.StringValue(strconv.Itoa(emitted)))
		r.SetSeverity(log.SeverityInfo)
		logger.Emit(context.Background(), r)
		emitted++
		if now.Before(be.until) {
			duringOutage = emitted
		} else if armed := be.arm(duringOutage); armed {
			duringOutage = -1
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = provider.ForceFlush(ctx)
	_ = provider.Shutdown(ctx)

	res := Result{Impl: impl, Emitted: emitted}
	be.mu.Lock()
	defer be.mu.Unlock()
	res.OutageCalls = be.outageCalls
	for _, n := range be.seen {
		res.Delivered++
		res.Duplicates += n - 1
	}
	res.Lost = emitted - res.Delivered
	if be.closedOnce {
		res.Recovered = true
		res.RecoveryTime = be.reachedAt.Sub(be.until)
	}
	return res, nil
}
