// Command memory measures the peak resident memory of a logging pipeline
// flooded with 1 MiB records while its exporter takes 100 ms per batch —
// the case where a queue bounded only by record count holds gigabytes.
//
// Each processor runs in its own child process (the program re-executes
// itself with -child), because the kernel's peak (VmHWM) never goes down: two
// processors measured in one process would share one peak. The parent prints
// a table of the children's results.
//
// steadylog runs with WithMaxQueueBytes (64 MiB unless -max-queue-bytes says
// otherwise); the SDK's BatchProcessor runs with its defaults, as it has no
// byte bound. Every record carries a freshly allocated body, as real log
// messages do; a shared body would cost nothing to queue.
//
// The impl steadylog has the default heap monitor, which sheds down to a
// quarter of the byte bound while the heap is at 85% of GOMEMLIMIT or more
// (drop reason heap_pressure); steadylog-noheap is the same processor with
// processor.WithoutHeapMonitor. -gomemlimit sets GOMEMLIMIT in every child's
// environment (the parent's own is left alone), so that
//
//	memory -impl sdk,steadylog-noheap,steadylog -gomemlimit 160MiB
//
// compares the three under one memory limit. Without -gomemlimit the
// children inherit the parent's environment, GOMEMLIMIT included.
//
// As a guard for shared machines a child stops early, and says so, when its
// resident set passes -abort-rss.
//
// Usage:
//
//	memory [-duration 10s] [-body 1MiB] [-delay 100ms] [-producers 2]
//	       [-impl sdk,steadylog] [-max-queue-bytes 67108864]
//	       [-gomemlimit 160MiB] [-json out.json]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
	"github.com/steadylog/steadylog/processor"
)

// resultPrefix marks the child's result line on its standard output.
const resultPrefix = "MEMORY-RESULT "

var (
	// errBadFlag wraps every invalid flag value.
	errBadFlag = errors.New("memory: invalid flag")
	// errNoResult is returned when a child exits without a result line.
	errNoResult = errors.New("memory: child printed no result")
)

type config struct {
	child         string
	impls         []string
	duration      time.Duration
	bodyBytes     int
	delay         time.Duration
	producers     int
	maxQueueBytes int64
	abortRSS      int64
	// goMemLimit is the GOMEMLIMIT value given to the children; "" leaves
	// their environment as the parent's.
	goMemLimit string
	jsonPath   string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("memory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	child := fs.String("child", "", "internal: run one processor in this process and print its result")
	impls := fs.String("impl", "sdk,steadylog", "processors to measure, comma-separated")
	dur := fs.Duration("duration", 10*time.Second, "how long the producers emit")
	body := fs.Int("body", 1<<20, "body size of each record in bytes")
	delay := fs.Duration("delay", 100*time.Millisecond, "time each Export takes")
	producers := fs.Int("producers", 2, "emitting goroutines")
	mqb := fs.Int64("max-queue-bytes", 64<<20, "steadylog's WithMaxQueueBytes")
	abort := fs.Int64("abort-rss", 8<<30, "a child stops early when its resident set passes this many bytes")
	memLimit := fs.String("gomemlimit", "", "set GOMEMLIMIT to this value (e.g. 160MiB, or off) in each child's environment")
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	cfg := config{
		child: *child, duration: *dur, bodyBytes: *body, delay: *delay, producers: *producers,
		maxQueueBytes: *mqb, abortRSS: *abort, goMemLimit: *memLimit, jsonPath: *jsonPath,
	}
	var err error
	if cfg.impls, err = harness.ParseImpls(*impls); err != nil {
		return config{}, fmt.Errorf("%w: -impl: %w", errBadFlag, err)
	}
	if cfg.child != "" {
		if _, err := harness.ParseImpls(cfg.child); err != nil || strings.Contains(cfg.child, ",") {
			return config{}, fmt.Errorf("%w: -child %q: want one of %s", errBadFlag, cfg.child,
				strings.Join(harness.Impls(), ", "))
		}
	}
	if cfg.goMemLimit != "" {
		if _, err := parseMemLimit(cfg.goMemLimit); err != nil {
			return config{}, fmt.Errorf("%w: -gomemlimit: %w", errBadFlag, err)
		}
	}
	switch {
	case cfg.duration <= 0:
		return config{}, fmt.Errorf("%w: -duration must be positive, got %v", errBadFlag, cfg.duration)
	case cfg.bodyBytes <= 0:
		return config{}, fmt.Errorf("%w: -body must be positive, got %d", errBadFlag, cfg.bodyBytes)
	case cfg.delay < 0:
		return config{}, fmt.Errorf("%w: -delay must not be negative, got %v", errBadFlag, cfg.delay)
	case cfg.producers < 1:
		return config{}, fmt.Errorf("%w: -producers must be at least 1, got %d", errBadFlag, cfg.producers)
	case cfg.maxQueueBytes <= 0:
		return config{}, fmt.Errorf("%w: -max-queue-bytes must be positive, got %d", errBadFlag, cfg.maxQueueBytes)
	case cfg.abortRSS <= 0:
		return config{}, fmt.Errorf("%w: -abort-rss must be positive, got %d", errBadFlag, cfg.abortRSS)
	}
	return cfg, nil
}

// memUnits are the suffixes GOMEMLIMIT accepts, as the runtime parses it.
var memUnits = []struct {
	suffix string
	shift  uint
}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}

// parseMemLimit checks a GOMEMLIMIT value the way the runtime reads it — a
// non-negative integer with an optional unit B, KiB, MiB, GiB or TiB, or
// "off" — and returns it in bytes (math.MaxInt64 for off). A value the
// runtime rejected would make every child fail at start.
func parseMemLimit(s string) (int64, error) {
	if s == "off" {
		return math.MaxInt64, nil
	}
	num, shift := s, uint(0)
	for _, u := range memUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			num, shift = n, u.shift
			break
		}
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || num == "" || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q: want a byte count with an optional unit B, KiB, MiB, GiB or TiB, or off", s)
	}
	return int64(n << shift), nil
}

// withMemLimit returns env with GOMEMLIMIT set to limit, replacing any value
// it had; an empty limit returns env unchanged.
func withMemLimit(env []string, limit string) []string {
	if limit == "" {
		return env
	}
	out := slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "GOMEMLIMIT=") })
	return append(out, "GOMEMLIMIT="+limit)
}

// childArgs are the flags a child gets: the parent's settings and its impl.
func (c config) childArgs(impl string) []string {
	return []string{
		"-child", impl,
		"-duration", c.duration.String(),
		"-body", strconv.Itoa(c.bodyBytes),
		"-delay", c.delay.String(),
		"-producers", strconv.Itoa(c.producers),
		"-max-queue-bytes", strconv.FormatInt(c.maxQueueBytes, 10),
		"-abort-rss", strconv.FormatInt(c.abortRSS, 10),
	}
}

// runChild floods one processor and returns its peak RSS.
func runChild(cfg config) harness.Memory {
	res := harness.Memory{
		Impl: cfg.child, BodyBytes: cfg.bodyBytes, ExportDelayMS: float64(cfg.delay) / 1e6,
		Producers: cfg.producers,
	}
	if limit := debug.SetMemoryLimit(-1); limit != math.MaxInt64 {
		res.MemLimitBytes = limit
	}
	pcfg := harness.Config{}
	if harness.IsSteadylog(cfg.child) {
		pcfg.MaxQueueBytes = cfg.maxQueueBytes
		res.MaxQueueBytes = cfg.maxQueueBytes
	}
	exp := &harness.SlowExporter{Delay: cfg.delay}
	p, err := harness.NewProcessor(cfg.child, exp, pcfg)
	if err != nil {
		res.Err = err.Error()
		return res
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(p))
	logger := lp.Logger("github.com/steadylog/steadylog/benchmarks/memory")
	template := harness.LargeBody(cfg.bodyBytes)

	var (
		stop    atomic.Bool
		emitted atomic.Uint64
		wg      sync.WaitGroup
		aborted atomic.Value // string
	)
	ctx := context.Background()
	start := time.Now()
	for range cfg.producers {
		wg.Go(func() {
			var n uint64
			for !stop.Load() {
				var r log.Record
				r.SetSeverity(log.SeverityInfo)
				// A fresh copy per record: each message owns its memory.
				r.SetBody(attribute.StringValue(strings.Clone(template)))
				r.AddAttributes(attribute.Int("seq", int(n)))
				logger.Emit(ctx, r)
				n++
			}
			emitted.Add(n)
		})
	}
	// The guard samples the resident set; the window ends at the deadline
	// or when the guard trips, whichever comes first.
	deadline := time.NewTimer(cfg.duration)
	tick := time.NewTicker(20 * time.Millisecond)
watch:
	for {
		select {
		case <-deadline.C:
			break watch
		case <-tick.C:
			if rss, err := harness.CurrentRSS(); err == nil && rss > cfg.abortRSS {
				aborted.Store(fmt.Sprintf("resident set %d MiB passed -abort-rss %d MiB",
					rss>>20, cfg.abortRSS>>20))
				break watch
			}
		}
	}
	deadline.Stop()
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	if peak, err := harness.PeakRSS(); err != nil {
		res.Err = err.Error()
	} else {
		res.PeakRSSBytes = peak
	}
	if a, ok := aborted.Load().(string); ok {
		res.Aborted, res.AbortReason = true, a
	}

	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := lp.Shutdown(sctx); err != nil && res.Err == "" {
		res.Err = "shutdown: " + err.Error()
	}
	res.Emitted = emitted.Load()
	res.Exported = exp.Exported()
	if p.CountsDrops() {
		res.CountsDrops = true
		res.Dropped, res.DropReason = p.Dropped()
		res.DropPct = harness.Pct(res.Dropped, res.Emitted)
	} else {
		res.DropPct = harness.Pct(res.Emitted-min(res.Emitted, res.Exported), res.Emitted)
	}
	return res
}

// parseChildOutput finds the result line in a child's standard output.
func parseChildOutput(out []byte) (harness.Memory, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), resultPrefix)
		if !ok {
			continue
		}
		var m harness.Memory
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return harness.Memory{}, fmt.Errorf("memory: bad result line: %w", err)
		}
		return m, nil
	}
	return harness.Memory{}, errNoResult
}

// runParent runs one child per processor, one after the other, so their
// peaks neither mix nor compete for memory.
func runParent(cfg config, self string, env []string, stdout io.Writer) ([]harness.Memory, error) {
	var rows []harness.Memory
	for _, impl := range cfg.impls {
		cmd := exec.Command(self, cfg.childArgs(impl)...)
		cmd.Env = withMemLimit(env, cfg.goMemLimit)
		var errBuf bytes.Buffer
		cmd.Stderr = &errBuf
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("memory: child %s: %w: %s", impl, err, errBuf.String())
		}
		m, err := parseChildOutput(out)
		if err != nil {
			return nil, fmt.Errorf("memory: child %s: %w", impl, err)
		}
		fmt.Fprintf(stdout, "# %s: peak RSS %d MiB\n", impl, m.PeakRSSBytes>>20)
		rows = append(rows, m)
	}
	return rows, nil
}

func printTable(w io.Writer, rows []harness.Memory) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\tmax queue bytes\tGOMEMLIMIT\tpeak RSS MiB\temitted\texported\tdropped %\tdropped by reason\tnote\t")
	for _, r := range rows {
		mqb := "-"
		if r.MaxQueueBytes > 0 {
			mqb = fmt.Sprintf("%d MiB", r.MaxQueueBytes>>20)
		}
		note := r.Err
		if r.Aborted {
			note = "ABORTED: " + r.AbortReason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.2f\t%s\t%s\t\n",
			r.Impl, mqb, formatLimit(r.MemLimitBytes), r.PeakRSSBytes>>20, r.Emitted, r.Exported, r.DropPct,
			formatReasons(r), note)
	}
	_ = tw.Flush()
}

// formatLimit formats a memory limit in MiB, or "-" for none.
func formatLimit(b int64) string {
	if b <= 0 {
		return "-"
	}
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", b>>20)
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// formatReasons lists a row's drops by reason, in processor.DropReasons
// order, as reason=count pairs; a processor without its own drop count
// shows "n/a".
func formatReasons(r harness.Memory) string {
	if !r.CountsDrops {
		return "n/a"
	}
	var parts []string
	for _, reason := range processor.DropReasons() {
		if n := r.DropReason[string(reason)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", reason, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
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
	if cfg.child != "" {
		b, err := json.Marshal(runChild(cfg))
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s%s\n", resultPrefix, b)
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("memory: finding own executable: %w", err)
	}
	limit := "inherited"
	if cfg.goMemLimit != "" {
		limit = cfg.goMemLimit
	}
	fmt.Fprintf(stdout, "# memory: %d-byte bodies, %v exporter, %v, %d producers, children's GOMEMLIMIT %s\n",
		cfg.bodyBytes, cfg.delay, cfg.duration, cfg.producers, limit)
	rows, err := runParent(cfg, self, os.Environ(), stdout)
	if err != nil {
		return err
	}
	printTable(stdout, rows)
	if cfg.jsonPath != "" {
		return harness.WriteJSON(cfg.jsonPath, harness.Report[harness.Memory]{
			Program: "memory", Env: harness.CurrentEnv(), Results: rows,
		})
	}
	return nil
}
