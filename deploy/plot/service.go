package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The part of the service benchmark's JSON output (benchmarks/cmd/service
// run with -sample) that the side-by-side picture reads. This module keeps
// its own copy of the types: it does not import steadylog's module.
type serviceReport struct {
	Note     string            `json:"note"`
	Settings map[string]string `json:"settings"`
	Runs     []serviceRun      `json:"runs"`
}

type serviceRun struct {
	Scenario        string    `json:"scenario"`
	Impl            string    `json:"impl"`
	Pair            int       `json:"pair"`
	Emitted         int64     `json:"emitted"`
	Received        int64     `json:"received"`
	Lost            int64     `json:"lost"`
	FaultStart      int64     `json:"fault_start"`
	Recovered       int64     `json:"recovered"`
	WindowEmitted   int64     `json:"window_emitted"`
	WindowLost      int64     `json:"window_lost"`
	WindowLostShare float64   `json:"window_lost_share"`
	FailedCalls     int       `json:"failed_calls"`
	Timeline        *timeline `json:"timeline"`
}

type timeline struct {
	Start      int64     `json:"start"`
	IntervalMs float64   `json:"interval_ms"`
	Samples    []sample  `json:"samples"`
	Collector  []colSmpl `json:"collector"`
}

type sample struct {
	At                  int64             `json:"t"`
	Emitted             float64           `json:"emitted"`
	ExportOK            float64           `json:"export_ok"`
	ExportFailedRecords float64           `json:"export_failed_records"`
	ExportFailedCalls   float64           `json:"export_failed_calls"`
	Queued              float64           `json:"queued"`
	QueuedBytes         *float64          `json:"queued_bytes"`
	Dropped             map[string]uint64 `json:"dropped"`
	Breaker             *float64          `json:"breaker"`
}

type colSmpl struct {
	At       int64   `json:"t"`
	Accepted float64 `json:"accepted"`
}

// The implementations, as the benchmark names them, in column order.
const (
	implSDK       = "sdk"
	implSteadylog = "steadylog"
)

var implTitle = map[string]string{implSDK: "SDK BatchProcessor", implSteadylog: "steadylog"}

// pickRuns returns the sdk and steadylog runs of scenario in pair, each
// with a timeline.
func pickRuns(rep serviceReport, scenario string, pair int) ([2]serviceRun, error) {
	var out [2]serviceRun
	var found [2]bool
	for _, r := range rep.Runs {
		if r.Scenario != scenario || r.Pair != pair {
			continue
		}
		i := -1
		switch r.Impl {
		case implSDK:
			i = 0
		case implSteadylog:
			i = 1
		}
		if i < 0 {
			continue
		}
		if r.Timeline == nil || len(r.Timeline.Samples) < 2 {
			return out, fmt.Errorf("%s pair %d %s: no timeline (run the benchmark with -sample)", scenario, pair, r.Impl)
		}
		out[i], found[i] = r, true
	}
	if !found[0] || !found[1] {
		return out, fmt.Errorf("scenario %s pair %d: want an sdk and a steadylog run", scenario, pair)
	}
	return out, nil
}

// rowSpec is one row of the side-by-side figure: the same chart for each
// implementation, on the same scales.
type rowSpec struct {
	title, yLabel string
	// lines returns a run's series; none, with a note, when the
	// implementation has no such figure.
	lines func(r serviceRun, window float64) (lines []series, note string)
	// yMax, when positive, fixes the axis (the breaker's states).
	yMax float64
	// states, when set, labels the axis with the breaker's states and
	// draws the lines as steps.
	states bool
}

// rows are what the side-by-side picture shows, top to bottom.
var rows = []rowSpec{
	{"records / s", "records/s", func(r serviceRun, w float64) ([]series, string) {
		tl := r.Timeline
		return []series{
			{"emitted by the service", rates(tl, func(s sample) float64 { return s.Emitted }, w)},
			{"exported (export calls that succeeded)", rates(tl, func(s sample) float64 { return s.ExportOK }, w)},
			{"accepted by the Collector (its own count)", collectorRates(tl, w)},
		}, ""
	}, 0, false},
	{"records held in the processor", "records", func(r serviceRun, _ float64) ([]series, string) {
		name := "queued + in flight (Stats)"
		if r.Impl == implSDK {
			name = "queue (its queue.size metric)"
		}
		return []series{{name, values(r.Timeline, func(s sample) (float64, bool) { return s.Queued, true })}}, ""
	}, 0, false},
	{"bytes held in the processor", "MiB", func(r serviceRun, _ float64) ([]series, string) {
		if r.Impl == implSDK {
			return nil, "not reported by the SDK"
		}
		return []series{{"queued + in flight (Stats)", values(r.Timeline, func(s sample) (float64, bool) {
			if s.QueuedBytes == nil {
				return 0, false
			}
			return *s.QueuedBytes / (1 << 20), true
		})}}, ""
	}, 0, false},
	{"records dropped / s, by reason", "records/s", func(r serviceRun, w float64) ([]series, string) {
		var out []series
		for _, reason := range reasons(r.Timeline) {
			out = append(out, series{reason, rates(r.Timeline, func(s sample) float64 { return float64(s.Dropped[reason]) }, w)})
		}
		if r.Impl == implSDK {
			// The BatchProcessor does not retry: a failed export's records
			// are gone, though it counts no drop for them.
			out = append(out, series{"in failed exports (not retried)", rates(r.Timeline, func(s sample) float64 { return s.ExportFailedRecords }, w)})
		}
		return out, ""
	}, 0, false},
	{"failed export calls / s", "calls/s", func(r serviceRun, w float64) ([]series, string) {
		return []series{{"failed calls to otlploghttp", rates(r.Timeline, func(s sample) float64 { return s.ExportFailedCalls }, w)}}, ""
	}, 0, false},
	{"circuit breaker", "state", func(r serviceRun, _ float64) ([]series, string) {
		if r.Impl == implSDK {
			return nil, "the SDK has none"
		}
		return []series{{"breaker state", values(r.Timeline, func(s sample) (float64, bool) {
			if s.Breaker == nil {
				return 0, false
			}
			return *s.Breaker, true
		})}}, ""
	}, 2.6, true},
}

// reasons lists the drop reasons a timeline ever counted, sorted.
func reasons(tl *timeline) []string {
	seen := map[string]bool{}
	for _, s := range tl.Samples {
		for r, n := range s.Dropped {
			if n > 0 {
				seen[r] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// secs is t's offset from the timeline's start, in seconds.
func secs(tl *timeline, t int64) float64 { return float64(t-tl.Start) / 1e9 }

// values maps each sample to a point; samples without the figure are left
// out.
func values(tl *timeline, f func(sample) (float64, bool)) plotter.XYs {
	var out plotter.XYs
	for _, s := range tl.Samples {
		if v, ok := f(s); ok {
			out = append(out, plotter.XY{X: secs(tl, s.At), Y: v})
		}
	}
	return out
}

// rates turns a cumulative count into a rate per second over trailing
// windows of at least window seconds (the samples' own spacing when
// larger), plotted at each window's end.
func rates(tl *timeline, count func(sample) float64, window float64) plotter.XYs {
	pts := make([]point, len(tl.Samples))
	for i, s := range tl.Samples {
		pts[i] = point{s.At, count(s)}
	}
	return rateOf(tl, pts, window, math.Inf(1))
}

// collectorRates is rates over the Collector's accepted count, broken where
// the Collector did not answer (a window spanning a gap of more than three
// intervals is not drawn).
func collectorRates(tl *timeline, window float64) plotter.XYs {
	pts := make([]point, len(tl.Collector))
	for i, s := range tl.Collector {
		pts[i] = point{s.At, s.Accepted}
	}
	return rateOf(tl, pts, window, 3*tl.IntervalMs/1e3)
}

type point struct {
	at int64
	v  float64
}

func rateOf(tl *timeline, pts []point, window, maxGap float64) plotter.XYs {
	var out plotter.XYs
	j := 0
	for i := 1; i < len(pts); i++ {
		if float64(pts[i].at-pts[i-1].at)/1e9 > maxGap {
			j = i // no window reaches back over a gap
			continue
		}
		for j+1 < i && float64(pts[i].at-pts[j+1].at)/1e9 >= window {
			j++
		}
		if j == i {
			continue
		}
		dt := float64(pts[i].at-pts[j].at) / 1e9
		if dt <= 0 {
			continue
		}
		out = append(out, plotter.XY{X: secs(tl, pts[i].at), Y: math.Max(0, pts[i].v-pts[j].v) / dt})
	}
	return out
}

// reasonColors keeps a drop reason's colour the same in both columns.
var reasonColors = map[string]color.Color{
	"queue_full":                      color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"byte_limit":                      color.RGBA{R: 255, G: 127, B: 14, A: 255},
	"in failed exports (not retried)": color.RGBA{R: 148, G: 103, B: 189, A: 255},
	"export_failed":                   color.RGBA{R: 140, G: 86, B: 75, A: 255},
	"shutdown":                        color.RGBA{R: 31, G: 119, B: 180, A: 255},
}

// colorOf is a drop reason's own colour, or the panel's i-th.
func colorOf(name string, i int) color.Color {
	if c, ok := reasonColors[name]; ok {
		return c
	}
	return palette[i%len(palette)]
}

// renderService draws the side-by-side figure of scenario's pair from the
// benchmark's JSON at in and writes it to out. window is the rate window in
// seconds; title, when set, replaces the first title line.
func renderService(in, out, scenario string, pair int, window float64, title string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var rep serviceReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	runs, err := pickRuns(rep, scenario, pair)
	if err != nil {
		return err
	}
	if window <= 0 {
		return errors.New("the rate window must be positive")
	}
	// One time axis for both columns: from the first sample of either to
	// the last.
	x0, x1 := math.Inf(1), math.Inf(-1)
	for _, r := range runs {
		tl := r.Timeline
		x0 = math.Min(x0, secs(tl, tl.Samples[0].At))
		x1 = math.Max(x1, secs(tl, tl.Samples[len(tl.Samples)-1].At))
	}
	var plots [][]*plot.Plot
	for _, row := range rows {
		var lines [2][]series
		var notes [2]string
		yMax := 1.0
		for c, r := range runs {
			lines[c], notes[c] = row.lines(r, window)
			for _, s := range lines[c] {
				for _, xy := range s.xys {
					yMax = math.Max(yMax, xy.Y)
				}
			}
		}
		if row.yMax > 0 {
			yMax = row.yMax
		} else {
			yMax *= 1.3 // room for the legend
		}
		var pr []*plot.Plot
		for c, r := range runs {
			p, err := sideChart(implTitle[r.Impl]+": "+row.title, row.yLabel, lines[c], notes[c], r, x0, x1, yMax, row.states)
			if err != nil {
				return err
			}
			pr = append(pr, p)
		}
		plots = append(plots, pr)
	}
	if title == "" {
		title = fmt.Sprintf("The Collector %s: the SDK's BatchProcessor and steadylog, each with its defaults", faultText(scenario))
	}
	lines := []string{title}
	for _, r := range runs {
		lines = append(lines, fmt.Sprintf("%s: %d records emitted, %d received by the Collector, %d lost; of the %d emitted from the fault's start to 1 s after recovery, %d lost (%.0f%%)",
			implTitle[r.Impl], r.Emitted, r.Received, r.Lost, r.WindowEmitted, r.WindowLost, 100*r.WindowLostShare))
	}
	return render(plots, 32*vg.Centimeter, 44*vg.Centimeter, lines, out)
}

// faultText says what the benchmark's scenario did to the Collector.
func faultText(scenario string) string {
	switch scenario {
	case "blip":
		return "SIGKILLed and restarted 1 s later"
	case "kill5":
		return "SIGKILLed and restarted 5 s later"
	case "stop8":
		return "SIGSTOPped for 8 s"
	case "healthy":
		return "healthy"
	}
	return "in scenario " + scenario
}

// sideChart is one panel of the side-by-side figure, the fault from its
// start to the Collector's recovery shaded.
func sideChart(title, yLabel string, lines []series, note string, r serviceRun, x0, x1, yMax float64, states bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	if note != "" {
		p.Title.Text += " — " + note
	}
	p.X.Label.Text = "seconds from the measurement's start"
	p.Y.Label.Text = yLabel
	p.X.Min, p.X.Max = x0, x1
	p.Y.Min, p.Y.Max = 0, yMax
	p.Legend.Top = true
	p.Y.Tick.Marker = wholeTicks{}
	if states {
		p.Y.Tick.Marker = plot.ConstantTicks{{Value: 0, Label: "closed"}, {Value: 1, Label: "half-open"}, {Value: 2, Label: "open"}}
	}
	if r.Recovered > r.FaultStart && r.FaultStart > 0 {
		f0, f1 := secs(r.Timeline, r.FaultStart), secs(r.Timeline, r.Recovered)
		band, err := plotter.NewPolygon(plotter.XYs{{X: f0, Y: 0}, {X: f1, Y: 0}, {X: f1, Y: yMax}, {X: f0, Y: yMax}})
		if err != nil {
			return nil, err
		}
		band.Color = color.RGBA{R: 230, G: 230, B: 230, A: 255}
		band.LineStyle.Width = 0
		p.Add(band)
		p.Legend.Add("Collector down", band)
	}
	gap := 3 * r.Timeline.IntervalMs / 1e3
	for i, s := range lines {
		if len(s.xys) == 0 {
			continue
		}
		for j, seg := range segments(s.xys, gap) {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.Color = colorOf(s.name, i)
			l.Width = vg.Points(1.5)
			if states {
				// A state holds until the next sample.
				l.StepStyle = plotter.PostStep
			}
			p.Add(l)
			if j == 0 {
				p.Legend.Add(s.name, l)
			}
		}
	}
	return p, nil
}

// wholeTicks are gonum's default ticks, labelled without decimals when
// every labelled tick is a whole number (gonum writes "25000.00").
type wholeTicks struct{}

func (wholeTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for _, t := range ts {
		if t.Label != "" && t.Value != math.Trunc(t.Value) {
			return ts
		}
	}
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', 0, 64)
		}
	}
	return ts
}
