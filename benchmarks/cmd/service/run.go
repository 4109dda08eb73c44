package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	ih "github.com/steadylog/steadylog/integration/harness"
)

// Scenarios.
const (
	scenHealthy = "healthy"
	scenBlip    = "blip"
	scenKill5   = "kill5"
	scenStop8   = "stop8"
)

func allScenarios() []string { return []string{scenHealthy, scenBlip, scenKill5, scenStop8} }

// faultLength is how long each scenario's Collector stays down (or frozen).
func faultLength(scen string) (time.Duration, error) {
	switch scen {
	case scenHealthy:
		return 0, nil
	case scenBlip:
		return time.Second, nil
	case scenKill5:
		return 5 * time.Second, nil
	case scenStop8:
		return 8 * time.Second, nil
	}
	return 0, fmt.Errorf("unknown scenario %q (want %v)", scen, allScenarios())
}

// windowTail is added after recovery to make the fault window: records
// emitted from the fault's start to recovery + windowTail are the ones the
// fault puts at risk.
const windowTail = time.Second

// settings of a whole benchmark.
type settings struct {
	otelcol  string
	self     string // the binary to re-exec as the service
	clients  int
	warmup   time.Duration
	duration time.Duration // measured, after the warm-up
	faultAt  time.Duration // offset of the fault from the measurement's start
	shutdown time.Duration // the service's LoggerProvider.Shutdown deadline
	sample   time.Duration // Timeline sampling interval; 0: no Timeline
	pairs    int
	scens    []string
	workDir  string
	keep     bool
	logf     func(format string, args ...any)
}

func (s settings) validate() error {
	if s.clients <= 0 || s.pairs <= 0 || s.duration <= 0 || s.warmup < 0 || s.faultAt < 0 || s.shutdown <= 0 || s.sample < 0 {
		return errors.New("want -clients > 0, -pairs > 0, -duration > 0, -warmup >= 0, -fault-at >= 0, -shutdown-timeout > 0, -sample >= 0")
	}
	for _, sc := range s.scens {
		l, err := faultLength(sc)
		if err != nil {
			return err
		}
		if l > 0 && s.faultAt+l+windowTail > s.duration {
			return fmt.Errorf("scenario %s: -fault-at %s + fault %s + %s must fit in -duration %s",
				sc, s.faultAt, l, windowTail, s.duration)
		}
	}
	if s.otelcol == "" {
		return errors.New("no collector binary (-otelcol or " + ih.EnvOtelcolBin + ")")
	}
	return nil
}

// RunResult is one run of one implementation in one scenario.
type RunResult struct {
	Scenario string `json:"scenario"`
	Impl     string `json:"impl"`
	Pair     int    `json:"pair"`
	Seq      int    `json:"seq"` // position of the run in the whole benchmark

	// Load, over the measured duration.
	Requests    uint64   `json:"requests"`
	Errors      uint64   `json:"request_errors"`
	RPS         float64  `json:"requests_per_s"`
	P50ms       float64  `json:"p50_ms"`
	P99ms       float64  `json:"p99_ms"`
	P999ms      float64  `json:"p999_ms"`
	MaxMs       float64  `json:"max_ms"`
	CPUPerReqUS float64  `json:"cpu_per_request_us"` // service CPU over the measured duration / requests it served then
	PerSecond   []uint64 `json:"completions_per_s"`

	// Records, over the service's whole life (warm-up and shutdown
	// included).
	Emitted    int64 `json:"emitted"`
	Received   int64 `json:"received"`   // distinct sequence numbers in the Collector's output
	Duplicates int64 `json:"duplicates"` // records the Collector received more than once
	Lost       int64 `json:"lost"`       // Emitted - Received

	// The fault, as Unix ns: its start, the moment the Collector was ready
	// (SIGKILL) or resumed (SIGSTOP) again, and the window's end.
	FaultStart int64 `json:"fault_start,omitempty"`
	Recovered  int64 `json:"recovered,omitempty"`
	WindowEnd  int64 `json:"window_end,omitempty"`
	// Records emitted in [FaultStart, WindowEnd) and how many of them the
	// Collector never received.
	WindowEmitted   int64   `json:"window_emitted"`
	WindowLost      int64   `json:"window_lost"`
	WindowLostShare float64 `json:"window_lost_share"`

	// Exporter calls (counted by a wrapper around otlploghttp, inside the
	// breaker).
	ExportCalls       int      `json:"export_calls"`
	FailedCalls       int      `json:"failed_calls"`
	CallsDuringOutage int      `json:"calls_during_outage"` // started in [FaultStart, Recovered)
	FirstOKAfterMs    *float64 `json:"first_ok_after_recovery_ms,omitempty"`
	FirstCallAfterMs  *float64 `json:"first_call_after_recovery_ms,omitempty"`
	LastOKBeforeMs    *float64 `json:"last_ok_before_fault_ms,omitempty"` // how long before the fault the last export succeeded

	// FailedCallOffsetsMs: when the failed export calls from the fault's
	// start on began, in ms from the fault's start (the first 64): the
	// schedule on which each implementation tried the dead backend.
	FailedCallOffsetsMs []float64 `json:"failed_call_offsets_ms,omitempty"`

	ShutdownMs    float64           `json:"shutdown_ms"`
	ShutdownErr   string            `json:"shutdown_err,omitempty"`
	ErrorsHandled uint64            `json:"errors_handled"`
	StatsExported *uint64           `json:"stats_exported,omitempty"`
	StatsDropped  map[string]uint64 `json:"stats_dropped,omitempty"`
	// ExportedMinusReceived is Stats().Exported minus Received (steadylog):
	// 0 when the processor's count matches the Collector's.
	ExportedMinusReceived *int64 `json:"exported_minus_received,omitempty"`

	// Timeline is the run's time series (with -sample only).
	Timeline *Timeline `json:"timeline,omitempty"`
}

// runOne runs one implementation in one scenario: a Collector of its own,
// the service in a child process, the load, the fault, then the count.
func runOne(s settings, scen, impl string, pair, seq int) (res RunResult, err error) {
	tb := newRunTB(s.workDir, s.keep, s.logf)
	defer tb.close()
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	res = RunResult{Scenario: scen, Impl: impl, Pair: pair, Seq: seq}
	faultLen, err := faultLength(scen)
	if err != nil {
		return res, err
	}
	dir := tb.TempDir()

	var col *ih.Collector
	endpoint := ""
	if impl != implNolog {
		col, err = ih.NewCollector(tb, s.otelcol)
		if err != nil {
			return res, err
		}
		if err := col.Start(); err != nil {
			return res, err
		}
		endpoint = col.HTTPAddr
	}

	// The service.
	addr := fmt.Sprintf("127.0.0.1:%d", ih.FreePorts(tb, 1)[0])
	reportPath := filepath.Join(dir, "service.json")
	logFile, err := os.Create(filepath.Join(dir, "service.log"))
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.Command(s.self, roleFlag, "-impl", impl, "-listen", addr, "-endpoint", endpoint,
		"-report", reportPath, "-shutdown-timeout", s.shutdown.String(), "-sample", s.sample.String())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Both processors must run with their defaults.
	cmd.Env = envWithout(os.Environ(), "OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_BLRP_SCHEDULE_DELAY",
		"OTEL_BLRP_EXPORT_TIMEOUT", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")
	if err := cmd.Start(); err != nil {
		return res, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	url := "http://" + addr
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ih.Poll(ctx, 20*time.Millisecond, func() (bool, error) {
		_, err := liveStats(url)
		return err == nil, err
	}); err != nil {
		return res, fmt.Errorf("service not ready: %w", err)
	}

	// The Collector's side of the Timeline, until the service has exited.
	stopScrape := make(chan struct{})
	scraped := make(chan []CollectorSample, 1)
	if s.sample > 0 && col != nil {
		go func() { scraped <- scrapeCollector(col, s.sample, stopScrape) }()
	} else {
		scraped <- nil
	}
	var stopScrapeOnce sync.Once
	endScrape := func() []CollectorSample {
		stopScrapeOnce.Do(func() { close(stopScrape) })
		return <-scraped
	}
	defer func() {
		if res.Timeline == nil {
			// An early return: do not leave the scraper running.
			stopScrapeOnce.Do(func() { close(stopScrape) })
		}
	}()

	// Load, fault, measurement.
	measureStart := time.Now().Add(s.warmup)
	measureEnd := measureStart.Add(s.duration)
	type faultTimes struct {
		start, recovered time.Time
		err              error
	}
	faultDone := make(chan faultTimes, 1)
	go func() {
		var ft faultTimes
		defer func() { faultDone <- ft }()
		if faultLen == 0 {
			return
		}
		time.Sleep(time.Until(measureStart.Add(s.faultAt)))
		ft.start = time.Now()
		switch scen {
		case scenStop8:
			if ft.err = col.Stop(); ft.err != nil {
				return
			}
			time.Sleep(faultLen)
			ft.err = col.Cont()
		default:
			if ft.err = col.Kill(); ft.err != nil {
				return
			}
			time.Sleep(faultLen)
			ft.err = col.Start()
		}
		ft.recovered = time.Now()
	}()
	startStats := make(chan LiveStats, 1)
	go func() {
		time.Sleep(time.Until(measureStart))
		st, err := liveStats(url)
		if err != nil {
			s.logf("stats at measurement start: %v", err)
		}
		startStats <- st
	}()
	load := runLoad(url, s.clients, measureStart, measureEnd)
	endSt, err := liveStats(url)
	if err != nil {
		return res, fmt.Errorf("stats at measurement end: %w", err)
	}
	startSt := <-startStats
	ft := <-faultDone
	if ft.err != nil {
		return res, fmt.Errorf("fault: %w", ft.err)
	}

	// Shut the service down and read its report.
	_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			return res, fmt.Errorf("service: %v; log %s", err, logFile.Name())
		}
	case <-time.After(s.shutdown + 20*time.Second):
		return res, errors.New("service did not exit after SIGTERM")
	}
	colSamples := endScrape()
	var rep ServiceReport
	b, err := os.ReadFile(reportPath)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return res, err
	}

	// What the Collector received: stop it gracefully (the file exporter
	// flushes) and count its output.
	if col != nil {
		time.Sleep(300 * time.Millisecond)
		if err := col.Terminate(); err != nil {
			s.logf("collector terminate: %v", err)
		}
		fc, err := col.Count(seqKey)
		if err != nil {
			return res, err
		}
		res.Received = int64(fc.Distinct)
		res.Duplicates = int64(fc.Duplicates)
		if ft.recovered.After(ft.start) {
			res.FaultStart = ft.start.UnixNano()
			res.Recovered = ft.recovered.UnixNano()
			res.WindowEnd = ft.recovered.Add(windowTail).UnixNano()
			s0 := seqAt(rep.Timeline, res.FaultStart)
			s1 := seqAt(rep.Timeline, res.WindowEnd)
			res.WindowEmitted = int64(s1 - s0)
			for q := s0; q < s1; q++ {
				if fc.Seqs[int64(q)] == 0 {
					res.WindowLost++
				}
			}
			if res.WindowEmitted > 0 {
				res.WindowLostShare = float64(res.WindowLost) / float64(res.WindowEmitted)
			}
		}
	}

	fill(&res, s, load, startSt, endSt, &rep)
	if s.sample > 0 {
		fillExports(rep.Samples, rep.Exports)
		res.Timeline = &Timeline{Start: measureStart.UnixNano(), IntervalMs: ms(s.sample),
			Samples: rep.Samples, Collector: colSamples}
	}
	return res, nil
}

// fill derives the load and exporter figures of res.
func fill(res *RunResult, s settings, load *loadResult, startSt, endSt LiveStats, rep *ServiceReport) {
	secs := s.duration.Seconds()
	res.Requests, res.Errors = load.Completed, load.Errors
	res.RPS = float64(load.Completed) / secs
	res.P50ms = ms(load.Latency.Quantile(0.5))
	res.P99ms = ms(load.Latency.Quantile(0.99))
	res.P999ms = ms(load.Latency.Quantile(0.999))
	res.MaxMs = ms(load.Latency.Max())
	res.PerSecond = load.PerSecond
	if n := endSt.Requests - startSt.Requests; n > 0 && startSt.At > 0 {
		res.CPUPerReqUS = float64(endSt.CPUNanos-startSt.CPUNanos) / float64(n) / 1e3
	}
	res.Emitted = int64(rep.Emitted)
	if rep.Impl != implNolog {
		res.Lost = res.Emitted - res.Received
	}
	res.ShutdownMs = float64(rep.ShutdownNanos) / 1e6
	res.ShutdownErr = rep.ShutdownErr
	res.ErrorsHandled = rep.ErrorsHandled
	if rep.Stats != nil {
		exp := rep.Stats.Exported
		res.StatsExported = &exp
		res.StatsDropped = rep.Stats.Dropped
		d := int64(exp) - res.Received
		res.ExportedMinusReceived = &d
	}
	calls := rep.Exports
	sort.Slice(calls, func(i, j int) bool { return calls[i].Start < calls[j].Start })
	res.ExportCalls = len(calls)
	for _, c := range calls {
		if !c.OK {
			res.FailedCalls++
		}
		if res.Recovered == 0 {
			continue
		}
		if c.Start >= res.FaultStart && c.Start < res.Recovered {
			res.CallsDuringOutage++
		}
		if !c.OK && c.Start >= res.FaultStart && len(res.FailedCallOffsetsMs) < 64 {
			res.FailedCallOffsetsMs = append(res.FailedCallOffsetsMs, math.Round(float64(c.Start-res.FaultStart)/1e5)/10)
		}
		if c.Start >= res.Recovered && res.FirstCallAfterMs == nil {
			v := float64(c.Start-res.Recovered) / 1e6
			res.FirstCallAfterMs = &v
		}
		if c.OK && c.End < res.FaultStart {
			v := float64(res.FaultStart-c.End) / 1e6
			res.LastOKBeforeMs = &v
		}
	}
	// The first successful call to end after recovery may have started
	// before it (a call stalled by SIGSTOP): the earliest end counts.
	if res.Recovered != 0 {
		var best *float64
		for _, c := range calls {
			if c.OK && c.End >= res.Recovered {
				v := float64(c.End-res.Recovered) / 1e6
				if best == nil || v < *best {
					best = &v
				}
			}
		}
		res.FirstOKAfterMs = best
	}
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// seqAt returns the number of records emitted by Unix time t, interpolated
// between the service's 20 ms samples.
func seqAt(tl []SeqSample, t int64) uint64 {
	if len(tl) == 0 {
		return 0
	}
	i := sort.Search(len(tl), func(i int) bool { return tl[i].At > t })
	if i == 0 {
		return tl[0].Seq
	}
	if i == len(tl) {
		return tl[len(tl)-1].Seq
	}
	a, b := tl[i-1], tl[i]
	frac := float64(t-a.At) / float64(b.At-a.At)
	return a.Seq + uint64(frac*float64(b.Seq-a.Seq))
}

func liveStats(url string) (LiveStats, error) {
	var st LiveStats
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/_stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("/_stats: %s", resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

func envWithout(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if len(kv) > len(n) && kv[:len(n)+1] == n+"=" {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}
