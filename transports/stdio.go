package transports

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MaxLogLine bounds one stderr line kept for logs; longer lines are cut.
const MaxLogLine = 4096

// ProcessSpec describes a subprocess backend speaking MCP over stdio.
type ProcessSpec struct {
	// Command is the program and its arguments.
	Command []string
	// Env is the child's complete environment (KEY=VALUE); the gateway's own
	// environment is not inherited.
	Env []string
	// Dir is the working directory ("" = the gateway's).
	Dir string
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL
	// (default 5s).
	StopGrace time.Duration
	// Mux configures the JSON-RPC connection over stdin/stdout. When the
	// connection ends (the process closed its stdout, or the Mux was closed)
	// the process is stopped as by Stop, after Mux.OnClosed has run.
	Mux MuxOptions
	// OnStderr receives each stderr line (at most MaxLogLine bytes).
	OnStderr func(line string)
	// OnExit is called once after the process has exited, its group has been
	// killed and its output drained, with the exit error (nil for status 0).
	OnExit func(err error)
}

// Process is a running subprocess backend. Its process group is killed whole
// when it stops or exits, and it is always reaped.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mux   *Mux
	grace time.Duration

	readers  sync.WaitGroup
	done     chan struct{}
	exitErr  error
	stopOnce sync.Once
	outR     *os.File
	errR     *os.File

	// sigMu orders signals to the group against the leader's reaping: once
	// the leader is reaped its pid, the group id, may name another group.
	sigMu  sync.Mutex
	reaped bool
}

// StartProcess starts the command in its own process group.
func StartProcess(spec ProcessSpec) (*Process, error) {
	if len(spec.Command) == 0 {
		return nil, errors.New("empty command")
	}
	if spec.StopGrace <= 0 {
		spec.StopGrace = 5 * time.Second
	}
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...) // #nosec G204 -- the command is the operator's configuration
	cmd.Env = spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = spec.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		_ = stdin.Close()
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = stdin.Close()
		_ = outR.Close()
		_ = outW.Close()
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdout = outW
	cmd.Stderr = errW
	if err := cmd.Start(); err != nil {
		_ = stdin.Close()
		for _, f := range []*os.File{outR, outW, errR, errW} {
			_ = f.Close()
		}
		return nil, fmt.Errorf("start %q: %w", spec.Command[0], err)
	}
	_ = outW.Close()
	_ = errW.Close()

	p := &Process{cmd: cmd, stdin: stdin, grace: spec.StopGrace, done: make(chan struct{}), outR: outR, errR: errR}
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		readLines(errR, spec.OnStderr)
	}()
	muxOpts := spec.Mux
	onClosed := muxOpts.OnClosed
	muxOpts.OnClosed = func(err error) {
		if onClosed != nil {
			onClosed(err)
		}
		p.Stop() // a backend without its connection is of no use
	}
	p.mux = NewMux(stdin, outR, muxOpts)
	go p.wait(spec.OnExit)
	return p, nil
}

// Mux returns the JSON-RPC connection to the process.
func (p *Process) Mux() *Mux { return p.mux }

// Pid returns the process id (also its process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been cleaned up.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr reports the exit error once Done is closed.
func (p *Process) ExitErr() error {
	<-p.done
	return p.exitErr
}

// Stop asks the process group to end (stdin closed, SIGTERM) and kills it
// with SIGKILL after the grace period. It returns at once; wait on Done.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		_ = p.stdin.Close()
		p.signalGroup(syscall.SIGTERM)
		t := time.AfterFunc(p.grace, func() { p.signalGroup(syscall.SIGKILL) })
		go func() {
			<-p.done
			t.Stop()
		}()
	})
}

// signalGroup sends sig to the process group unless the leader has been
// reaped (the group is dead by then).
func (p *Process) signalGroup(sig syscall.Signal) {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// awaitExit blocks until the process has exited, leaving it unreaped: a
// zombie keeps its pid, so its process group id cannot be reused yet.
func awaitExit(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// killGroup kills what is left of the process group (grandchildren) and
// marks the leader as reaped, so no later signal can reach a reused id.
func (p *Process) killGroup() {
	p.sigMu.Lock()
	defer p.sigMu.Unlock()
	if !p.reaped {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.reaped = true
	}
}

func (p *Process) wait(onExit func(error)) {
	var err error
	if awaitExit(p.cmd.Process.Pid) == nil {
		// The leader is a zombie: the group id still names its group.
		p.killGroup()
		err = p.cmd.Wait()
	} else {
		err = p.cmd.Wait()
		p.killGroup()
	}
	_ = p.stdin.Close()
	// Let the readers drain what the process wrote before it exited; a
	// straggler holding the pipes open is cut off after a bound.
	drained := make(chan struct{})
	go func() { p.readers.Wait(); <-p.mux.readDone; close(drained) }()
	select {
	case <-drained:
	case <-time.After(2 * time.Second):
		_ = p.errR.Close()
		_ = p.outR.Close()
		<-drained
	}
	exit := fmt.Errorf("process exited: %w", io.EOF)
	if err != nil {
		exit = fmt.Errorf("process exited: %w", err)
	}
	p.mux.shutdown(exit)
	_ = p.mux.Close()
	_ = p.outR.Close()
	_ = p.errR.Close()
	p.exitErr = err
	close(p.done)
	if onExit != nil {
		onExit(err)
	}
}
