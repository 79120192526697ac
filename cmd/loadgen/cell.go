package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// cellResult is the outcome of one mode at one concurrency.
type cellResult struct {
	Mode         string  `json:"mode"`
	ModeName     string  `json:"mode_name"`
	Target       string  `json:"target"`
	Concurrency  int     `json:"concurrency"`
	WarmupS      float64 `json:"warmup_s"`
	DurationS    float64 `json:"duration_s"`
	Calls        int     `json:"calls"`
	CallsPerSec  float64 `json:"calls_per_s"`
	MeanMs       float64 `json:"mean_ms"`
	P50Ms        float64 `json:"p50_ms"`
	P90Ms        float64 `json:"p90_ms"`
	P99Ms        float64 `json:"p99_ms"`
	MaxMs        float64 `json:"max_ms"`
	Errors       int     `json:"errors"`
	WarmupErrors int     `json:"warmup_errors"`
	FirstError   string  `json:"first_error,omitempty"`
	// ClientCPUMicrosPerCall is the load generator's own CPU time (user and
	// system, all threads) per call over the cell, warm-up included: on a
	// small machine it competes with the gateway and the test server.
	ClientCPUMicrosPerCall float64 `json:"client_cpu_us_per_call"`
	// CloseErrors counts sessions whose closing failed after the run.
	CloseErrors     int    `json:"close_errors,omitempty"`
	FirstCloseError string `json:"first_close_error,omitempty"`
	// Baseline is the direct mode a gateway mode is compared with (a for
	// the test server, f for the fast backend); RatioToDirect and
	// P50AddedMs compare with its cell of the same concurrency, and are
	// absent when that did not run.
	Baseline      string   `json:"baseline,omitempty"`
	RatioToDirect *float64 `json:"ratio_to_direct,omitempty"`
	P50AddedMs    *float64 `json:"p50_added_ms,omitempty"`
}

// workerStats is what one worker records. Latencies of successful calls
// started inside the measured window go to lat, a slice sized up front so
// the hot loop rarely allocates.
type workerStats struct {
	lat      []time.Duration
	total    int // calls made, warm-up and failures included
	errs     int
	warmErrs int
	firstErr error
}

// errorPause is how long a worker waits after a failed call, so a target
// that fails at once (connection refused) is not hammered in a hot loop.
const errorPause = time.Millisecond

// runCell drives t with conc workers for warmup and then d, each worker
// owning one caller (for MCP, one session). Calls started during the
// warm-up are not measured; their errors are counted apart. stop ends the
// cell early, as an error.
func runCell(stop *atomic.Bool, t target, conc int, warmup, d time.Duration) (res cellResult, err error) {
	hc := t.newClient(conc)
	defer hc.CloseIdleConnections()

	callers := make([]caller, 0, conc)
	closeErrs := 0
	var firstCloseErr error
	defer func() {
		for _, c := range callers {
			if cerr := c.close(); cerr != nil {
				closeErrs++
				if firstCloseErr == nil {
					firstCloseErr = cerr
				}
			}
		}
		if err == nil && closeErrs > 0 {
			res.CloseErrors = closeErrs
			res.FirstCloseError = firstCloseErr.Error()
		}
	}()
	for i := range conc {
		c, err := t.newCaller(hc)
		if err != nil {
			return res, fmt.Errorf("worker %d: %w", i, err)
		}
		callers = append(callers, c)
		if stop.Load() {
			return res, errors.New("interrupted")
		}
	}

	// Room for 50,000 calls/s over the window, shared by the workers.
	hint := int(d.Seconds()*50000)/conc + 256
	stats := make([]workerStats, conc)
	cpuBefore := cpuTime()
	start := time.Now()
	measureFrom := start.Add(warmup)
	measureTo := measureFrom.Add(d)
	var wg sync.WaitGroup
	for i, c := range callers {
		ws := &stats[i]
		ws.lat = make([]time.Duration, 0, hint)
		wg.Go(func() {
			for !stop.Load() {
				t0 := time.Now()
				if !t0.Before(measureTo) {
					return
				}
				cerr := c.call()
				elapsed := time.Since(t0)
				ws.total++
				measured := !t0.Before(measureFrom)
				if cerr != nil {
					if measured {
						ws.errs++
					} else {
						ws.warmErrs++
					}
					if ws.firstErr == nil {
						ws.firstErr = cerr
					}
					time.Sleep(errorPause)
					continue
				}
				if measured {
					ws.lat = append(ws.lat, elapsed)
				}
			}
		})
	}
	wg.Wait()
	cpu := cpuTime() - cpuBefore
	if stop.Load() {
		return res, errors.New("interrupted")
	}

	n := 0
	for i := range stats {
		n += len(stats[i].lat)
	}
	all := make([]time.Duration, 0, n)
	total := 0
	res = cellResult{Target: t.String(), Concurrency: conc, WarmupS: warmup.Seconds(), DurationS: d.Seconds()}
	for i := range stats {
		ws := &stats[i]
		all = append(all, ws.lat...)
		total += ws.total
		res.Errors += ws.errs
		res.WarmupErrors += ws.warmErrs
		if ws.firstErr != nil && res.FirstError == "" {
			res.FirstError = ws.firstErr.Error()
		}
	}
	if total > 0 {
		res.ClientCPUMicrosPerCall = float64(cpu) / float64(time.Microsecond) / float64(total)
	}
	slices.Sort(all)
	res.Calls = len(all)
	res.CallsPerSec = float64(len(all)) / d.Seconds()
	if len(all) > 0 {
		var sum time.Duration
		for _, l := range all {
			sum += l
		}
		res.MeanMs = ms(sum / time.Duration(len(all)))
		res.P50Ms = ms(percentile(all, 0.50))
		res.P90Ms = ms(percentile(all, 0.90))
		res.P99Ms = ms(percentile(all, 0.99))
		res.MaxMs = ms(all[len(all)-1])
	}
	return res, nil
}

// cpuTime returns the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile returns the nearest-rank p-quantile (0 < p <= 1) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

// ms converts d to fractional milliseconds.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
