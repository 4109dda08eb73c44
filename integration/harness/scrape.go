package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// ScrapeMetric fetches a Prometheus text-format endpoint and returns the sum of
// the samples of metric name whose labels include every pair in labels. A metric
// that is absent yet (collectors create series lazily) sums to 0 without error.
func ScrapeMetric(ctx context.Context, url, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("harness: scrape %s: %s", url, resp.Status)
	}
	return sumSamples(resp.Body, name, labels)
}

// sumSamples parses the text exposition format just far enough for counters and
// gauges: `name{k="v",...} value [timestamp]`.
func sumSamples(r io.Reader, name string, labels map[string]string) (float64, error) {
	var sum float64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		var lbls map[string]string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				return 0, fmt.Errorf("harness: malformed sample %q", line)
			}
			lbls = parseLabels(rest[1:end])
			rest = rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer metric name sharing the prefix
		}
		if !labelsMatch(lbls, labels) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("harness: sample without value %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("harness: sample value in %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		eq := strings.Index(s, "=")
		if eq < 0 {
			break
		}
		key := strings.TrimSpace(strings.TrimLeft(s[:eq], ","))
		s = s[eq+1:]
		if !strings.HasPrefix(s, `"`) {
			break
		}
		// Find the closing quote, honouring backslash escapes.
		i := 1
		for i < len(s) && s[i] != '"' {
			if s[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(s) {
			break
		}
		val, err := strconv.Unquote(s[:i+1])
		if err != nil {
			val = s[1:i]
		}
		out[key] = val
		s = s[i+1:]
	}
	return out
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
