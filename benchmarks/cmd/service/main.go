// Command service measures what logging costs a real net/http service, and
// what it loses when the Collector fails, with the OTel Go SDK's
// BatchProcessor and with steadylog, each with its defaults.
//
// The service runs in a child process (this binary re-executed with
// -role=service): each request logs 3 records through log/slog → otelslog →
// the processor → otlploghttp → a real OpenTelemetry Collector on 127.0.0.1
// (one per run, writing to a file that is counted afterwards). The
// orchestrator drives it with closed-loop clients for a fixed duration and
// injects a fault into the Collector at a fixed offset:
//
//	healthy  no fault (with a no-logging baseline run, nolog, in each round)
//	blip     SIGKILL, restarted 1 s later on the same port
//	kill5    SIGKILL, restarted 5 s later
//	stop8    SIGSTOP for 8 s, then SIGCONT
//
// sdk and steadylog run in interleaved pairs (sdk, steadylog, steadylog,
// sdk, ...), and the report gives paired ratios steadylog/sdk. See
// scripts/bench-service.sh and the definitions at the top of the Markdown
// output.
//
// With -sample, each run also records a Timeline (emitted, exported and
// accepted records, queue, drops, breaker state over time) that deploy/plot
// draws; scripts/service-plot.sh makes the README's side-by-side picture so.
//
//	go run ./benchmarks/cmd/service -otelcol $(scripts/build-otelcol.sh | tail -1) -pairs 3
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	ih "github.com/steadylog/steadylog/integration/harness"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == roleFlag {
		if err := serviceMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "service:", err)
			os.Exit(1)
		}
		return
	}
	s := settings{logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }}
	flag.StringVar(&s.otelcol, "otelcol", os.Getenv(ih.EnvOtelcolBin), "the Collector binary (scripts/build-otelcol.sh); default $"+ih.EnvOtelcolBin)
	flag.IntVar(&s.clients, "clients", 32, "concurrent closed-loop clients")
	flag.DurationVar(&s.warmup, "warmup", 2*time.Second, "load before the measurement starts")
	flag.DurationVar(&s.duration, "duration", 25*time.Second, "measured duration of each run")
	flag.DurationVar(&s.faultAt, "fault-at", 5*time.Second, "when the fault starts, from the measurement's start")
	flag.DurationVar(&s.shutdown, "shutdown-timeout", 5*time.Second, "the service's LoggerProvider.Shutdown deadline")
	flag.IntVar(&s.pairs, "pairs", 3, "pairs of runs (sdk, steadylog) per scenario")
	flag.DurationVar(&s.sample, "sample", 0, "record each run's Timeline, sampled at this interval (0: none); deploy/plot draws it")
	scens := flag.String("scenarios", strings.Join(allScenarios(), ","), "comma-separated scenarios")
	nolog := flag.Bool("nolog", true, "add a no-logging run to each round of the healthy scenario")
	flag.StringVar(&s.workDir, "workdir", "", "where runs keep their files (default: the system temp dir)")
	flag.BoolVar(&s.keep, "keep", false, "keep each run's directory (Collector output, service log and report)")
	jsonOut := flag.String("json", "", "write the results as JSON to this file")
	mdOut := flag.String("md", "", "write the results as Markdown to this file (default: stdout)")
	note := flag.String("note", "", "a line about the machine and the run, put at the top of the Markdown")
	render := flag.String("render", "", "only render the Markdown of a JSON result file written by -json")
	flag.Parse()
	if *render != "" {
		if err := renderJSON(*render, *mdOut); err != nil {
			fmt.Fprintln(os.Stderr, "service:", err)
			os.Exit(1)
		}
		return
	}
	s.scens = splitList(*scens)
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
	s.self = self
	if _, err := run(s, *nolog, *note, *jsonOut, *mdOut); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// order returns the implementations of one round: sdk first in even pairs,
// steadylog first in odd ones; nolog, when asked for, at either end.
func order(scen string, pair int, nolog bool) []string {
	impls := []string{implSDK, implSteadylog}
	if scen == scenHealthy && nolog {
		impls = append(impls, implNolog)
	}
	if pair%2 == 1 {
		for i, j := 0, len(impls)-1; i < j; i, j = i+1, j-1 {
			impls[i], impls[j] = impls[j], impls[i]
		}
	}
	return impls
}

// run runs every scenario's rounds and writes the report after each run, so
// an interrupted benchmark still leaves its results.
func run(s settings, nolog bool, note, jsonOut, mdOut string) (Report, error) {
	rep := Report{Settings: map[string]string{
		"clients": fmt.Sprint(s.clients), "warmup": s.warmup.String(), "duration": s.duration.String(),
		"fault_at": s.faultAt.String(), "shutdown_timeout": s.shutdown.String(), "pairs": fmt.Sprint(s.pairs),
		"scenarios": strings.Join(s.scens, ","), "cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version(),
	}}
	if s.sample > 0 {
		rep.Settings["sample"] = s.sample.String()
	}
	if err := s.validate(); err != nil {
		return rep, err
	}
	rep.Note = note
	if rep.Note == "" {
		rep.Note = "Run " + time.Now().UTC().Format(time.RFC3339) + "."
	}
	write := func() error {
		rep.Summary = summarize(s.scens, rep.Runs)
		if jsonOut != "" {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			if err := os.WriteFile(jsonOut, b, 0o644); err != nil {
				return err
			}
		}
		if mdOut != "" {
			f, err := os.Create(mdOut)
			if err != nil {
				return err
			}
			defer f.Close()
			return writeMarkdown(f, rep)
		}
		return nil
	}
	seq := 0
	for _, scen := range s.scens {
		for pair := range s.pairs {
			for _, impl := range order(scen, pair, nolog) {
				start := time.Now()
				r, err := runOne(s, scen, impl, pair, seq)
				if err != nil {
					return rep, fmt.Errorf("%s pair %d %s: %w", scen, pair, impl, err)
				}
				seq++
				rep.Runs = append(rep.Runs, r)
				s.logf("%-8s pair %d %-9s %6.0f req/s  cpu %5.1f µs/req  p99 %6.1f ms  emitted %8d  received %8d  lost %7d  window lost %d/%d  calls in outage %d  (%s)",
					scen, pair, impl, r.RPS, r.CPUPerReqUS, r.P99ms, r.Emitted, r.Received, r.Lost, r.WindowLost,
					r.WindowEmitted, r.CallsDuringOutage, time.Since(start).Round(time.Second))
				if err := write(); err != nil {
					return rep, err
				}
			}
		}
	}
	if mdOut == "" {
		return rep, writeMarkdown(os.Stdout, rep)
	}
	return rep, nil
}

// renderJSON writes the Markdown of a saved result file (to stdout when
// mdOut is empty), summarising its runs again.
func renderJSON(path, mdOut string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return err
	}
	rep.Summary = summarize(splitList(rep.Settings["scenarios"]), rep.Runs)
	if mdOut == "" {
		return writeMarkdown(os.Stdout, rep)
	}
	f, err := os.Create(mdOut)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeMarkdown(f, rep)
}
