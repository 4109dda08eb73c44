package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// Report is the JSON output of a benchmark.
type Report struct {
	Note     string            `json:"note"`
	Settings map[string]string `json:"settings"`
	Summary  []ScenarioSummary `json:"summary"`
	Runs     []RunResult       `json:"runs"`
}

// Stat is the median and range of one figure over runs or pairs.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// ScenarioSummary aggregates one scenario's runs.
type ScenarioSummary struct {
	Scenario string `json:"scenario"`
	Pairs    int    `json:"pairs"`
	// Impls: per implementation, per metric, over its runs.
	Impls map[string]map[string]Stat `json:"impls"`
	// Ratios: per metric, steadylog/sdk over the pairs (pairs where the
	// SDK's figure is 0 are left out).
	Ratios map[string]Stat `json:"ratios_steadylog_over_sdk"`
	// VsNolog: per logging implementation, per metric, impl/nolog over the
	// pairs (healthy only).
	VsNolog map[string]map[string]Stat `json:"vs_nolog,omitempty"`
}

// maxOffsets is how many failed-call offsets a row of the Markdown shows.
const maxOffsets = 12

// metricNames lists the per-run figures that are summarised, in table order.
var metricNames = []string{
	"requests_per_s", "cpu_per_request_us", "p50_ms", "p99_ms", "p999_ms",
	"emitted", "received", "lost", "duplicates", "window_lost_share",
	"first_ok_after_recovery_ms", "first_call_after_recovery_ms", "calls_during_outage",
	"exported_minus_received",
}

func metric(r RunResult, name string) (float64, bool) {
	opt := func(p *float64) (float64, bool) {
		if p == nil {
			return 0, false
		}
		return *p, true
	}
	logging := r.Impl != implNolog
	faulted := r.Recovered != 0
	switch name {
	case "requests_per_s":
		return r.RPS, true
	case "cpu_per_request_us":
		return r.CPUPerReqUS, r.CPUPerReqUS > 0
	case "p50_ms":
		return r.P50ms, true
	case "p99_ms":
		return r.P99ms, true
	case "p999_ms":
		return r.P999ms, true
	case "emitted":
		return float64(r.Emitted), logging
	case "received":
		return float64(r.Received), logging
	case "lost":
		return float64(r.Lost), logging
	case "duplicates":
		return float64(r.Duplicates), logging
	case "window_lost_share":
		return r.WindowLostShare, logging && faulted
	case "first_ok_after_recovery_ms":
		return opt(r.FirstOKAfterMs)
	case "first_call_after_recovery_ms":
		return opt(r.FirstCallAfterMs)
	case "calls_during_outage":
		return float64(r.CallsDuringOutage), logging && faulted
	case "exported_minus_received":
		if r.ExportedMinusReceived == nil {
			return 0, false
		}
		return float64(*r.ExportedMinusReceived), true
	}
	return 0, false
}

func stat(vs []float64) Stat {
	if len(vs) == 0 {
		return Stat{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// summarize aggregates runs per scenario, in the order of scens.
func summarize(scens []string, runs []RunResult) []ScenarioSummary {
	var out []ScenarioSummary
	for _, sc := range scens {
		sum := ScenarioSummary{Scenario: sc, Impls: map[string]map[string]Stat{}, Ratios: map[string]Stat{}}
		byImplPair := map[string]map[int]RunResult{}
		for _, r := range runs {
			if r.Scenario != sc {
				continue
			}
			if byImplPair[r.Impl] == nil {
				byImplPair[r.Impl] = map[int]RunResult{}
			}
			byImplPair[r.Impl][r.Pair] = r
			sum.Pairs = max(sum.Pairs, r.Pair+1)
		}
		if len(byImplPair) == 0 {
			continue
		}
		for impl, rs := range byImplPair {
			m := map[string]Stat{}
			for _, name := range metricNames {
				var vs []float64
				for _, r := range rs {
					if v, ok := metric(r, name); ok {
						vs = append(vs, v)
					}
				}
				if len(vs) > 0 {
					m[name] = stat(vs)
				}
			}
			sum.Impls[impl] = m
		}
		sum.Ratios = pairedRatios(byImplPair[implSteadylog], byImplPair[implSDK])
		if nolog := byImplPair[implNolog]; len(nolog) > 0 {
			sum.VsNolog = map[string]map[string]Stat{}
			for _, impl := range []string{implSDK, implSteadylog} {
				if rs := byImplPair[impl]; len(rs) > 0 {
					sum.VsNolog[impl] = pairedRatios(rs, nolog)
				}
			}
		}
		out = append(out, sum)
	}
	return out
}

// pairedRatios returns, per metric, num/den over the pairs both have.
func pairedRatios(num, den map[int]RunResult) map[string]Stat {
	out := map[string]Stat{}
	for _, name := range metricNames {
		var vs []float64
		for pair, a := range num {
			b, ok := den[pair]
			if !ok {
				continue
			}
			x, okx := metric(a, name)
			y, oky := metric(b, name)
			if okx && oky && y != 0 {
				vs = append(vs, x/y)
			}
		}
		if len(vs) > 0 {
			out[name] = stat(vs)
		}
	}
	return out
}

// writeMarkdown renders the summary tables and every run.
func writeMarkdown(w io.Writer, rep Report) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Service benchmark: a net/http service logging through each processor\n\n")
	p("%s\n\n", rep.Note)
	p("Settings: %s.\n\n", settingsLine(rep.Settings))
	p("%s\n", definitions)

	p("## Paired ratios, steadylog / SDK (median, range over pairs)\n\n")
	p("| scenario (pairs) | requests/s | CPU per request | p50 | p99 | p99.9 | lost, share of the fault window's records | first batch after recovery, ms: sdk / steadylog (medians) |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range rep.Summary {
		if len(s.Ratios) == 0 {
			continue
		}
		p("| %s (%d) | %s | %s | %s | %s | %s | %s | %s |\n", s.Scenario, s.Pairs,
			ratio(s.Ratios, "requests_per_s"), ratio(s.Ratios, "cpu_per_request_us"), ratio(s.Ratios, "p50_ms"),
			ratio(s.Ratios, "p99_ms"), ratio(s.Ratios, "p999_ms"), ratio(s.Ratios, "window_lost_share"),
			firstBatch(s))
	}
	p("\n")

	p("## Each implementation (median [min–max] over its runs)\n\n")
	p("| scenario | impl | requests/s | CPU µs/request | p50 ms | p99 ms | p99.9 ms | emitted | received | lost | dup. | lost share of window | first batch after recovery ms | calls during outage | Exported − received |\n")
	p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range rep.Summary {
		for _, impl := range []string{implSDK, implSteadylog, implNolog} {
			m, ok := s.Impls[impl]
			if !ok {
				continue
			}
			p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", s.Scenario, impl,
				abs(m, "requests_per_s", "%.0f"), abs(m, "cpu_per_request_us", "%.1f"), abs(m, "p50_ms", "%.2f"),
				abs(m, "p99_ms", "%.1f"), abs(m, "p999_ms", "%.1f"), abs(m, "emitted", "%.0f"),
				abs(m, "received", "%.0f"), abs(m, "lost", "%.0f"), abs(m, "duplicates", "%.0f"),
				pct(m, "window_lost_share"), abs(m, "first_ok_after_recovery_ms", "%.0f"),
				abs(m, "calls_during_outage", "%.0f"), abs(m, "exported_minus_received", "%.0f"))
		}
	}
	p("\n")

	for _, s := range rep.Summary {
		if len(s.VsNolog) == 0 {
			continue
		}
		p("## What logging costs (%s, paired with the no-logging run of the same round)\n\n", s.Scenario)
		p("| impl / nolog | requests/s | CPU per request | p50 | p99 | p99.9 |\n|---|---:|---:|---:|---:|---:|\n")
		for _, impl := range []string{implSDK, implSteadylog} {
			if r, ok := s.VsNolog[impl]; ok {
				p("| %s | %s | %s | %s | %s | %s |\n", impl, ratio(r, "requests_per_s"), ratio(r, "cpu_per_request_us"),
					ratio(r, "p50_ms"), ratio(r, "p99_ms"), ratio(r, "p999_ms"))
			}
		}
		p("\n")
	}

	runs := slices.Clone(rep.Runs)
	slices.SortFunc(runs, func(a, b RunResult) int { return a.Seq - b.Seq })
	p("## Export calls around the fault\n\n")
	p("Failed export calls from the fault's start, as ms after it (the first %d), then the recovery and the first batch after it.\n\n", maxOffsets)
	p("| # | scenario | pair | impl | back after ms | failed calls at ms | first batch after recovery ms | lost outside the window |\n|---:|---|---:|---|---:|---|---:|---:|\n")
	for _, r := range runs {
		if r.Recovered == 0 || r.Impl == implNolog {
			continue
		}
		offs := r.FailedCallOffsetsMs
		more := ""
		if len(offs) > maxOffsets {
			more = fmt.Sprintf(" … (%d failed calls in all)", r.FailedCalls)
			offs = offs[:maxOffsets]
		}
		strs := make([]string, len(offs))
		for i, o := range offs {
			strs[i] = fmt.Sprintf("%.0f", o)
		}
		p("| %d | %s | %d | %s | %.0f | %s%s | %s | %d |\n", r.Seq, r.Scenario, r.Pair, r.Impl,
			float64(r.Recovered-r.FaultStart)/1e6, strings.Join(strs, ", "), more, optMs(r.FirstOKAfterMs), r.Lost-r.WindowLost)
	}
	p("\n")

	p("## Every run, in the order run\n\n")
	p("| # | scenario | pair | impl | req/s | CPU µs/req | p50 ms | p99 ms | p99.9 ms | emitted | received | lost | dup. | window lost | calls in outage | last ok before fault ms | first call after recovery ms | first batch after recovery ms | shutdown ms | Stats |\n")
	p("|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range runs {
		win := "–"
		if r.Recovered != 0 && r.Impl != implNolog {
			win = fmt.Sprintf("%d/%d (%.1f%%)", r.WindowLost, r.WindowEmitted, 100*r.WindowLostShare)
		}
		calls := "–"
		if r.Recovered != 0 && r.Impl != implNolog {
			calls = fmt.Sprint(r.CallsDuringOutage)
		}
		st := "–"
		if r.StatsExported != nil {
			st = fmt.Sprintf("exported=%d (%+d vs received)", *r.StatsExported, *r.ExportedMinusReceived)
			for _, k := range sortedKeys(r.StatsDropped) {
				st += fmt.Sprintf(" %s=%d", k, r.StatsDropped[k])
			}
		}
		if r.ShutdownErr != "" {
			st += "; shutdown: " + r.ShutdownErr
		}
		p("| %d | %s | %d | %s | %.0f | %.1f | %.2f | %.1f | %.1f | %d | %d | %d | %d | %s | %s | %s | %s | %s | %.0f | %s |\n",
			r.Seq, r.Scenario, r.Pair, r.Impl, r.RPS, r.CPUPerReqUS, r.P50ms, r.P99ms, r.P999ms, r.Emitted, r.Received,
			r.Lost, r.Duplicates, win, calls, optMs(r.LastOKBeforeMs), optMs(r.FirstCallAfterMs), optMs(r.FirstOKAfterMs),
			r.ShutdownMs, st)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

const definitions = `What the numbers mean:
- **requests/s**: requests completed by the 32 closed-loop clients (each sends its next request when the previous
  one is answered) during the measured duration, divided by it; the warm-up before it is not counted.
- **CPU per request**: the service process's user+system CPU (getrusage) over the measured duration, divided by the
  requests it served in that time. The load generator and the Collector run on the same 2 cores but are not counted.
- **p50/p99/p99.9**: request latency seen by the clients (log-linear histogram, ≤3% error), requests that started
  and ended in the measured duration.
- **emitted**: records the service handed to slog over its whole life (3 per request; warm-up and the requests
  served until shutdown included). **received**: distinct records in the Collector's file output (each record
  carries a unique ` + "`seq`" + ` attribute), counted from the Collector, not from the app. **lost** = emitted − received.
  **dup.**: records the Collector received more than once (at-least-once delivery after a timed-out export).
- **fault window**: from the fault's start (SIGKILL or SIGSTOP sent) to the moment the Collector is back (restarted
  and ready on the same port, or SIGCONT sent) plus 1 s. **lost share of window** = records emitted in the window
  that the Collector never received / records emitted in the window (the service samples its record counter every
  20 ms to map times onto records).
- **first batch after recovery**: time from the Collector being back until the first export call that succeeded
  ended (from a wrapper around otlploghttp inside the service). **calls during outage**: export calls that reached
  otlploghttp (for steadylog: that the breaker let through) and started between the fault's start and recovery.
- **Exported − received**: steadylog's ` + "`Stats().Exported`" + ` minus the Collector's distinct count (0 = they agree; a
  positive value means records acknowledged to the app were lost by the Collector, e.g. in its buffers at SIGKILL;
  negative means the Collector wrote a batch whose export the app counted as failed).
- Ratios are steadylog/SDK within a pair of runs made back to back (order alternating: sdk first in even pairs),
  then the median and range over pairs; for a ratio of losses or latencies, lower is better for steadylog.
`

func settingsLine(m map[string]string) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ratio(m map[string]Stat, name string) string {
	s, ok := m[name]
	if !ok {
		return "n/a"
	}
	if s.N == 1 {
		return fmt.Sprintf("%.2f×", s.Median)
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", s.Median, s.Min, s.Max)
}

func abs(m map[string]Stat, name, format string) string {
	s, ok := m[name]
	if !ok {
		return "–"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf(format, s.Median)
	}
	return fmt.Sprintf(format+" ["+format+"–"+format+"]", s.Median, s.Min, s.Max)
}

func pct(m map[string]Stat, name string) string {
	s, ok := m[name]
	if !ok {
		return "–"
	}
	if s.N == 1 || s.Min == s.Max {
		return fmt.Sprintf("%.1f%%", 100*s.Median)
	}
	return fmt.Sprintf("%.1f%% [%.1f–%.1f]", 100*s.Median, 100*s.Min, 100*s.Max)
}

func optMs(p *float64) string {
	if p == nil {
		return "–"
	}
	return fmt.Sprintf("%.0f", *p)
}

// firstBatch gives both implementations' median delay of the first
// successful export after recovery: a ratio of two near-zero times says
// little.
func firstBatch(s ScenarioSummary) string {
	a, okA := s.Impls[implSDK]["first_ok_after_recovery_ms"]
	b, okB := s.Impls[implSteadylog]["first_ok_after_recovery_ms"]
	if !okA && !okB {
		return "n/a"
	}
	f := func(st Stat, ok bool) string {
		if !ok {
			return "–"
		}
		return fmt.Sprintf("%.0f", st.Median)
	}
	return f(a, okA) + " / " + f(b, okB)
}
