package main

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	bh "github.com/steadylog/steadylog/benchmarks/internal/harness"
)

// loadResult is what the load generator measured between measureStart and
// measureEnd: requests that started and finished inside that window.
type loadResult struct {
	Completed uint64
	Errors    uint64
	Latency   bh.Histogram
	// PerSecond counts completions in each second since measureStart.
	PerSecond []uint64
}

// runLoad runs clients closed-loop clients against url (each issues its next
// request as soon as the previous one is answered) from now until
// measureEnd, counting only what falls inside [measureStart, measureEnd].
func runLoad(url string, clients int, measureStart, measureEnd time.Time) *loadResult {
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients,
		IdleConnTimeout: time.Minute, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	seconds := int(measureEnd.Sub(measureStart)/time.Second) + 1

	ctx, cancel := context.WithDeadline(context.Background(), measureEnd)
	defer cancel()
	var (
		mu     sync.Mutex
		total  loadResult
		errors atomic.Uint64
		wg     sync.WaitGroup
	)
	total.PerSecond = make([]uint64, seconds)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h bh.Histogram
			perSec := make([]uint64, seconds)
			var done uint64
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/items/"+itoa(c*1_000_000+i), nil)
				start := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
				}
				end := time.Now()
				if start.Before(measureStart) || end.After(measureEnd) {
					continue
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					if ctx.Err() == nil {
						errors.Add(1)
					}
					continue
				}
				h.Record(end.Sub(start))
				done++
				if s := int(end.Sub(measureStart) / time.Second); s < seconds {
					perSec[s]++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total.Latency.Merge(&h)
			total.Completed += done
			for i, n := range perSec {
				total.PerSecond[i] += n
			}
		}()
	}
	wg.Wait()
	total.Errors = errors.Load()
	return &total
}
