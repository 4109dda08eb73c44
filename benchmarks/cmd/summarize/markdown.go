package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/steadylog/steadylog/benchmarks/internal/harness"
)

const (
	sdk     = harness.ImplSDK
	sl      = harness.ImplSteadylog
	noop    = harness.ImplNoop
	nsOp    = "ns/op"
	allocs  = "allocs/op"
	bytesOp = "B/op"
	drop    = "dropped-%"
)

// Targets the project set for the processor, checked against one run.
const (
	shareTarget    = 0.5       // processor share of a full-path call ≤ 0.5 × the SDK's
	exportedTarget = 2.0       // exported/s at the highest N ≥ 2 × the SDK's
	dropTarget     = 1.0 / 3.0 // drop % at the highest N ≤ ⅓ of the SDK's
	rssTarget      = 256 << 20 // peak RSS with a 64 MiB byte bound ≤ 256 MiB
	destTarget     = 1.3       // steadylog's share with two destinations ≤ 1.3 × with one
)

// destFamily is the benchmark of one and two destinations.
const destFamily = "EmitDestinations"

// inputs is everything the summary is made from; nil parts are "not run".
type inputs struct {
	bench     *benchData
	sustained *harness.Report[harness.Sustained]
	memory    *harness.Report[harness.Memory]
	hung      *harness.Report[harness.Hung]
	note      string
}

// target is one line of the targets table.
type target struct {
	name, measured, verdict string
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// fmtNS formats nanoseconds with a unit that keeps 3 significant digits.
func fmtNS(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.1f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
}

// fmtRatio formats a/b, or "–" when b is not positive.
func fmtRatio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func fmtNum(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.2f", v)
}

// cell returns the formatted median, or "–" when there is none.
func cell(d *benchData, fam, config, impl, unit string, f func(float64) string) (string, float64, bool) {
	v, ok := d.median(fam, config, impl, unit)
	if !ok {
		return "–", 0, false
	}
	return f(v), v, true
}

func writeTable(w io.Writer, head []string, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(head, " | "))
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// shares computes, for a full-path family, each row's processor shares
// (t(impl) − t(noop)) from the medians.
type shareRow struct {
	config            string
	noop, sdk, sl     float64
	shareSDK, shareSL float64
	ok                bool
}

func shares(d *benchData, f *family) []shareRow {
	var out []shareRow
	for _, r := range f.rows {
		n, okN := d.median(f.name, r.config, noop, nsOp)
		s, okS := d.median(f.name, r.config, sdk, nsOp)
		l, okL := d.median(f.name, r.config, sl, nsOp)
		out = append(out, shareRow{config: r.config, noop: n, sdk: s, sl: l,
			shareSDK: s - n, shareSL: l - n, ok: okN && okS && okL})
	}
	return out
}

// isFullPath reports whether a family has a noop baseline.
func isFullPath(f *family) bool { return slices.Contains(f.impls, noop) }

// isLatency reports whether a family reports latency percentiles.
func isLatency(f *family) bool { return f.hasUnit["p99-ns"] }

func (in inputs) targets() []target {
	var ts []target
	if d := in.bench; d != nil {
		for _, f := range d.families {
			if !isFullPath(f) {
				continue
			}
			for _, s := range shares(d, f) {
				ts = append(ts, ratioTarget(fmt.Sprintf("%s %s: processor share ≤ %.1f × SDK's", f.name, s.config, shareTarget),
					s.ok, s.shareSL, s.shareSDK, "SDK share", shareTarget))
			}
		}
	}
	ts = append(ts, in.destinationTargets()...)
	if rep := in.sustained; rep != nil {
		maxN := 0
		for _, r := range rep.Results {
			maxN = max(maxN, r.Goroutines)
		}
		s, l, ok := sustainedPair(rep.Results, maxN)
		te := target{name: fmt.Sprintf("sustained N=%d: exported/s ≥ %.0f × SDK's", maxN, exportedTarget)}
		td := target{name: fmt.Sprintf("sustained N=%d: drop %% ≤ ⅓ of SDK's", maxN)}
		if !ok {
			te.measured, te.verdict = "missing", "n/a"
			td.measured, td.verdict = "missing", "n/a"
		} else {
			te.measured = fmt.Sprintf("%.0f vs %.0f /s = %s", l.ExportedPerSec, s.ExportedPerSec,
				fmtRatio(l.ExportedPerSec, s.ExportedPerSec))
			te.verdict = verdict(l.ExportedPerSec >= exportedTarget*s.ExportedPerSec)
			td.measured = fmt.Sprintf("%.2f %% vs %.2f %% = %s", l.DropPct, s.DropPct, fmtRatio(l.DropPct, s.DropPct))
			td.verdict = verdict(l.DropPct <= dropTarget*s.DropPct)
		}
		ts = append(ts, te, td)
	}
	if rep := in.memory; rep != nil {
		t := target{name: "memory, 1 MiB bodies, WithMaxQueueBytes: peak RSS ≤ 256 MiB", measured: "missing", verdict: "n/a"}
		for _, r := range rep.Results {
			if r.Impl != sl {
				continue
			}
			t.measured = fmt.Sprintf("%d MiB (queue bound %d MiB)", r.PeakRSSBytes>>20, r.MaxQueueBytes>>20)
			t.verdict = verdict(r.PeakRSSBytes <= rssTarget && !r.Aborted && r.Err == "")
			for _, o := range rep.Results {
				if o.Impl == sdk {
					t.measured += fmt.Sprintf("; SDK %d MiB", o.PeakRSSBytes>>20)
				}
			}
		}
		ts = append(ts, t)
	}
	if rep := in.hung; rep != nil {
		t := target{name: "hung exporter: OnEmit p99 ≤ SDK's (cmd/hung)", measured: "missing", verdict: "n/a"}
		var s, l *harness.Hung
		for i := range rep.Results {
			switch rep.Results[i].Impl {
			case sdk:
				s = &rep.Results[i]
			case sl:
				l = &rep.Results[i]
			}
		}
		if s != nil && l != nil {
			t.measured = fmt.Sprintf("%s vs %s", fmtNS(l.P99NS), fmtNS(s.P99NS))
			t.verdict = verdict(l.P99NS <= s.P99NS)
		}
		ts = append(ts, t)
	}
	if d := in.bench; d != nil {
		for _, f := range d.families {
			if !isLatency(f) {
				continue
			}
			for _, r := range f.rows {
				t := target{name: fmt.Sprintf("hung exporter: OnEmit p99 ≤ SDK's (%s %s)", f.name, r.config)}
				sv, okS := d.median(f.name, r.config, sdk, "p99-ns")
				lv, okL := d.median(f.name, r.config, sl, "p99-ns")
				if !okS || !okL {
					t.measured, t.verdict = "missing", "n/a"
				} else {
					t.measured = fmt.Sprintf("%s vs %s", fmtNS(lv), fmtNS(sv))
					t.verdict = verdict(lv <= sv)
				}
				ts = append(ts, t)
			}
		}
	}
	return ts
}

// sustainedPair returns the SDK and steadylog rows for n goroutines.
func sustainedPair(rows []harness.Sustained, n int) (s, l harness.Sustained, ok bool) {
	var okS, okL bool
	for _, r := range rows {
		if r.Goroutines != n {
			continue
		}
		switch r.Impl {
		case sdk:
			s, okS = r, true
		case sl:
			l, okL = r, true
		}
	}
	return s, l, okS && okL
}

func (in inputs) write(w io.Writer) {
	fmt.Fprintln(w, "# steadylog processor vs OTel Go SDK BatchProcessor")
	fmt.Fprintln(w)
	if in.note != "" {
		fmt.Fprintf(w, "%s\n\n", in.note)
	}
	if d := in.bench; d != nil {
		fmt.Fprintf(w, "Benchmarks: %s/%s, %s. ", d.header["goos"], d.header["goarch"], d.header["cpu"])
	}
	fmt.Fprintln(w, "Both processors ran with default settings in the same run, against the same "+
		"do-nothing exporter. Values are medians over -count runs; ratios are steadylog / SDK "+
		"(below 1× is faster or smaller). Absolute times drift between runs on shared machines; "+
		"compare ratios.")
	fmt.Fprintln(w)

	fmt.Fprintln(w, "## Targets")
	fmt.Fprintln(w)
	var trs [][]string
	for _, t := range in.targets() {
		trs = append(trs, []string{t.name, t.measured, "**" + t.verdict + "**"})
	}
	if len(trs) == 0 {
		fmt.Fprintln(w, "No results to check.")
		fmt.Fprintln(w)
	} else {
		writeTable(w, []string{"target", "steadylog vs SDK", "result"}, trs)
	}

	if d := in.bench; d != nil {
		for _, f := range d.families {
			switch {
			case isFullPath(f):
				writeFullPath(w, d, f)
			case isLatency(f):
				writeLatency(w, d, f)
			default:
				writeCompare(w, d, f)
			}
		}
	} else {
		fmt.Fprintln(w, "## Go benchmarks\n\nNot run.")
		fmt.Fprintln(w)
	}
	in.writeSustained(w)
	in.writeMemory(w)
	in.writeHung(w)
}

func writeCompare(w io.Writer, d *benchData, f *family) {
	fmt.Fprintf(w, "## Benchmark%s\n\n", f.name)
	head := []string{"config", "sdk", "steadylog", "ratio", "allocs/op sdk → steadylog", "B/op sdk → steadylog"}
	if f.hasUnit[drop] {
		head = append(head, "dropped % sdk → steadylog")
	}
	var rows [][]string
	for _, r := range f.rows {
		cs, vs, _ := cell(d, f.name, r.config, sdk, nsOp, fmtNS)
		cl, vl, _ := cell(d, f.name, r.config, sl, nsOp, fmtNS)
		as, _, _ := cell(d, f.name, r.config, sdk, allocs, fmtNum)
		al, _, _ := cell(d, f.name, r.config, sl, allocs, fmtNum)
		bs, _, _ := cell(d, f.name, r.config, sdk, bytesOp, fmtNum)
		bl, _, _ := cell(d, f.name, r.config, sl, bytesOp, fmtNum)
		line := []string{r.config, cs, cl, fmtRatio(vl, vs), as + " → " + al, bs + " → " + bl}
		if f.hasUnit[drop] {
			ds, _, _ := cell(d, f.name, r.config, sdk, drop, fmtNum)
			dl, _, _ := cell(d, f.name, r.config, sl, drop, fmtNum)
			line = append(line, ds+" → "+dl)
		}
		rows = append(rows, line)
	}
	writeTable(w, head, rows)
}

func writeFullPath(w io.Writer, d *benchData, f *family) {
	fmt.Fprintf(w, "## Benchmark%s (full path; share = t(processor) − t(noop))\n\n", f.name)
	var rows [][]string
	for _, s := range shares(d, f) {
		cn, _, _ := cell(d, f.name, s.config, noop, nsOp, fmtNS)
		cs, _, _ := cell(d, f.name, s.config, sdk, nsOp, fmtNS)
		cl, _, _ := cell(d, f.name, s.config, sl, nsOp, fmtNS)
		an, _, _ := cell(d, f.name, s.config, noop, allocs, fmtNum)
		as, _, _ := cell(d, f.name, s.config, sdk, allocs, fmtNum)
		al, _, _ := cell(d, f.name, s.config, sl, allocs, fmtNum)
		shareS, shareL, ratio := "–", "–", "–"
		if s.ok {
			shareS, shareL = fmtNS(s.shareSDK), fmtNS(s.shareSL)
			ratio = fmtRatio(s.shareSL, s.shareSDK)
		}
		rows = append(rows, []string{s.config, cn, cs, cl, fmtRatio(s.sl, s.sdk), shareS, shareL, ratio,
			an + " / " + as + " / " + al})
	}
	writeTable(w, []string{"config", "noop", "sdk", "steadylog", "ratio", "share sdk", "share steadylog",
		"share ratio", "allocs/op noop / sdk / steadylog"}, rows)
}

func writeLatency(w io.Writer, d *benchData, f *family) {
	fmt.Fprintf(w, "## Benchmark%s (OnEmit latency, exporter hung)\n\n", f.name)
	var rows [][]string
	for _, r := range f.rows {
		line := []string{r.config}
		for _, unit := range []string{"p50-ns", "p99-ns", "p99.9-ns"} {
			cs, vs, _ := cell(d, f.name, r.config, sdk, unit, fmtNS)
			cl, vl, _ := cell(d, f.name, r.config, sl, unit, fmtNS)
			line = append(line, cs, cl, fmtRatio(vl, vs))
		}
		rows = append(rows, line)
	}
	writeTable(w, []string{"config", "p50 sdk", "p50 steadylog", "ratio", "p99 sdk", "p99 steadylog", "ratio",
		"p99.9 sdk", "p99.9 steadylog", "ratio"}, rows)
}

func (in inputs) writeSustained(w io.Writer) {
	fmt.Fprintln(w, "## Sustained throughput (cmd/sustained)")
	fmt.Fprintln(w)
	rep := in.sustained
	if rep == nil {
		fmt.Fprintln(w, "Not run.")
		fmt.Fprintln(w)
		return
	}
	var ns []int
	for _, r := range rep.Results {
		if !slices.Contains(ns, r.Goroutines) {
			ns = append(ns, r.Goroutines)
		}
	}
	if len(rep.Results) > 0 {
		r := rep.Results[0]
		fmt.Fprintf(w, "Path %s, %.1f s per run, counting exporter, default sizes. Drops: steadylog from "+
			"Stats(), SDK as emitted − exported after Shutdown.\n\n", r.Path, r.Seconds)
	}
	var rows [][]string
	for _, n := range ns {
		s, l, ok := sustainedPair(rep.Results, n)
		if !ok {
			continue
		}
		rows = append(rows, []string{fmt.Sprint(n),
			fmt.Sprintf("%.0f", s.EmittedPerSec), fmt.Sprintf("%.0f", l.EmittedPerSec),
			fmt.Sprintf("%.0f", s.ExportedPerSec), fmt.Sprintf("%.0f", l.ExportedPerSec),
			fmtRatio(l.ExportedPerSec, s.ExportedPerSec),
			fmt.Sprintf("%.2f", s.DropPct), fmt.Sprintf("%.2f", l.DropPct), fmtRatio(l.DropPct, s.DropPct)})
	}
	writeTable(w, []string{"N", "emitted/s sdk", "emitted/s steadylog", "exported/s sdk", "exported/s steadylog",
		"exported ratio", "drop % sdk", "drop % steadylog", "drop ratio"}, rows)
}

func (in inputs) writeMemory(w io.Writer) {
	fmt.Fprintln(w, "## Peak memory (cmd/memory)")
	fmt.Fprintln(w)
	rep := in.memory
	if rep == nil {
		fmt.Fprintln(w, "Not run.")
		fmt.Fprintln(w)
		return
	}
	var rows [][]string
	for _, r := range rep.Results {
		bound := "none (count only)"
		if r.MaxQueueBytes > 0 {
			bound = fmt.Sprintf("%d MiB", r.MaxQueueBytes>>20)
		}
		note := r.Err
		if r.Aborted {
			note = "aborted: " + r.AbortReason
		}
		rows = append(rows, []string{r.Impl, bound, fmt.Sprint(r.PeakRSSBytes >> 20), fmt.Sprint(r.Emitted),
			fmt.Sprint(r.Exported), fmt.Sprintf("%.2f", r.DropPct), note})
	}
	if len(rep.Results) > 0 {
		r := rep.Results[0]
		fmt.Fprintf(w, "%d-byte bodies, %.0f ms per Export, %.1f s, %d producers, each processor in its own "+
			"process (VmHWM).\n\n", r.BodyBytes, r.ExportDelayMS, r.Seconds, r.Producers)
	}
	writeTable(w, []string{"impl", "byte bound", "peak RSS MiB", "emitted", "exported", "drop %", "note"}, rows)
}

func (in inputs) writeHung(w io.Writer) {
	fmt.Fprintln(w, "## Hung exporter (cmd/hung)")
	fmt.Fprintln(w)
	rep := in.hung
	if rep == nil {
		fmt.Fprintln(w, "Not run.")
		fmt.Fprintln(w)
		return
	}
	if len(rep.Results) > 0 {
		r := rep.Results[0]
		fmt.Fprintf(w, "%d goroutines at %.0f records/s for %.1f s; each Export blocks %.0f ms ignoring its "+
			"context; Shutdown measured with a deadline while still hung.\n\n",
			r.Goroutines, r.Rate, r.Seconds, r.HoldMS)
	}
	var rows [][]string
	for _, r := range rep.Results {
		counted := "not counted"
		if r.CountsDrops {
			counted = fmt.Sprint(r.Dropped)
		}
		rows = append(rows, []string{r.Impl, fmtNS(r.P50NS), fmtNS(r.P99NS), fmtNS(r.P999NS), fmtNS(r.MaxNS),
			fmt.Sprintf("%.2f", r.LostPct), counted,
			(time.Duration(r.ShutdownSeconds * 1e9)).Round(time.Millisecond).String(), r.ShutdownErr})
	}
	writeTable(w, []string{"impl", "p50", "p99", "p99.9", "max", "lost %", "drops counted", "Shutdown took",
		"Shutdown error"}, rows)
}

// destinationTargets checks that a second destination costs steadylog
// little: its processor share with two destinations (dests=2/par=P) is at
// most destTarget times its share with one (dests=1/par=P), for each P the
// run has.
func (in inputs) destinationTargets() []target {
	d := in.bench
	if d == nil {
		return nil
	}
	var f *family
	for _, fam := range d.families {
		if fam.name == destFamily {
			f = fam
		}
	}
	if f == nil {
		return nil
	}
	byConfig := map[string]shareRow{}
	for _, s := range shares(d, f) {
		byConfig[s.config] = s
	}
	var ts []target
	for _, r := range f.rows {
		par, ok := strings.CutPrefix(r.config, "dests=1/")
		if !ok {
			continue
		}
		one, two := byConfig[r.config], byConfig["dests=2/"+par]
		ts = append(ts, ratioTarget(fmt.Sprintf("%s %s: share with 2 destinations ≤ %.1f × with 1", destFamily, par, destTarget),
			one.ok && two.ok, two.shareSL, one.shareSL, "share with 1 destination", destTarget))
	}
	return ts
}

// ratioTarget checks that num/den ≤ limit for two processor shares, which
// ok says were measured; den, called denWhat in the message, must be
// positive for the ratio to mean anything.
func ratioTarget(name string, ok bool, num, den float64, denWhat string, limit float64) target {
	t := target{name: name}
	switch {
	case !ok:
		t.measured, t.verdict = "missing", "n/a"
	case den <= 0:
		t.measured = fmt.Sprintf("%s %s (not positive: too noisy to judge)", denWhat, fmtNS(den))
		t.verdict = "n/a"
	default:
		ratio := num / den
		t.measured = fmt.Sprintf("%s vs %s = %.2f×", fmtNS(num), fmtNS(den), ratio)
		t.verdict = verdict(ratio <= limit)
	}
	return t
}
