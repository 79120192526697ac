// Command loadgen is the load generator of Switchyard's routing benchmark.
//
// It calls the test server's echo tool ({"text":"hello"}) at several
// concurrency levels, for a fixed duration per level after a short warm-up,
// in these modes (run in this order):
//
//	a  direct:        the test server (the Go SDK's server) over streamable
//	                  HTTP, no gateway
//	f  fast-direct:   the fast backend (testserver --fast: plain JSON, no
//	                  sessions) in a 2025-11-25 session, no gateway
//	b  rest:          the gateway's POST /api/providers/p/tools/echo/call
//	                  (provider p is the test server over stdio)
//	r  rest-remote:   POST /api/providers/fast/tools/echo/call (provider
//	                  fast is the fast backend, mode remote)
//	c  mcp:           the gateway's aggregated /mcp endpoint, tool p__echo,
//	                  in a 2025-11-25 session
//	i  mcp-id:        the gateway's /mcp/fast (one provider's MCP server,
//	                  relayed to the fast backend), tool echo, in a
//	                  2025-11-25 session
//	s  mcp-stateless: the aggregated /mcp with stateless 2026-07-28
//	                  requests, tool p__echo
//	d  group:         POST /api/providers/pool/tools/echo/call, pool being a
//	                  round_robin group of three test servers
//
// Each gateway mode is compared, at the same concurrency, with the direct
// mode that reaches the same backend: r and i with f, the others with a
// (column "vs" of the table, "baseline" in the JSON report).
//
// It starts everything itself from the binaries in -bin (bin/testserver
// and bin/switchyard, built by make build) on free loopback ports, and
// stops everything, process groups and descendants included, before it
// exits. Every answer is checked; failed calls are counted and reported.
// A mode that cannot run prints why and the others go on. The exit status
// is 1 when a mode failed or a call did.
//
// Usage:
//
//	loadgen [-bin bin] [-c 1,32,256] [-d 5s] [-warmup 1s] [-modes a,f,b,r,c,i,s,d] [-json FILE] [-keep]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// mode is one way of reaching the echo tool.
type mode struct {
	key  string
	name string
	// baseline is the key of the direct mode this one is compared with,
	// "" for a direct mode.
	baseline string
	// help describes the mode in the -modes flag's help.
	help string
}

// allModes lists the modes in the order they run.
var allModes = []mode{
	{"a", "direct", "", "direct to the test server"},
	{"f", "fast-direct", "", "direct to the fast backend"},
	{"b", "rest", "a", "gateway REST"},
	{"r", "rest-remote", "f", "gateway REST to the fast backend as a remote provider"},
	{"c", "mcp", "a", "gateway /mcp"},
	{"i", "mcp-id", "f", "gateway /mcp/fast"},
	{"s", "mcp-stateless", "a", "gateway /mcp stateless (2026-07-28)"},
	{"d", "group", "a", "group via REST"},
}

// modeKeys returns the keys of all modes, in order, joined with sep.
func modeKeys(sep string) string {
	keys := make([]string, len(allModes))
	for i, m := range allModes {
		keys[i] = m.key
	}
	return strings.Join(keys, sep)
}

// modesHelp describes the modes for the -modes flag.
func modesHelp() string {
	parts := make([]string, len(allModes))
	for i, m := range allModes {
		parts[i] = m.key + " " + m.help
	}
	return "comma-separated modes: " + strings.Join(parts, ", ")
}

// options are the parsed flags.
type options struct {
	bin      string
	conc     []int
	dur      time.Duration
	warmup   time.Duration
	modes    []string
	jsonPath string
	keep     bool
	// directProtocol is the MCP revision mode a speaks to the test server:
	// 2026-07-28 (stateless, as the gateway speaks to its backends) or
	// 2025-11-25 (a session).
	directProtocol string
}

// failure is a mode, or one cell of it, that could not run.
type failure struct {
	Mode        string `json:"mode"`
	Concurrency int    `json:"concurrency,omitempty"`
	Error       string `json:"error"`
}

// machine describes where the benchmark ran.
type machine struct {
	NumCPU     int    `json:"num_cpu"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GOOS       string `json:"goos"`
	GOARCH     string `json:"goarch"`
	GoVersion  string `json:"go_version"`
	Gateway    string `json:"gateway_version,omitempty"`
}

// report is everything a run produced; -json writes it.
type report struct {
	Command   string       `json:"command"`
	StartedAt time.Time    `json:"started_at"`
	Machine   machine      `json:"machine"`
	Modes     []string     `json:"modes"`
	Conc      []int        `json:"concurrency"`
	WarmupS   float64      `json:"warmup_s"`
	DurationS float64      `json:"duration_s"`
	Cells     []cellResult `json:"cells"`
	Failures  []failure    `json:"failures,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		_, _ = fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	var stop atomic.Bool
	go func() {
		<-ctx.Done()
		stop.Store(true)
	}()

	rep := &report{
		Command:   commandLine(os.Args),
		StartedAt: time.Now().UTC(),
		Machine:   describeMachine(opts.bin),
		Modes:     opts.modes,
		Conc:      opts.conc,
		WarmupS:   opts.warmup.Seconds(),
		DurationS: opts.dur.Seconds(),
	}
	printHeader(stdout, rep)

	dir, err := os.MkdirTemp("", "switchyard-loadgen-")
	if err != nil {
		_, _ = fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	if opts.keep {
		_, _ = fmt.Fprintln(stderr, "loadgen: logs and configuration kept in", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}

	r := &runner{opts: opts, rep: rep, stop: &stop, log: stderr}
	r.all(ctx, dir)

	addRatios(rep.Cells)
	_, _ = fmt.Fprintln(stdout)
	printTable(stdout, rep)
	if opts.jsonPath != "" {
		if err := writeJSON(opts.jsonPath, rep); err != nil {
			_, _ = fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	if stop.Load() {
		_, _ = fmt.Fprintln(stderr, "loadgen: interrupted")
		return 1
	}
	if len(rep.Failures) > 0 {
		return 1
	}
	for _, c := range rep.Cells {
		if c.Errors > 0 || c.WarmupErrors > 0 {
			return 1
		}
	}
	return 0
}

// parseFlags parses and checks the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "directory holding switchyard and testserver (make build)")
	conc := fs.String("c", "1,32,256", "comma-separated concurrency levels (concurrent callers)")
	dur := fs.Duration("d", 5*time.Second, "measured duration of each cell")
	warmup := fs.Duration("warmup", time.Second, "unmeasured warm-up before each cell")
	modes := fs.String("modes", modeKeys(","), modesHelp())
	jsonPath := fs.String("json", "", "also write the results as JSON to this file")
	keep := fs.Bool("keep", false, "keep the temporary directory with the generated configuration and the logs")
	directProto := fs.String("direct-protocol", protocolStateless, "MCP revision of mode a: "+protocolStateless+" (stateless, the revision the gateway speaks to its backends) or "+mcpProtocolVersion+" (a session)")
	fs.Usage = func() {
		_, _ = fmt.Fprintln(stderr, "usage: loadgen [flags]")
		_, _ = fmt.Fprintln(stderr, "Benchmarks calls to the test server's echo tool directly and through the gateway.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	o := &options{dur: *dur, warmup: *warmup, jsonPath: *jsonPath, keep: *keep, directProtocol: *directProto}
	if o.directProtocol != protocolStateless && o.directProtocol != mcpProtocolVersion {
		return nil, fmt.Errorf("-direct-protocol: want %s or %s", protocolStateless, mcpProtocolVersion)
	}
	if o.dur <= 0 {
		return nil, errors.New("-d must be positive")
	}
	if o.warmup < 0 {
		return nil, errors.New("-warmup must not be negative")
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-c: %q is not a positive integer", f)
		}
		if !slices.Contains(o.conc, n) {
			o.conc = append(o.conc, n)
		}
	}
	for _, f := range strings.Split(*modes, ",") {
		f = strings.TrimSpace(f)
		if !slices.ContainsFunc(allModes, func(m mode) bool { return m.key == f }) {
			return nil, fmt.Errorf("-modes: unknown mode %q (want one of %s)", f, modeKeys(", "))
		}
		if !slices.Contains(o.modes, f) {
			o.modes = append(o.modes, f)
		}
	}
	// The modes run in the order of allModes; report them so.
	slices.SortFunc(o.modes, func(x, y string) int { return modeIndex(x) - modeIndex(y) })
	b, err := filepath.Abs(*bin)
	if err != nil {
		return nil, err
	}
	o.bin = b
	for _, name := range []string{"testserver", "switchyard"} {
		if _, err := os.Stat(filepath.Join(b, name)); err != nil {
			return nil, fmt.Errorf("-bin: %w (run make build)", err)
		}
	}
	return o, nil
}

// runner runs the selected modes.
type runner struct {
	opts *options
	rep  *report
	stop *atomic.Bool
	log  io.Writer
}

// selected reports whether mode key was asked for.
func (r *runner) selected(key string) bool { return slices.Contains(r.opts.modes, key) }

// fail records and prints a failure.
func (r *runner) fail(m mode, conc int, err error) {
	r.rep.Failures = append(r.rep.Failures, failure{Mode: m.key + " " + m.name, Concurrency: conc, Error: err.Error()})
	where := "mode " + m.key + " (" + m.name + ")"
	if conc > 0 {
		where += fmt.Sprintf(" c=%d", conc)
	}
	_, _ = fmt.Fprintf(r.log, "loadgen: %s failed: %v\n", where, err)
}

// modeIndex returns the position of mode key in allModes, or -1.
func modeIndex(key string) int {
	return slices.IndexFunc(allModes, func(m mode) bool { return m.key == key })
}

// modeByKey returns the mode named key.
func modeByKey(key string) mode { return allModes[modeIndex(key)] }

// all runs mode a against its own test server, mode f against the fast
// backend, then the gateway modes against one gateway. The fast backend,
// when a mode needs it, is started first and stopped last.
func (r *runner) all(ctx context.Context, dir string) {
	if r.selected("a") && !r.stop.Load() {
		r.direct(ctx, dir)
	}
	fastAddr := ""
	if r.anySelected("f", "r", "i") && !r.stop.Load() {
		fb, addr, err := startFastServer(ctx, r.opts.bin, dir)
		if err != nil {
			for _, k := range []string{"f", "r", "i"} {
				if r.selected(k) {
					r.fail(modeByKey(k), 0, fmt.Errorf("fast backend: %w", err))
				}
			}
		} else {
			defer r.stopProc(fb, 5*time.Second)
			fastAddr = addr
		}
	}
	if fastAddr != "" && r.selected("f") && !r.stop.Load() {
		r.mode(modeByKey("f"), target{kind: kindMCP, addr: fastAddr, path: "/mcp", tool: "echo"})
	}
	if r.anySelected(gatewayModes...) && !r.stop.Load() {
		r.gateway(ctx, dir, fastAddr)
	}
}

// anySelected reports whether one of keys was asked for.
func (r *runner) anySelected(keys ...string) bool {
	return slices.ContainsFunc(keys, r.selected)
}

// direct runs mode a.
func (r *runner) direct(ctx context.Context, dir string) {
	m := modeByKey("a")
	stateless := r.opts.directProtocol == protocolStateless
	ts, addr, err := startTestServer(ctx, r.opts.bin, dir, stateless)
	if err != nil {
		r.fail(m, 0, err)
		return
	}
	defer r.stopProc(ts, 5*time.Second)
	r.mode(m, target{kind: kindMCP, addr: addr, path: "/mcp", tool: "echo", stateless: stateless})
}

// gatewayModes are the modes that go through the gateway (those compared
// with a direct mode), in run order.
var gatewayModes = modeKeysWhere(func(m mode) bool { return m.baseline != "" })

// fastModes are the gateway modes that reach the fast backend.
var fastModes = modeKeysWhere(func(m mode) bool { return m.baseline == "f" })

// modeKeysWhere returns the keys of the modes for which keep is true, in
// run order.
func modeKeysWhere(keep func(mode) bool) []string {
	var keys []string
	for _, m := range allModes {
		if keep(m) {
			keys = append(keys, m.key)
		}
	}
	return keys
}

// gatewayTarget returns how gateway mode key reaches the echo tool of the
// gateway at addr.
func gatewayTarget(key, addr string) target {
	switch key {
	case "b":
		return target{kind: kindREST, addr: addr, path: "/api/providers/p/tools/echo/call"}
	case "r":
		return target{kind: kindREST, addr: addr, path: "/api/providers/" + fastID + "/tools/echo/call"}
	case "c":
		return target{kind: kindMCP, addr: addr, path: "/mcp", tool: "p__echo"}
	case "i":
		return target{kind: kindMCP, addr: addr, path: "/mcp/" + fastID, tool: "echo"}
	case "s":
		return target{kind: kindMCP, addr: addr, path: "/mcp", tool: "p__echo", stateless: true}
	case "d":
		return target{kind: kindREST, addr: addr, path: "/api/providers/" + groupID + "/tools/echo/call"}
	}
	panic("loadgen: not a gateway mode: " + key)
}

// gateway runs the selected gateway modes against one gateway. Provider
// fast is configured when the fast backend runs at fastAddr (modes r and i
// were already failed when it does not). When the gateway does not start
// with the group in its configuration, mode d fails and the others run
// against a gateway without it.
func (r *runner) gateway(ctx context.Context, dir, fastAddr string) {
	var keys []string // the modes to run
	for _, k := range gatewayModes {
		if r.selected(k) && (fastAddr != "" || !slices.Contains(fastModes, k)) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	fastEndpoint := ""
	if fastAddr != "" && slices.ContainsFunc(keys, func(k string) bool { return slices.Contains(fastModes, k) }) {
		fastEndpoint = "http://" + fastAddr + "/mcp"
	}
	withGroup := slices.Contains(keys, "d")
	gw, err := startGateway(ctx, r.opts.bin, dir, withGroup, fastEndpoint)
	if err != nil && withGroup && len(keys) > 1 && !r.stop.Load() {
		r.fail(modeByKey("d"), 0, fmt.Errorf("gateway with group %q: %w", groupID, err))
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "d" })
		withGroup = false
		gw, err = startGateway(ctx, r.opts.bin, dir, false, fastEndpoint)
	}
	if err != nil {
		for _, k := range keys {
			r.fail(modeByKey(k), 0, fmt.Errorf("gateway: %w", err))
		}
		return
	}
	defer r.stopProc(gw.proc, 20*time.Second)
	_, _ = fmt.Fprintf(r.log, "loadgen: gateway ready at %s\n", gw.addr)

	// Start the providers up front so no cell pays for a cold start.
	ids := []string{}
	if slices.ContainsFunc(keys, func(k string) bool { return k == "b" || k == "c" || k == "s" }) {
		ids = append(ids, "p")
	}
	if fastEndpoint != "" {
		ids = append(ids, fastID)
	}
	if withGroup {
		ids = append(ids, "m1", "m2", "m3")
	}
	for _, id := range ids {
		if err := gw.startProvider(ctx, id); err != nil {
			_, _ = fmt.Fprintf(r.log, "loadgen: warning: %v\n", err)
		}
	}

	for _, k := range keys {
		if r.stop.Load() {
			return
		}
		r.mode(modeByKey(k), gatewayTarget(k, gw.addr))
	}
}

// stopProc stops p and reports leftovers it had to kill.
func (r *runner) stopProc(p *proc, grace time.Duration) {
	if n := p.stop(grace); n > 0 {
		_, _ = fmt.Fprintf(r.log, "loadgen: killed %d leftover process(es) of %s\n", n, p.name)
	}
}

// mode probes t with one call, then runs one cell per concurrency level.
func (r *runner) mode(m mode, t target) {
	_, _ = fmt.Fprintf(r.log, "loadgen: mode %s (%s): %s\n", m.key, m.name, t)
	if err := probe(t); err != nil {
		r.fail(m, 0, fmt.Errorf("probe call: %w", err))
		return
	}
	for _, c := range r.opts.conc {
		if r.stop.Load() {
			return
		}
		res, err := runCell(r.stop, t, c, r.opts.warmup, r.opts.dur)
		if err != nil {
			r.fail(m, c, err)
			continue
		}
		res.Mode, res.ModeName = m.key, m.name
		r.rep.Cells = append(r.rep.Cells, res)
		_, _ = fmt.Fprintf(r.log, "loadgen:   c=%-4d %10.1f calls/s  p50 %.3f ms  p99 %.3f ms  client CPU %.0f us/call  errors %d",
			c, res.CallsPerSec, res.P50Ms, res.P99Ms, res.ClientCPUMicrosPerCall, res.Errors)
		if res.WarmupErrors > 0 {
			_, _ = fmt.Fprintf(r.log, " (+%d in warm-up)", res.WarmupErrors)
		}
		if res.FirstError != "" {
			_, _ = fmt.Fprintf(r.log, "  first error: %s", res.FirstError)
		}
		if res.CloseErrors > 0 {
			_, _ = fmt.Fprintf(r.log, "  %d session close errors, first: %s", res.CloseErrors, res.FirstCloseError)
		}
		_, _ = fmt.Fprintln(r.log)
	}
}

// probe makes one checked call to t.
func probe(t target) error {
	hc := t.newClient(1)
	defer hc.CloseIdleConnections()
	c, err := t.newCaller(hc)
	if err != nil {
		return err
	}
	err = c.call()
	if cerr := c.close(); err == nil {
		err = cerr
	}
	return err
}

// addRatios fills in each cell's comparison with its mode's baseline (a
// direct mode) at the same concurrency.
func addRatios(cells []cellResult) {
	type key struct {
		mode string
		conc int
	}
	direct := map[key]cellResult{}
	for _, c := range cells {
		if modeByKey(c.Mode).baseline == "" {
			direct[key{c.Mode, c.Concurrency}] = c
		}
	}
	for i := range cells {
		base := modeByKey(cells[i].Mode).baseline
		if base == "" {
			continue
		}
		cells[i].Baseline = base
		d, ok := direct[key{base, cells[i].Concurrency}]
		if !ok || d.CallsPerSec == 0 {
			continue
		}
		ratio := cells[i].CallsPerSec / d.CallsPerSec
		added := cells[i].P50Ms - d.P50Ms
		cells[i].RatioToDirect = &ratio
		cells[i].P50AddedMs = &added
	}
}

// baselineNote describes which direct mode each selected gateway mode is
// compared with, as "b,c vs a (direct); r vs f (fast-direct)".
func baselineNote(modes []string) string {
	var parts []string
	for _, base := range allModes {
		if base.baseline != "" {
			continue
		}
		var of []string
		for _, m := range allModes {
			if m.baseline == base.key && slices.Contains(modes, m.key) {
				of = append(of, m.key)
			}
		}
		if len(of) > 0 {
			parts = append(parts, strings.Join(of, ",")+" vs "+base.key+" ("+base.name+")")
		}
	}
	return strings.Join(parts, "; ")
}

// printHeader prints the machine and the command.
func printHeader(w io.Writer, rep *report) {
	m := rep.Machine
	_, _ = fmt.Fprintf(w, "machine: %d CPUs, GOMAXPROCS=%d, %s/%s, %s", m.NumCPU, m.GOMAXPROCS, m.GOOS, m.GOARCH, m.GoVersion)
	if m.CPUModel != "" {
		_, _ = fmt.Fprintf(w, ", %s", m.CPUModel)
	}
	_, _ = fmt.Fprintln(w)
	if m.Gateway != "" {
		_, _ = fmt.Fprintf(w, "gateway: %s\n", m.Gateway)
	}
	_, _ = fmt.Fprintf(w, "command: %s\n", rep.Command)
	_, _ = fmt.Fprintf(w, "cells:   modes %s, concurrency %s, %s warm-up + %s measured each\n",
		strings.Join(rep.Modes, ","), joinInts(rep.Conc),
		time.Duration(rep.WarmupS*float64(time.Second)), time.Duration(rep.DurationS*float64(time.Second)))
	if note := baselineNote(rep.Modes); note != "" {
		_, _ = fmt.Fprintf(w, "ratios:  calls/s and p50 against the direct mode of column vs, same concurrency: %s\n", note)
	}
}

// printTable prints one row per cell, then the failures. A gateway mode's
// row compares it with its baseline, the direct mode named in column vs.
func printTable(w io.Writer, rep *report) {
	_, _ = fmt.Fprintf(w, "%-15s %5s %11s %9s %9s %8s %3s %8s %10s\n",
		"mode", "conc", "calls/s", "p50 ms", "p99 ms", "errors", "vs", "ratio", "p50 added")
	for _, c := range rep.Cells {
		base, ratio, added := "-", "-", "-"
		if c.Baseline != "" {
			base = c.Baseline
		}
		if c.RatioToDirect != nil {
			ratio = fmt.Sprintf("%.2fx", *c.RatioToDirect)
			added = fmt.Sprintf("%+.3f", *c.P50AddedMs)
		}
		errs := strconv.Itoa(c.Errors)
		if c.WarmupErrors > 0 {
			errs += fmt.Sprintf("+%dw", c.WarmupErrors)
		}
		_, _ = fmt.Fprintf(w, "%-15s %5d %11.1f %9.3f %9.3f %8s %3s %8s %10s\n",
			c.Mode+" "+c.ModeName, c.Concurrency, c.CallsPerSec, c.P50Ms, c.P99Ms, errs, base, ratio, added)
	}
	for _, f := range rep.Failures {
		where := f.Mode
		if f.Concurrency > 0 {
			where += fmt.Sprintf(" c=%d", f.Concurrency)
		}
		first, _, _ := strings.Cut(f.Error, "\n")
		_, _ = fmt.Fprintf(w, "FAILED %s: %s\n", where, first)
	}
}

// writeJSON writes rep to path.
func writeJSON(path string, rep *report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// describeMachine gathers the machine description.
func describeMachine(bin string) machine {
	m := machine{
		NumCPU:     runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		GoVersion:  runtime.Version(),
		CPUModel:   cpuModel(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "switchyard"), "version") //nolint:gosec // the gateway binary of -bin
	if out, err := cmd.Output(); err == nil {
		m.Gateway = strings.TrimSpace(string(out))
	}
	return m
}

// cpuModel returns the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// commandLine renders argv as a shell command. A binary built by go run
// is shown as the go run command that built it.
func commandLine(argv []string) string {
	name := argv[0]
	if strings.Contains(name, "go-build") {
		name = "go run ./cmd/loadgen"
	}
	parts := []string{name}
	for _, a := range argv[1:] {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// plainWord matches arguments that need no shell quoting.
var plainWord = regexp.MustCompile(`^[A-Za-z0-9_./,:=@%+-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if plainWord.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// joinInts joins ns with commas.
func joinInts(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
