package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a child process run in its own process group.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has been reaped
	err     error         // Wait's answer, set before done closes
}

// childEnv is the environment of the children: the caller's, without
// credentials that would make the gateway require authentication.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "SWITCHYARD_ADMIN_KEY", "SWITCHYARD_TOKEN":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startProc starts argv with stdout and stderr going to stderr (usually a
// log file). The child gets its own process group and is killed if this
// process dies.
func startProc(name string, argv []string, stdout, stderr *os.File, logPath string) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:gosec // argv names the binaries of -bin, run on purpose
	cmd.Env = childEnv()
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM to its group, SIGKILL to the group after
// grace, and SIGKILL to every process that descended from it (recorded
// before the signal, so children in process groups of their own and
// children reparented on its exit are found too) and is still alive after
// it exits. It returns how many such leftovers had to be killed.
func (p *proc) stop(grace time.Duration) int {
	pid := p.cmd.Process.Pid
	desc := descendants(pid)
	if !p.exited() {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-p.done
		}
		t.Stop()
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // anything left in its group
	killed := 0
	for _, d := range desc {
		if d.alive() {
			_ = syscall.Kill(-d.pid, syscall.SIGKILL) // harmless if not a group leader
			_ = syscall.Kill(d.pid, syscall.SIGKILL)
			killed++
		}
	}
	return killed
}

// logTail returns the last lines of the process's log.
func (p *proc) logTail(lines int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// failure wraps err with the process's exit status and log tail.
func (p *proc) failure(err error) error {
	msg := err.Error()
	if p.exited() {
		msg += fmt.Sprintf(" (%s exited: %v)", p.name, p.err)
	}
	if tail := p.logTail(15); tail != "" {
		msg += "\n--- " + p.logPath + " (last lines) ---\n" + tail
	}
	return errors.New(msg)
}

// procID identifies a process across pid reuse.
type procID struct {
	pid   int
	start uint64 // start time in clock ticks since boot
}

// alive reports whether the process still exists (and is not a zombie).
func (d procID) alive() bool {
	_, state, start, ok := readStat(d.pid)
	return ok && start == d.start && state != 'Z' && state != 'X'
}

// readStat reads the parent pid, state and start time of pid from
// /proc/PID/stat.
func readStat(pid int) (ppid int, state byte, start uint64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name is in parentheses and may hold spaces: the fields
	// after it start at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, 0, false
	}
	return ppid, f[0][0], start, true
}

// descendants lists the processes below root.
func descendants(root int) []procID {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]procID{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, _, start, ok := readStat(pid)
		if ok {
			children[ppid] = append(children[ppid], procID{pid: pid, start: start})
		}
	}
	var out []procID
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

// startTestServer starts bin/testserver serving streamable HTTP on a free
// loopback port and returns it with its address.
func startTestServer(ctx context.Context, bin, dir string, stateless bool) (*proc, string, error) {
	args := []string{filepath.Join(bin, "testserver"), "--http", "127.0.0.1:0"}
	if stateless {
		args = append(args, "--stateless")
	}
	return startListening(ctx, "test server", filepath.Join(dir, "testserver-direct.log"), args)
}

// startFastServer starts the fast backend (bin/testserver --fast) on a
// free loopback port and returns it with its address.
func startFastServer(ctx context.Context, bin, dir string) (*proc, string, error) {
	return startListening(ctx, "fast backend", filepath.Join(dir, "testserver-fast.log"),
		[]string{filepath.Join(bin, "testserver"), "--fast", "127.0.0.1:0", "--name", fastID})
}

// startListening starts argv, a server that prints "listening on
// HOST:PORT" to stderr once it listens, with its output going to logPath,
// and returns it with that address.
func startListening(ctx context.Context, name, logPath string, argv []string) (*proc, string, error) {
	logf, err := os.Create(logPath) //nolint:gosec // a file of the run's own temporary directory
	if err != nil {
		return nil, "", err
	}
	r, w, err := os.Pipe()
	if err != nil {
		_ = logf.Close()
		return nil, "", err
	}
	p, err := startProc(name, argv, logf, w, logPath)
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		_ = logf.Close()
		return nil, "", err
	}
	// Copy stderr to the log, reporting the address from its first
	// "listening on" line. The copy runs until the server exits.
	addrc := make(chan string, 1)
	go func() {
		defer func() { _ = logf.Close() }()
		defer func() { _ = r.Close() }()
		sc := bufio.NewScanner(r)
		found := false
		for sc.Scan() {
			line := sc.Text()
			_, _ = fmt.Fprintln(logf, line)
			if a, ok := strings.CutPrefix(line, "listening on "); ok && !found {
				found = true
				addrc <- strings.TrimSpace(a)
			}
		}
		_, _ = io.Copy(io.Discard, r)
		close(addrc)
	}()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case addr, ok := <-addrc:
		if ok {
			return p, addr, nil
		}
		err = fmt.Errorf("%s did not print its address", name)
	case <-t.C:
		err = fmt.Errorf("%s did not print its address within 15s", name)
	case <-ctx.Done():
		err = ctx.Err()
	}
	err = p.failure(err)
	p.stop(2 * time.Second)
	return nil, "", err
}

// freePort returns a loopback address with a port free at the time of the
// call.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// gatewayConfig renders the gateway's configuration: provider p for modes
// b, c and s, m1..m3 and, when withGroup, the round-robin group pool over
// them for mode d, and, when fastEndpoint is set, provider fast of mode
// remote at that URL (the fast backend) for modes r and i.
func gatewayConfig(testserver string, withGroup bool, fastEndpoint string) string {
	var b strings.Builder
	b.WriteString("# Generated by cmd/loadgen for the routing benchmark.\n")
	b.WriteString("drain_timeout_s: 5\nproviders:\n")
	for _, id := range []string{"p", "m1", "m2", "m3"} {
		_, _ = fmt.Fprintf(&b, "  %s:\n    mode: subprocess\n    command: [%s, \"--name\", %q]\n    idle_ttl_s: 0\n",
			id, strconv.Quote(testserver), id)
	}
	if fastEndpoint != "" {
		_, _ = fmt.Fprintf(&b, "  %s:\n    mode: remote\n    endpoint: %s\n    idle_ttl_s: 0\n",
			fastID, strconv.Quote(fastEndpoint))
	}
	if withGroup {
		b.WriteString("groups:\n  " + groupID + ":\n    strategy: round_robin\n" +
			"    members: [{id: m1}, {id: m2}, {id: m3}]\n")
	}
	return b.String()
}

// groupID is the id of the group mode d calls.
const groupID = "pool"

// fastID is the id of the remote provider modes r and i call, and the name
// the fast backend announces.
const fastID = "fast"

// gateway is a running bin/switchyard serve.
type gateway struct {
	*proc
	addr string
}

// startGateway writes the configuration into dir and starts the gateway on
// a free loopback port, waiting until GET /health answers 200.
func startGateway(ctx context.Context, bin, dir string, withGroup bool, fastEndpoint string) (*gateway, error) {
	suffix := ""
	if !withGroup {
		suffix = "-nogroup"
	}
	cfgPath := filepath.Join(dir, "switchyard"+suffix+".yaml")
	cfg := gatewayConfig(filepath.Join(bin, "testserver"), withGroup, fastEndpoint)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(dir, "data"+suffix)
	logPath := filepath.Join(dir, "switchyard"+suffix+".log")
	logf, err := os.Create(logPath) //nolint:gosec // a file of the run's own temporary directory
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }()
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	p, err := startProc("switchyard", []string{filepath.Join(bin, "switchyard"), "serve",
		"--config", cfgPath, "--listen", addr, "--data-dir", dataDir, "--log-level", "warn"}, logf, logf, logPath)
	if err != nil {
		return nil, err
	}
	g := &gateway{proc: p, addr: addr}
	if err := g.waitHealthy(ctx, 30*time.Second); err != nil {
		err = p.failure(err)
		p.stop(5 * time.Second)
		return nil, err
	}
	return g, nil
}

// waitHealthy polls GET /health until it answers 200.
func (g *gateway) waitHealthy(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	var last error
	for time.Now().Before(deadline) {
		if g.exited() {
			return errors.New("gateway exited before it was ready")
		}
		resp, err := hc.Get("http://" + g.addr + "/health")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /health: HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("gateway not healthy within %s: %v", limit, last)
}

// startProvider asks the gateway to start provider id and waits until it
// is ready.
func (g *gateway) startProvider(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+g.addr+"/api/providers/"+id+"/start", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("start provider %s: %w", id, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("start provider %s: HTTP %d: %s", id, resp.StatusCode, clip(body))
	}
	return nil
}
