// Command plot renders a run of the steadylog demo stack, as its Prometheus
// recorded it, into one PNG: exported records per second, queue depth,
// queued bytes, drops per second by reason and the circuit breaker's state,
// with the Collector outage shaded. scripts/outage-plot.sh makes such a run
// (the demo stack, a Collector outage) and calls it; the README's picture
// is its output.
//
//	go run . -prometheus http://127.0.0.1:9090 -start 1796616800 -end 1796616920 \
//	    -outage-start 1796616840 -outage-end 1796616870 -o outage.png
//
// With -service it draws instead the service benchmark's JSON
// (benchmarks/cmd/service run with -sample): the SDK's BatchProcessor and
// steadylog side by side, one column each, on the same scales, with the
// Collector's fault shaded. scripts/service-plot.sh makes that picture.
//
//	go run . -service ../../benchmarks/results/service-kill5-timeline.json -scenario kill5 -o side.png
//
// It is a module of its own (gonum.org/v1/plot stays out of steadylog's
// module graph) and only reads Prometheus' HTTP API.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// panel is one chart: its queries (one line per returned series) and axis.
type panel struct {
	title, yLabel string
	queries       []query
}

type query struct {
	expr string
	// legend names a series from its labels.
	legend func(labels map[string]string) string
}

func fixed(name string) func(map[string]string) string {
	return func(map[string]string) string { return name }
}

// panels are what the README's picture shows, from loadgen's own metrics
// (job steadylog) and the Collector's.
var panels = []panel{
	{"Exported / s (steadylog) and accepted / s (Collector)", "records/s", []query{
		{`sum(rate(otel_sdk_processor_log_processed_total{job="steadylog",error_type=""}[15s]))`, fixed("exported by steadylog")},
		{`sum(rate(otelcol_receiver_accepted_log_records[15s]))`, fixed("accepted by the Collector")},
	}},
	{"Queue depth", "records", []query{
		{`sum(otel_sdk_processor_log_queue_size{job="steadylog"})`, fixed("queued")},
		{`sum(otel_sdk_processor_log_queue_capacity{job="steadylog"})`, fixed("capacity")},
	}},
	{"Queued bytes", "MiB", []query{
		{`sum(steadylog_processor_queue_bytes{job="steadylog"}) / 1048576`, fixed("queued")},
	}},
	{"Dropped / s by reason", "records/s", []query{
		{`sum by (error_type) (rate(otel_sdk_processor_log_processed_total{job="steadylog",error_type!=""}[15s])) > 0`,
			func(l map[string]string) string { return l["error_type"] }},
	}},
	{"Circuit breaker (0 closed, 1 half-open, 2 open)", "state", []query{
		{`max(steadylog_breaker_state{job="steadylog",state="half-open"}) + 2 * max(steadylog_breaker_state{job="steadylog",state="open"})`, fixed("breaker \"collector\"")},
	}},
	{"Failed exports / s by class", "calls/s", []query{
		{`sum by (error_type) (rate(steadylog_processor_export_duration_seconds_count{job="steadylog",error_type!=""}[15s])) > 0`,
			func(l map[string]string) string { return l["error_type"] }},
	}},
}

func main() {
	var (
		promURL          = flag.String("prometheus", "http://127.0.0.1:9090", "Prometheus base URL")
		start, end       = flag.Int64("start", 0, "range start (Unix seconds)"), flag.Int64("end", 0, "range end (Unix seconds)")
		outStart, outEnd = flag.Int64("outage-start", 0, "Collector stopped (Unix seconds; 0: none)"), flag.Int64("outage-end", 0, "Collector started again (Unix seconds)")
		step             = flag.Duration("step", 2*time.Second, "query resolution")
		out              = flag.String("o", "outage.png", "output PNG")
		title            = flag.String("title", "", "figure title (default: one saying what was run)")
		service          = flag.String("service", "", "draw the service benchmark's JSON (run with -sample) instead of asking Prometheus")
		scenario         = flag.String("scenario", "kill5", "with -service: the scenario to draw")
		pair             = flag.Int("pair", 0, "with -service: the pair of runs to draw")
		window           = flag.Duration("window", 500*time.Millisecond, "with -service: the window of each rate")
	)
	flag.Parse()
	if *service != "" {
		if err := renderService(*service, *out, *scenario, *pair, window.Seconds(), *title); err != nil {
			fmt.Fprintln(os.Stderr, "plot:", err)
			os.Exit(1)
		}
		return
	}
	if *title == "" {
		*title = "steadylog demo: the Collector stopped"
	}
	if *start == 0 || *end <= *start {
		fmt.Fprintln(os.Stderr, "plot: -start and -end (Unix seconds, end after start) are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, *promURL, *start, *end, *outStart, *outEnd, *step, *out, *title); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

// series is one line: seconds since the range start, values.
type series struct {
	name string
	xys  plotter.XYs
}

func run(ctx context.Context, promURL string, start, end, outStart, outEnd int64, step time.Duration, out, title string) error {
	client := &http.Client{Timeout: 20 * time.Second}
	var plots [][]*plot.Plot
	row := []*plot.Plot{}
	for i, pn := range panels {
		var all []series
		for _, q := range pn.queries {
			s, err := queryRange(ctx, client, promURL, q, start, end, step)
			if err != nil {
				return fmt.Errorf("%s: %w", pn.title, err)
			}
			all = append(all, s...)
		}
		p, err := chart(pn, all, float64(end-start), float64(outStart-start), float64(outEnd-start), 2*step.Seconds(), outStart > 0)
		if err != nil {
			return err
		}
		row = append(row, p)
		if len(row) == 2 || i == len(panels)-1 {
			plots = append(plots, row)
			row = nil
		}
	}
	return render(plots, 28*vg.Centimeter, 30*vg.Centimeter, []string{title}, out)
}

// render lays plots out in rows of two under the title lines (the first
// larger) and writes the figure as a PNG to out.
func render(plots [][]*plot.Plot, w, h vg.Length, title []string, out string) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	headH := 0.6*vg.Centimeter + vg.Length(len(title))*0.6*vg.Centimeter
	top := draw.Crop(dc, 0, 0, 0, -headH)
	for i, line := range title {
		font := plot.DefaultFont
		font.Size = 14
		if i > 0 {
			font.Size = 11
		}
		dc.FillText(draw.TextStyle{Color: color.Black, Font: font, Handler: plot.DefaultTextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter},
			vg.Point{X: w / 2, Y: h - 0.6*vg.Centimeter - vg.Length(i)*0.6*vg.Centimeter}, line)
	}
	tiles := draw.Tiles{Rows: len(plots), Cols: 2, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: 0.3 * vg.Centimeter, PadBottom: 0.3 * vg.Centimeter, PadLeft: 0.3 * vg.Centimeter, PadRight: 0.5 * vg.Centimeter}
	canvases := plot.Align(plots, tiles, top)
	for r := range plots {
		for c := range plots[r] {
			plots[r][c].Draw(canvases[r][c])
		}
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255}, color.RGBA{R: 140, G: 86, B: 75, A: 255},
}

func chart(pn panel, all []series, span, o0, o1, gap float64, outage bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = pn.title
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = pn.yLabel
	p.X.Min, p.X.Max = 0, span
	p.Y.Min = 0
	p.Legend.Top = true
	maxY := 1.0
	for _, s := range all {
		for _, xy := range s.xys {
			maxY = max(maxY, xy.Y)
		}
	}
	p.Y.Max = maxY * 1.15
	if outage {
		band, err := plotter.NewPolygon(plotter.XYs{{X: o0, Y: 0}, {X: o1, Y: 0}, {X: o1, Y: p.Y.Max}, {X: o0, Y: p.Y.Max}})
		if err != nil {
			return nil, err
		}
		band.Color = color.RGBA{R: 230, G: 230, B: 230, A: 255}
		band.LineStyle.Width = 0
		p.Add(band)
		p.Legend.Add("Collector stopped", band)
	}
	if len(all) == 0 {
		// Nothing happened (no drops, say): an empty chart says so.
		p.Title.Text += " — none"
	}
	for i, s := range all {
		// A gap in the samples (a target down, such as the Collector's own
		// metrics during the outage) stays a gap: one line per run.
		for j, seg := range segments(s.xys, gap) {
			l, err := plotter.NewLine(seg)
			if err != nil {
				return nil, err
			}
			l.Color = palette[i%len(palette)]
			l.Width = vg.Points(1.5)
			p.Add(l)
			if j == 0 {
				p.Legend.Add(s.name, l)
			}
		}
	}
	return p, nil
}

// segments splits xys where consecutive samples are more than gap apart.
func segments(xys plotter.XYs, gap float64) []plotter.XYs {
	var out []plotter.XYs
	begin := 0
	for i := 1; i <= len(xys); i++ {
		if i == len(xys) || xys[i].X-xys[i-1].X > gap {
			out = append(out, xys[begin:i])
			begin = i
		}
	}
	return out
}

// queryRange runs a range query and returns its series, NaNs skipped.
func queryRange(ctx context.Context, client *http.Client, base string, q query, start, end int64, step time.Duration) ([]series, error) {
	v := url.Values{
		"query": {q.expr},
		"start": {strconv.FormatInt(start, 10)},
		"end":   {strconv.FormatInt(end, 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query_range?"+v.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return decodeMatrix(resp, q, start)
}

func decodeMatrix(resp *http.Response, q query, start int64) ([]series, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %w", resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", q.expr, r.Error)
	}
	if r.Data.ResultType != "matrix" {
		return nil, fmt.Errorf("%s: result type %q", q.expr, r.Data.ResultType)
	}
	var out []series
	for _, res := range r.Data.Result {
		s := series{name: q.legend(res.Metric)}
		for _, pair := range res.Values {
			t, ok := pair[0].(float64)
			vs, ok2 := pair[1].(string)
			if !ok || !ok2 {
				return nil, errors.New("malformed sample")
			}
			y, err := strconv.ParseFloat(vs, 64)
			if err != nil {
				return nil, err
			}
			s.xys = append(s.xys, plotter.XY{X: t - float64(start), Y: y})
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}
