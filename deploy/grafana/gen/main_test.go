package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// committed is the dashboard file this program generates, relative to this
// package's directory (where go test runs).
var committed = filepath.Join("..", "dashboards", "steadylog.json")

const regenerate = "regenerate it with `go generate ./deploy/grafana/gen` " +
	"(or `go run ./deploy/grafana/gen -o deploy/grafana/dashboards/steadylog.json`) and commit the result"

// TestCommittedDashboardIsCurrent fails when deploy/grafana/dashboards/steadylog.json
// is not exactly what the generator writes: the JSON was edited by hand, or
// the generator was changed without regenerating it.
func TestCommittedDashboardIsCurrent(t *testing.T) {
	want, err := render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("read the committed dashboard: %v; %s", err, regenerate)
	}
	if bytes.Equal(got, want) {
		return
	}
	// Say first whether the difference is only one of formatting.
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("deploy/grafana/dashboards/steadylog.json is not valid JSON (%v); %s", err, regenerate)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	gn, _ := json.Marshal(g)
	wn, _ := json.Marshal(w)
	what := "its content differs"
	if bytes.Equal(gn, wn) {
		what = "its content is the same but its formatting differs"
	}
	line, gl, wl := firstDifferentLine(got, want)
	t.Fatalf("deploy/grafana/dashboards/steadylog.json is not what deploy/grafana/gen generates: %s; "+
		"first difference at line %d:\n  committed: %s\n  generated: %s\n%s",
		what, line, gl, wl, regenerate)
}

// firstDifferentLine returns the number and the two versions of the first
// line where a and b differ (an empty string past the end of one).
func firstDifferentLine(a, b []byte) (int, string, string) {
	al, bl := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; ; i++ {
		var x, y []byte
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if !bytes.Equal(x, y) || i >= len(al) || i >= len(bl) {
			return i + 1, string(x), string(y)
		}
	}
}

// TestRenderIsDeterministic guards the byte comparison above: two runs of
// the generator write the same bytes.
func TestRenderIsDeterministic(t *testing.T) {
	a, err := render()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := render()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatal("render wrote different bytes on two runs")
		}
	}
}

// TestPanels checks what the integration tests and the README rely on: unique
// panel ids and refIds, every target with an expression and the provisioned
// datasource, a grid without overlaps, and each row above its own panels.
func TestPanels(t *testing.T) {
	d, err := build()
	if err != nil {
		t.Fatal(err)
	}
	want := len(panels)
	for _, r := range rows {
		want += 1 + len(r.panels)
	}
	if len(d.Panels) != want {
		t.Fatalf("%d panels and rows built, want %d", len(d.Panels), want)
	}
	type cell struct{ x, y uint32 }
	used := map[cell]string{}
	ids := map[uint32]bool{}
	claim := func(id uint32, title string, pos *dashboard.GridPos) {
		if ids[id] {
			t.Errorf("panel id %d repeated", id)
		}
		ids[id] = true
		for x := pos.X; x < pos.X+pos.W; x++ {
			for y := pos.Y; y < pos.Y+pos.H; y++ {
				if prev, ok := used[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at (%d, %d)", prev, title, x, y)
				}
				used[cell{x, y}] = title
			}
		}
		if pos.X+pos.W > 24 {
			t.Errorf("panel %q is wider than the grid", title)
		}
	}
	queries := 0
	var rowTitles []string
	var rowY uint32              // the last row's, 0 before the first
	inRow := map[string]string{} // panel title → row title
	for _, pr := range d.Panels {
		if r := pr.RowPanel; r != nil {
			if r.Title == nil || r.GridPos == nil || r.Id == 0 {
				t.Fatalf("row without id, title or grid position: %+v", r)
			}
			if len(r.Panels) != 0 || r.Collapsed {
				t.Errorf("row %q: an expanded row holds no panels, those below it are its own", *r.Title)
			}
			claim(r.Id, *r.Title, r.GridPos)
			rowTitles = append(rowTitles, *r.Title)
			rowY = r.GridPos.Y
			continue
		}
		p := pr.Panel
		if p == nil || p.Id == nil || p.Title == nil || p.GridPos == nil {
			t.Fatalf("panel without id, title or grid position: %+v", pr)
		}
		claim(*p.Id, *p.Title, p.GridPos)
		if len(rowTitles) > 0 {
			if p.GridPos.Y <= rowY {
				t.Errorf("panel %q is not below its row %q", *p.Title, rowTitles[len(rowTitles)-1])
			}
			inRow[*p.Title] = rowTitles[len(rowTitles)-1]
		}
		if p.Datasource == nil || *p.Datasource.Uid != datasourceUID {
			t.Errorf("panel %q: datasource %+v", *p.Title, p.Datasource)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			b, err := json.Marshal(tg)
			if err != nil {
				t.Fatal(err)
			}
			var q struct {
				RefID      string `json:"refId"`
				Expr       string `json:"expr"`
				Datasource struct {
					UID string `json:"uid"`
				} `json:"datasource"`
			}
			if err := json.Unmarshal(b, &q); err != nil {
				t.Fatal(err)
			}
			if q.RefID == "" || refs[q.RefID] || q.Expr == "" || q.Datasource.UID != datasourceUID {
				t.Errorf("panel %q: bad or repeated target %s", *p.Title, b)
			}
			refs[q.RefID] = true
			queries++
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no targets", *p.Title)
		}
	}
	for _, r := range rows {
		for _, p := range r.panels {
			if inRow[p.title] != r.title {
				t.Errorf("panel %q is in row %q, want %q", p.title, inRow[p.title], r.title)
			}
		}
	}
	// The README's account of TestComposeStack counts them: 23, and the
	// Spool row's 9, which the demo (loadgen, without a spool) leaves empty.
	if queries != 32 {
		t.Errorf("%d queries, want 32: a query was added or removed; update this count and the README's", queries)
	}
}
