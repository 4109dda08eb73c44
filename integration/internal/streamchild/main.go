// Command streamchild is the application the long-outage test runs as a
// child process: a service logging at a steady rate whose log pipeline is
//
//	log/slog → otelslog → sdklog.LoggerProvider → steadylog processor
//	(WithSpool in -dir, every other option at its default; the default
//	retry budget keeps spooled records through an outage longer than it)
//	→ OTLP/HTTP (otlploghttp with its
//	defaults, as in the README's quick start)
//
// Its records are spoolrecords' (a nested map and a slice among the
// attributes), numbered from 0 by the attribute spoolrecords.SeqKey.
//
// It emits -rate records per second in bursts, one every -tick, until
// SIGUSR1; then it waits until every record is delivered (nothing queued,
// nothing in flight), shuts the provider down and exits. SIGUSR2 (sent
// when the backend is back) marks the records emitted so far: the child
// says when they are all exported — the backlog is delivered — while it
// goes on emitting. The memory it uses is read by the test from /proc,
// not reported here.
//
// Status lines on stdout:
//
//	started                        the first burst is about to be emitted
//	progress {stats JSON}          the processor's Stats, every -progress
//	caught-up N in D               the N records emitted before SIGUSR2 are
//	                               exported, D after it
//	emitted N in D                 emission stopped (SIGUSR1) after N records
//	delivered                      nothing queued or in flight any more
//	final {stats JSON}             the processor's Stats after Shutdown
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/integration/internal/spoolrecords"
	"github.com/steadylog/steadylog/processor"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streamchild:", err)
		os.Exit(1)
	}
}

type config struct {
	dir      string
	logs     string
	rate     int
	tick     time.Duration
	progress time.Duration
	deadline time.Duration
}

func run(args []string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("streamchild", flag.ContinueOnError)
	fs.StringVar(&cfg.dir, "dir", "", "the spool directory")
	fs.StringVar(&cfg.logs, "logs", "", "OTLP/HTTP endpoint for logs, HOST:PORT")
	fs.IntVar(&cfg.rate, "rate", 10_000, "records per second")
	fs.DurationVar(&cfg.tick, "tick", 10*time.Millisecond, "how often a burst is emitted")
	fs.DurationVar(&cfg.progress, "progress", 5*time.Second, "how often the stats are printed")
	fs.DurationVar(&cfg.deadline, "deadline", 3*time.Minute, "how long to wait for delivery after SIGUSR1")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.dir == "" || cfg.logs == "" || cfg.rate <= 0 || cfg.tick <= 0 || cfg.progress <= 0 {
		return errors.New("-dir and -logs are required; -rate, -tick and -progress must be positive")
	}
	// Notified before anything is printed: the test signals once it has
	// read "started".
	stopEmitting := make(chan os.Signal, 1)
	signal.Notify(stopEmitting, syscall.SIGUSR1)
	mark := make(chan os.Signal, 1)
	signal.Notify(mark, syscall.SIGUSR2)

	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(cfg.logs), otlploghttp.WithInsecure())
	if err != nil {
		return err
	}
	p, err := processor.New(exp, processor.WithSpool(cfg.dir))
	if err != nil {
		return err
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(spoolrecords.Resource()), sdklog.WithProcessor(p))

	n, took := emit(cfg, lp, p, stopEmitting, mark, stdout)
	fmt.Fprintf(stdout, "emitted %d in %s\n", n, took)

	end := time.Now().Add(cfg.deadline)
	for st := p.Stats(); st.Queued > 0 || st.InFlight > 0; st = p.Stats() {
		if time.Now().After(end) {
			printStats(stdout, "final", st)
			return fmt.Errorf("not delivered within %v of the end of emission: %v", cfg.deadline, st)
		}
		time.Sleep(10 * time.Millisecond) // polling Stats: the processor offers no delivery notification
	}
	fmt.Fprintln(stdout, "delivered")

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = lp.Shutdown(sctx)
	printStats(stdout, "final", p.Stats())
	return err
}

// emit logs records at cfg.rate until stop, a burst every cfg.tick, and
// returns how many it emitted and for how long. A burst catches up with
// the schedule (rate × time since the start): a tick that comes late — the
// machine is shared — is made up for by the next, so that the rate
// emitted is the rate asked for unless emitting itself cannot keep up,
// which the caller sees in n / took.
//
// After mark, it checks at every burst whether the records emitted before
// the mark are exported, and says so once.
func emit(cfg config, lp *sdklog.LoggerProvider, p *processor.Processor,
	stop, mark <-chan os.Signal, stdout io.Writer) (n int, took time.Duration) {
	loggers := spoolrecords.Loggers(lp)
	ticker := time.NewTicker(cfg.tick)
	defer ticker.Stop()
	progress := time.NewTicker(cfg.progress)
	defer progress.Stop()
	var (
		marked   uint64    // records received before the mark
		markedAt time.Time // zero until the mark, and again once caught up
	)
	fmt.Fprintln(stdout, "started")
	start := time.Now()
	for {
		select {
		case <-stop:
			return n, time.Since(start)
		case <-mark:
			marked, markedAt = p.Stats().Received, time.Now()
		case <-progress.C:
			printStats(stdout, "progress", p.Stats())
		case now := <-ticker.C:
			due := int(float64(cfg.rate) * now.Sub(start).Seconds())
			for ; n < due; n++ {
				spoolrecords.Emit(loggers, n)
			}
			// Records go out oldest first (the spool is read back in
			// order), so once as many are exported as were received
			// before the mark, those are.
			if !markedAt.IsZero() && p.Stats().Exported >= marked {
				fmt.Fprintf(stdout, "caught-up %d in %s\n", marked, time.Since(markedAt))
				markedAt = time.Time{}
			}
		}
	}
}

func printStats(w io.Writer, prefix string, st processor.Stats) {
	b, err := json.Marshal(st)
	if err != nil {
		fmt.Fprintf(w, "%s-error %v\n", prefix, err)
		return
	}
	fmt.Fprintf(w, "%s %s\n", prefix, b)
}
