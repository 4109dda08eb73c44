package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// errNoBenchmarks is returned for an input with no benchmark result lines.
var errNoBenchmarks = errors.New("summarize: no benchmark results in input")

// procsSuffix is the -GOMAXPROCS suffix the testing package appends.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// samples holds every value of one metric unit for one implementation.
type samples map[string][]float64 // unit → values

// row is one benchmark configuration (a name without its impl= key) and
// its samples per implementation.
type row struct {
	config string // e.g. "shape=small/par=serial"
	impls  map[string]samples
}

// family is one top-level benchmark (OnEmit, Emit, …) in input order.
type family struct {
	name    string
	rows    []*row
	byName  map[string]*row
	impls   []string // in order of first appearance
	hasUnit map[string]bool
}

// benchData is a parsed `go test -bench` output.
type benchData struct {
	header   map[string]string // goos, goarch, pkg, cpu
	families []*family
	byName   map[string]*family
}

// medianOf returns the median of the named samples and whether any exist.
func (d *benchData) median(fam, config, impl, unit string) (float64, bool) {
	f := d.byName[fam]
	if f == nil {
		return 0, false
	}
	r := f.byName[config]
	if r == nil {
		return 0, false
	}
	return median(r.impls[impl][unit])
}

// median returns the median of vs (the mean of the middle two for an even
// count), as benchstat reports it, and false for no values.
func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// splitName turns "BenchmarkOnEmit/shape=small/impl=sdk-2" into family
// "OnEmit", config "shape=small" and impl "sdk". Names without an impl=
// key are not comparisons and report ok=false.
func splitName(full string) (fam, config, impl string, ok bool) {
	full = strings.TrimPrefix(full, "Benchmark")
	full = procsSuffix.ReplaceAllString(full, "")
	parts := strings.Split(full, "/")
	var rest []string
	for _, p := range parts[1:] {
		if v, found := strings.CutPrefix(p, "impl="); found {
			impl = v
			continue
		}
		rest = append(rest, p)
	}
	if impl == "" {
		return "", "", "", false
	}
	return parts[0], strings.Join(rest, "/"), impl, true
}

// parseBench reads `go test -bench` output (any number of -count runs,
// possibly several packages) and groups the values by family, config,
// implementation and unit.
func parseBench(r io.Reader) (*benchData, error) {
	d := &benchData{header: map[string]string{}, byName: map[string]*family{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineNo := 0
	results := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if k, v, found := strings.Cut(line, ":"); found && !strings.HasPrefix(line, "Benchmark") {
			switch k {
			case "goos", "goarch", "pkg", "cpu":
				d.header[k] = strings.TrimSpace(v)
			}
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		fields := strings.Fields(line)
		// name, iterations, then value-unit pairs.
		if len(fields) < 4 || len(fields)%2 != 0 {
			continue // a name printed alone, e.g. before a benchmark's log output
		}
		if _, err := strconv.ParseInt(fields[1], 10, 64); err != nil {
			continue
		}
		fam, config, impl, ok := splitName(fields[0])
		if !ok {
			continue
		}
		vals := samples{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return nil, fmt.Errorf("summarize: line %d: bad value %q: %w", lineNo, fields[i], err)
			}
			vals[fields[i+1]] = append(vals[fields[i+1]], v)
		}
		d.add(fam, config, impl, vals)
		results++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("summarize: reading benchmarks: %w", err)
	}
	if results == 0 {
		return nil, errNoBenchmarks
	}
	return d, nil
}

func (d *benchData) add(fam, config, impl string, vals samples) {
	f := d.byName[fam]
	if f == nil {
		f = &family{name: fam, byName: map[string]*row{}, hasUnit: map[string]bool{}}
		d.byName[fam] = f
		d.families = append(d.families, f)
	}
	r := f.byName[config]
	if r == nil {
		r = &row{config: config, impls: map[string]samples{}}
		f.byName[config] = r
		f.rows = append(f.rows, r)
	}
	if !slices.Contains(f.impls, impl) {
		f.impls = append(f.impls, impl)
	}
	s := r.impls[impl]
	if s == nil {
		s = samples{}
		r.impls[impl] = s
	}
	for unit, vs := range vals {
		s[unit] = append(s[unit], vs...)
		f.hasUnit[unit] = true
	}
}
