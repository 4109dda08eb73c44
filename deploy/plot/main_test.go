package main

import (
	"context"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotter"
)

// TestRunDrawsFromPrometheusAPI serves canned query_range answers in
// Prometheus' format and checks that run writes a PNG of the expected size,
// that each panel's query was asked, and that an API error is reported.
func TestRunDrawsFromPrometheusAPI(t *testing.T) {
	asked := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		asked[q] = true
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(q, "error_type!=") {
			// Drops and errors: one series by reason.
			_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"error_type":"queue_full"},"values":[[100,"0"],[110,"1500"],[120,"0"]]}]}}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[100,"1"],[110,"2"],[120,"3"]]}]}}`))
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "out.png")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, srv.URL, 100, 120, 105, 115, 2*time.Second, out, "test"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 500 || b.Dy() < 500 {
		t.Errorf("image %v", b)
	}
	for _, p := range panels {
		for _, q := range p.queries {
			if !asked[q.expr] {
				t.Errorf("panel %q: query %s not asked", p.title, q.expr)
			}
		}
	}
}

func TestRunReportsPrometheusErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
	}))
	defer srv.Close()
	err := run(context.Background(), srv.URL, 100, 120, 0, 0, time.Second, filepath.Join(t.TempDir(), "x.png"), "t")
	if err == nil || !strings.Contains(err.Error(), "parse error") {
		t.Fatalf("want the API's error, got %v", err)
	}
}

func TestSegmentsBreakAtGaps(t *testing.T) {
	xys := plotter.XYs{{X: 0}, {X: 2}, {X: 4}, {X: 20}, {X: 22}}
	got := segments(xys, 4)
	if len(got) != 2 || len(got[0]) != 3 || len(got[1]) != 2 {
		t.Fatalf("segments: %v", got)
	}
	if len(segments(nil, 4)) != 0 {
		t.Fatal("no samples, no segments")
	}
}

// TestRenderServiceDrawsAPair draws the fixture, a short blip pair recorded
// by the service benchmark, and checks the PNG decodes at the figure's size.
func TestRenderServiceDrawsAPair(t *testing.T) {
	out := filepath.Join(t.TempDir(), "side.png")
	if err := renderService("testdata/service.json", out, "blip", 0, 0.5, ""); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 32 × 44 cm at the default 96 dpi.
	if b := img.Bounds(); b.Dx() < 1100 || b.Dy() < 1600 || b.Dx() > 1300 || b.Dy() > 1800 {
		t.Errorf("image %v", b)
	}
}

func TestRenderServiceRefusesWhatItCannotDraw(t *testing.T) {
	dir := t.TempDir()
	noTimeline := filepath.Join(dir, "plain.json")
	if err := os.WriteFile(noTimeline, []byte(`{"runs":[{"scenario":"kill5","impl":"sdk"},{"scenario":"kill5","impl":"steadylog"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, in, scenario string
		pair               int
		want               string
	}{
		{"no such scenario", "testdata/service.json", "kill5", 0, "want an sdk and a steadylog run"},
		{"no such pair", "testdata/service.json", "blip", 1, "want an sdk and a steadylog run"},
		{"no timeline", noTimeline, "kill5", 0, "no timeline"},
		{"no file", filepath.Join(dir, "none.json"), "kill5", 0, "no such file"},
	} {
		err := renderService(c.in, filepath.Join(dir, "x.png"), c.scenario, c.pair, 0.5, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want an error containing %q, got %v", c.name, c.want, err)
		}
	}
}

func TestRatesUseTrailingWindowsAndStopAtGaps(t *testing.T) {
	const s = int64(1e9)
	tl := &timeline{Start: 0, IntervalMs: 100}
	// 100 records every 100 ms: 1,000/s.
	for i := range 11 {
		tl.Samples = append(tl.Samples, sample{At: int64(i) * s / 10, Emitted: float64(100 * i)})
	}
	got := rates(tl, func(x sample) float64 { return x.Emitted }, 0.5)
	if len(got) != 10 {
		t.Fatalf("want a rate at every sample after the first, got %v", got)
	}
	for _, xy := range got {
		if xy.Y < 999 || xy.Y > 1001 {
			t.Errorf("rate at %.1f s: %.1f, want 1000", xy.X, xy.Y)
		}
	}
	// The Collector answered at 0–0.3 s and again from 1.3 s: no rate
	// spans the gap.
	tl.Collector = []colSmpl{{0, 0}, {s / 10, 10}, {2 * s / 10, 20}, {3 * s / 10, 30}, {13 * s / 10, 500}, {14 * s / 10, 510}, {15 * s / 10, 520}}
	got = collectorRates(tl, 0.2)
	for _, xy := range got {
		if xy.Y < 99 || xy.Y > 101 {
			t.Errorf("collector rate at %.1f s: %.1f, want 100 (no window across the gap)", xy.X, xy.Y)
		}
	}
	if len(got) != 5 {
		t.Errorf("want 3 rates before the gap and 2 after, got %v", got)
	}
}

func TestWholeTicksDropDecimalsOnlyFromWholeNumbers(t *testing.T) {
	for _, tk := range (wholeTicks{}).Ticks(0, 75000) {
		if strings.Contains(tk.Label, ".") {
			t.Errorf("tick %v: label %q", tk.Value, tk.Label)
		}
	}
	var fractional bool
	for _, tk := range (wholeTicks{}).Ticks(0, 1.3) {
		fractional = fractional || strings.Contains(tk.Label, ".")
	}
	if !fractional {
		t.Error("ticks between 0 and 1.3 need their decimals")
	}
}
