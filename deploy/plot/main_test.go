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
