package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// PromAPI is a minimal client for the Prometheus HTTP API's instant queries.
type PromAPI struct {
	// BaseURL is e.g. "http://127.0.0.1:9090".
	BaseURL string
	// Client is the HTTP client; nil means a client with a 10 s timeout.
	Client *http.Client
}

// Sample is one element of an instant-vector result.
type Sample struct {
	Metric map[string]string
	Time   time.Time
	Value  float64
}

// ErrPromQuery is wrapped by errors the server reports for a query.
var ErrPromQuery = errors.New("harness: prometheus query failed")

// Query evaluates expr at the current time via /api/v1/query and returns the
// instant vector. A scalar result is returned as a single sample without labels.
func (a *PromAPI) Query(ctx context.Context, expr string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		a.BaseURL+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	client := a.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	var out struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("harness: decoding query response (%s): %w", resp.Status, err)
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("%w: %q: %s: %s", ErrPromQuery, expr, out.ErrorType, out.Error)
	}
	switch out.Data.ResultType {
	case "vector":
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(out.Data.Result, &raw); err != nil {
			return nil, fmt.Errorf("harness: decoding vector: %w", err)
		}
		samples := make([]Sample, 0, len(raw))
		for _, r := range raw {
			s, err := parsePromPoint(r.Value)
			if err != nil {
				return nil, err
			}
			s.Metric = r.Metric
			samples = append(samples, s)
		}
		return samples, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(out.Data.Result, &v); err != nil {
			return nil, fmt.Errorf("harness: decoding scalar: %w", err)
		}
		s, err := parsePromPoint(v)
		if err != nil {
			return nil, err
		}
		return []Sample{s}, nil
	default:
		return nil, fmt.Errorf("%w: %q: unsupported result type %q", ErrPromQuery, expr, out.Data.ResultType)
	}
}

// WaitQuery polls Query until cond accepts the result or ctx ends, returning the
// last result.
func (a *PromAPI) WaitQuery(ctx context.Context, expr string, cond func([]Sample) bool) ([]Sample, error) {
	var last []Sample
	err := Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		s, err := a.Query(ctx, expr)
		if err != nil {
			return false, err
		}
		last = s
		return cond(s), fmt.Errorf("condition not met, result %v", s)
	})
	return last, err
}

func parsePromPoint(v [2]any) (Sample, error) {
	ts, ok := v[0].(float64)
	if !ok {
		return Sample{}, fmt.Errorf("%w: bad timestamp %v", ErrPromQuery, v[0])
	}
	str, ok := v[1].(string)
	if !ok {
		return Sample{}, fmt.Errorf("%w: bad value %v", ErrPromQuery, v[1])
	}
	val, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("%w: value %q: %v", ErrPromQuery, str, err)
	}
	sec := int64(ts)
	return Sample{Time: time.Unix(sec, int64((ts-float64(sec))*1e9)), Value: val}, nil
}
