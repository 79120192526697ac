package transports

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Labels Switchyard puts on the containers it runs.
const (
	// LabelManaged marks a container as run by Switchyard ("true").
	LabelManaged = "io.switchyard.managed"
	// LabelInstance names the gateway instance that owns a container.
	LabelInstance = "io.switchyard.instance"
	// LabelProvider names the provider a container serves.
	LabelProvider = "io.switchyard.provider"
)

// Defaults of a ContainerSpec.
const (
	// DefaultContainerNetwork is the default network mode: no network.
	DefaultContainerNetwork = "none"
	// DefaultContainerMemoryMB is the default memory limit in MiB.
	DefaultContainerMemoryMB = 256
	// DefaultContainerCPUs is the default CPU limit.
	DefaultContainerCPUs = 1.0
	// DefaultContainerPids is the default limit on the number of processes.
	DefaultContainerPids = 128
	// ContainerTmpfsOptions are the mount options of the tmpfs at /tmp.
	ContainerTmpfsOptions = "rw,noexec,nosuid,size=64m"
)

// dockerCleanupTimeout bounds each engine call made to clean up after a
// container (removal, inspection), whatever the caller's context.
const dockerCleanupTimeout = 30 * time.Second

// drainTimeout bounds how long the exit path waits for the engine to end
// the attached output of an exited container before cutting it off.
const drainTimeout = 2 * time.Second

// errDrainCutOff ends the output of a container whose attached streams
// outlived drainTimeout.
var errDrainCutOff = errors.New("container output cut off after exit")

// ErrImageUnavailable reports that the image is not on the engine and
// pulling it failed. Retrying at once will not help, so supervisors should not.
var ErrImageUnavailable = errors.New("image unavailable")

// progressInterval throttles the byte-count progress of an image pull.
const progressInterval = time.Second

// ContainerSpec describes a docker backend: an MCP server speaking over the
// stdin and stdout of a container. The container is hardened by default:
// no network, a read-only root file system when ReadOnly is set, every
// capability dropped, no privilege escalation and bounded memory, CPU and
// process count.
type ContainerSpec struct {
	// Client is the engine client, shared between backends; nil makes one
	// from the environment (DOCKER_HOST) that lives as long as the container.
	Client *client.Client
	// Image is the image to run; it is pulled when it is not present.
	Image string
	// Command overrides the image's command when set.
	Command []string
	// Env is the container's environment (on top of the image's own); none
	// of the gateway's environment is passed.
	Env map[string]string
	// Volumes are bind mounts "host:container[:ro|:rw]", read-only unless
	// ":rw" is given. The host path must be absolute and not "/".
	Volumes []string
	// Network is the network mode (default "none").
	Network string
	// ReadOnly makes the root file system read-only; a tmpfs is mounted at
	// /tmp either way.
	ReadOnly bool
	// MemoryMB limits memory, swap included (default 256).
	MemoryMB int64
	// CPUs limits CPU time in CPUs (default 1.0).
	CPUs float64
	// PidsLimit limits the number of processes (default 128).
	PidsLimit int64
	// Labels are extra labels; the io.switchyard.* labels cannot be
	// overridden.
	Labels map[string]string
	// Instance is the owning gateway instance's id (label
	// io.switchyard.instance), which RemoveStale keeps.
	Instance string
	// Provider is the provider's id (label io.switchyard.provider); it also
	// names the container.
	Provider string
	// StopGrace is how long Stop waits after SIGTERM before the engine
	// kills the container (default 5s, rounded up to whole seconds).
	StopGrace time.Duration
	// Hooks receive the connection's events, the container's stderr lines,
	// image pull progress and the container's end. When the connection
	// ends the container is stopped as by Stop, after Hooks.Mux.OnClosed
	// has run.
	Hooks Hooks
}

// ContainerExitError reports that a container ended with a non-zero exit
// code.
type ContainerExitError struct {
	// Code is the container's exit code (137 when it was killed).
	Code int64
	// OOMKilled reports that the kernel killed it for exceeding its memory
	// limit.
	OOMKilled bool
	// Message is the engine's error about the exit, if any.
	Message string
}

// Error describes the exit.
func (e *ContainerExitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "container exited with code %d", e.Code)
	if e.OOMKilled {
		b.WriteString(" (killed: out of memory)")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Container is a running docker backend. It is removed from the engine
// when it exits or is stopped, whatever the reason.
type Container struct {
	cli    *client.Client
	ownCli bool
	id     string
	name   string
	grace  time.Duration
	mux    *Mux
	attach client.HijackedResponse

	outR, errR *io.PipeReader
	copyDone   chan struct{} // the demultiplexer ended
	errDone    chan struct{} // the stderr line reader ended

	// life is cancelled once the container has exited; it bounds the calls
	// Stop makes.
	life       context.Context
	cancelLife context.CancelFunc

	mu          sync.Mutex
	exited      bool          // the exit path has begun; Stop does nothing
	stopStarted bool          // Stop started its goroutine
	stopDone    chan struct{} // closed when Stop's goroutine ends

	done    chan struct{}
	exitErr error
}

var _ Backend = (*Container)(nil)

// NewDockerClient returns an engine client configured from the environment
// (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH, DOCKER_TLS_VERIFY).
// The API version is negotiated with the engine on first use unless
// DOCKER_API_VERSION fixes it. Close it when done.
func NewDockerClient() (*client.Client, error) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// ValidateVolume checks a bind mount "host:container[:ro|:rw]". Both paths
// must be absolute; the host path must not be the root directory, and a
// relative one (which the engine would take for a named volume) is refused.
func ValidateVolume(v string) error {
	_, err := bindOf(v)
	return err
}

// bindOf validates a volume and returns its engine bind, with an explicit
// mode (":ro" unless ":rw" was given).
func bindOf(v string) (string, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return "", fmt.Errorf("volume %q: want host:container[:ro|:rw]", v)
	}
	host, ctr := parts[0], parts[1]
	mode := "ro"
	if len(parts) == 3 {
		mode = parts[2]
		if mode != "ro" && mode != "rw" {
			return "", fmt.Errorf("volume %q: mode %q is neither ro nor rw", v, mode)
		}
	}
	if !strings.HasPrefix(host, "/") {
		return "", fmt.Errorf("volume %q: host path %q is not absolute", v, host)
	}
	host = path.Clean(host)
	if host == "/" {
		return "", fmt.Errorf("volume %q: the host root may not be mounted", v)
	}
	if !strings.HasPrefix(ctr, "/") {
		return "", fmt.Errorf("volume %q: container path %q is not absolute", v, ctr)
	}
	ctr = path.Clean(ctr)
	if ctr == "/" {
		return "", fmt.Errorf("volume %q: cannot mount over the container's root", v)
	}
	return host + ":" + ctr + ":" + mode, nil
}

// StartContainer creates the container, attaches to its stdin, stdout and
// stderr, and starts it; the image is pulled first when the engine does
// not have it. ctx bounds the start only. Whatever fails after the
// container was created, the container is removed.
func StartContainer(ctx context.Context, spec ContainerSpec) (*Container, error) {
	cfg, hostCfg, err := containerConfig(&spec)
	if err != nil {
		return nil, err
	}
	cli, ownCli := spec.Client, false
	if cli == nil {
		if cli, err = NewDockerClient(); err != nil {
			return nil, err
		}
		ownCli = true
	}
	c, err := startContainer(ctx, cli, ownCli, spec, cfg, hostCfg)
	if err != nil && ownCli {
		_ = cli.Close()
	}
	return c, err
}

// containerConfig applies the spec's defaults and builds the engine's
// container and host configurations.
func containerConfig(spec *ContainerSpec) (*container.Config, *container.HostConfig, error) {
	if spec.Image == "" {
		return nil, nil, errors.New("container: no image")
	}
	if spec.Network == "" {
		spec.Network = DefaultContainerNetwork
	}
	if spec.MemoryMB <= 0 {
		spec.MemoryMB = DefaultContainerMemoryMB
	}
	if spec.CPUs <= 0 {
		spec.CPUs = DefaultContainerCPUs
	}
	if spec.PidsLimit <= 0 {
		spec.PidsLimit = DefaultContainerPids
	}
	if spec.StopGrace <= 0 {
		spec.StopGrace = 5 * time.Second
	}
	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, nil, fmt.Errorf("container: bad environment variable name %q", k)
		}
		env = append(env, k+"="+spec.Env[k])
	}
	binds := make([]string, 0, len(spec.Volumes))
	for _, v := range spec.Volumes {
		b, err := bindOf(v)
		if err != nil {
			return nil, nil, fmt.Errorf("container: %w", err)
		}
		binds = append(binds, b)
	}
	labels := make(map[string]string, len(spec.Labels)+3)
	maps.Copy(labels, spec.Labels)
	labels[LabelManaged] = "true"
	labels[LabelInstance] = spec.Instance
	labels[LabelProvider] = spec.Provider

	memory := spec.MemoryMB << 20
	pids := spec.PidsLimit
	cfg := &container.Config{
		Image:     spec.Image,
		Env:       env,
		Labels:    labels,
		OpenStdin: true,
		// Closing our side of the attach closes the server's stdin, so
		// it can end on EOF as a subprocess does.
		StdinOnce:    true,
		AttachStdin:  true,
		AttachStdout: true,
		AttachStderr: true,
		Tty:          false,
	}
	if len(spec.Command) > 0 {
		cfg.Cmd = slices.Clone(spec.Command)
	}
	hostCfg := &container.HostConfig{
		Binds:          binds,
		NetworkMode:    container.NetworkMode(spec.Network),
		ReadonlyRootfs: spec.ReadOnly,
		Tmpfs:          map[string]string{"/tmp": ContainerTmpfsOptions},
		CapDrop:        []string{"ALL"},
		// A tiny init as PID 1 forwards SIGTERM and reaps, for servers
		// (node, python) that ignore signals as PID 1.
		Init:          &initProcess,
		SecurityOpt:   []string{"no-new-privileges"},
		AutoRemove:    false,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			Memory:     memory,
			MemorySwap: memory,
			NanoCPUs:   int64(math.Round(spec.CPUs * 1e9)),
			PidsLimit:  &pids,
		},
	}
	return cfg, hostCfg, nil
}

var initProcess = true

// containerName is "switchyard-<provider>-<random>", the provider's id cut
// down to the characters a container name allows.
func containerName(provider string) (string, error) {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("container name: %w", err)
	}
	var b strings.Builder
	b.WriteString("switchyard-")
	n := 0
	for _, r := range provider {
		if n == 40 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		n++
	}
	if n > 0 {
		b.WriteByte('-')
	}
	b.WriteString(hex.EncodeToString(rnd[:]))
	return b.String(), nil
}

func startContainer(ctx context.Context, cli *client.Client, ownCli bool, spec ContainerSpec, cfg *container.Config, hostCfg *container.HostConfig) (*Container, error) {
	if err := ensureImage(ctx, cli, spec.Image, spec.Hooks.OnProgress); err != nil {
		return nil, err
	}
	name, err := containerName(spec.Provider)
	if err != nil {
		return nil, err
	}
	created, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hostCfg, Name: name})
	if err != nil {
		// A create cut short may still have made the container.
		removeByName(cli, name, spec.Instance)
		return nil, fmt.Errorf("create container for %q: %w", spec.Image, err)
	}
	id := created.ID
	fail := func(what string, err error) (*Container, error) {
		_ = removeContainer(cli, id)
		return nil, fmt.Errorf("%s container %s: %w", what, shortID(id), err)
	}

	// Attach before start, so no output is lost.
	att, err := cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return fail("attach to", err)
	}

	// Wait for the exit before starting, so no exit is missed. The wait
	// outlives ctx; ctx bounds it only until the container has started.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	unhook := context.AfterFunc(ctx, cancelWait)
	wait := cli.ContainerWait(waitCtx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	waiting := true // ContainerWait's goroutine has its one answer to give
	abort := func(what string, err error) (*Container, error) {
		unhook()
		att.Close()
		cancelWait()
		if waiting {
			// The answer is delivered unbuffered: take it.
			select {
			case <-wait.Result:
			case werr := <-wait.Error:
				_ = werr // the start failed anyway
			}
		}
		return fail(what, err)
	}
	select {
	case err := <-wait.Error: // the request itself failed
		waiting = false
		return abort("wait for", err)
	default:
	}
	if _, err := cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return abort("start", err)
	}
	if !unhook() {
		return abort("start", context.Cause(ctx))
	}

	life, cancelLife := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	c := &Container{
		cli:        cli,
		ownCli:     ownCli,
		id:         id,
		name:       name,
		grace:      spec.StopGrace,
		attach:     att.HijackedResponse,
		outR:       outR,
		errR:       errR,
		copyDone:   make(chan struct{}),
		errDone:    make(chan struct{}),
		life:       life,
		cancelLife: cancelLife,
		stopDone:   make(chan struct{}),
		done:       make(chan struct{}),
	}
	go func() {
		defer close(c.copyDone)
		_, err := stdcopy.StdCopy(outW, errW, c.attach.Reader)
		if err == nil {
			err = io.EOF
		}
		_ = outW.CloseWithError(err)
		_ = errW.CloseWithError(err)
	}()
	go func() {
		defer close(c.errDone)
		readLines(errR, spec.Hooks.OnStderr)
	}()
	muxOpts := spec.Hooks.Mux
	onClosed := muxOpts.OnClosed
	muxOpts.OnClosed = func(err error) {
		if onClosed != nil {
			onClosed(err)
		}
		c.Stop() // a backend without its connection is of no use
	}
	c.mux = NewMux(c.attach.Conn, outR, muxOpts)
	go c.wait(wait, cancelWait, spec.Hooks.OnExit) // #nosec G118 -- the container outlives the start's context; its exit path has contexts of its own
	return c, nil
}

// Mux returns the JSON-RPC connection to the container.
func (c *Container) Mux() *Mux { return c.mux }

// ID returns the container's id.
func (c *Container) ID() string { return c.id }

// Name returns the container's name.
func (c *Container) Name() string { return c.name }

// Done is closed once the container has exited and been removed.
func (c *Container) Done() <-chan struct{} { return c.done }

// ExitErr reports why the container ended once Done is closed (nil for
// exit code 0).
func (c *Container) ExitErr() error {
	<-c.done
	return c.exitErr
}

// Describe implements Backend.
func (c *Container) Describe() BackendInfo {
	return BackendInfo{Container: c.id, Transport: "docker"}
}

// Stop asks the container to end: its stdin is closed (the server sees EOF)
// and the engine sends SIGTERM, then SIGKILL after the grace period. It
// returns at once; the container is removed when it has exited, and Done
// is closed then.
func (c *Container) Stop() {
	c.mu.Lock()
	if c.exited || c.stopStarted {
		c.mu.Unlock()
		return
	}
	c.stopStarted = true
	c.mu.Unlock()
	_ = c.attach.CloseWrite()
	go func() {
		defer close(c.stopDone)
		secs := max(int(math.Ceil(c.grace.Seconds())), 1)
		_, err := c.cli.ContainerStop(c.life, c.id, client.ContainerStopOptions{Timeout: &secs})
		if err != nil && c.life.Err() == nil {
			// The engine refused the orderly stop: kill it outright.
			_, _ = c.cli.ContainerKill(c.life, c.id, client.ContainerKillOptions{Signal: "KILL"})
		}
	}()
}

// wait runs the exit path: it waits for the container to exit, ends the
// connection, removes the container and reports.
func (c *Container) wait(w client.ContainerWaitResult, cancelWait context.CancelFunc, onExit func(error)) {
	var exitErr error
	select {
	case res := <-w.Result:
		if res.StatusCode != 0 || res.Error != nil {
			e := &ContainerExitError{Code: res.StatusCode}
			if res.Error != nil {
				e.Message = res.Error.Message
			}
			exitErr = e
		}
	case err := <-w.Error:
		exitErr = fmt.Errorf("wait for container %s: %w", shortID(c.id), err)
	}
	cancelWait()

	c.mu.Lock()
	c.exited = true
	stopStarted := c.stopStarted
	c.mu.Unlock()
	c.cancelLife()

	// Let the connection drain what the container wrote before it exited;
	// the engine ends the attached streams soon after the exit. Past the
	// bound the streams are cut off, and so are readers that do not read.
	t := time.NewTimer(drainTimeout)
	select {
	case <-c.copyDone:
	case <-t.C:
		c.attach.Close()
		_ = c.outR.CloseWithError(errDrainCutOff)
		_ = c.errR.CloseWithError(errDrainCutOff)
	}
	t.Stop()
	c.attach.Close()
	<-c.copyDone
	<-c.errDone
	<-c.mux.readDone

	reason := fmt.Errorf("container exited: %w", io.EOF)
	if exitErr != nil {
		reason = fmt.Errorf("container exited: %w", exitErr)
	}
	c.mux.shutdown(reason)
	_ = c.mux.Close()
	_ = c.outR.Close()
	_ = c.errR.Close()
	if stopStarted {
		<-c.stopDone
	}

	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
	if ee, ok := exitErr.(*ContainerExitError); ok {
		if ins, err := c.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{}); err == nil && ins.Container.State != nil {
			ee.OOMKilled = ins.Container.State.OOMKilled
		}
	}
	cancel()
	if err := removeContainer(c.cli, c.id); err != nil {
		exitErr = errors.Join(exitErr, err)
	}
	if c.ownCli {
		_ = c.cli.Close()
	}
	c.exitErr = exitErr
	close(c.done)
	if onExit != nil {
		onExit(exitErr)
	}
}

// removeContainer force-removes a container (and its anonymous volumes);
// one already gone counts as removed.
func removeContainer(cli *client.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
	defer cancel()
	_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", shortID(id), err)
	}
	return nil
}

// removeByName removes the container called name if there is one and it
// is labelled as the instance's.
func removeByName(cli *client.Client, name, instance string) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCleanupTimeout)
	defer cancel()
	filters := make(client.Filters).Add("name", "^/"+name+"$").Add("label", LabelManaged+"=true", LabelInstance+"="+instance)
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return
	}
	for _, s := range list.Items {
		_ = removeContainer(cli, s.ID)
	}
}

// RemoveStale force-removes the containers labelled io.switchyard.managed
// that carry every label of match (for example the owning gateway) and
// whose io.switchyard.instance is not keepInstance: those left behind by
// earlier runs. It returns the ids of those removed; the error joins the
// failures.
func RemoveStale(ctx context.Context, cli *client.Client, match map[string]string, keepInstance string) ([]string, error) {
	filters := make(client.Filters).Add("label", LabelManaged+"=true")
	for k, v := range match {
		filters = filters.Add("label", k+"="+v)
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: filters})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var (
		removed []string
		errs    []error
	)
	for _, s := range list.Items {
		if s.Labels[LabelInstance] == keepInstance {
			continue
		}
		if _, err := cli.ContainerRemove(ctx, s.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			if !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", shortID(s.ID), err))
			}
			continue
		}
		removed = append(removed, s.ID)
	}
	return removed, errors.Join(errs...)
}

// ensureImage pulls image unless the engine has it, reporting the pull's
// progress.
func ensureImage(ctx context.Context, cli *client.Client, image string, onProgress func(string)) error {
	_, err := cli.ImageInspect(ctx, image)
	if err == nil {
		return nil
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %q: %w", image, err)
	}
	report := func(msg string) {
		if onProgress != nil {
			onProgress(msg)
		}
	}
	report(fmt.Sprintf("pulling image %q", image))
	if err := pullImage(ctx, cli, image, report); err != nil {
		return fmt.Errorf("%w: image %q is not present and could not be pulled: %w", ErrImageUnavailable, image, err)
	}
	report(fmt.Sprintf("pulled image %q", image))
	return nil
}

// pullImage pulls image, passing status lines to report.
func pullImage(ctx context.Context, cli *client.Client, image string, report func(string)) error {
	resp, err := cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = resp.Close() }()
	p := newPullProgress(report, time.Now)
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		p.message(m)
	}
	return nil
}

// pullProgress turns an image pull's progress messages into status lines:
// every change of a layer's status, and byte counts at most once per
// progressInterval.
type pullProgress struct {
	report func(string)
	now    func() time.Time
	last   time.Time         // when a byte count was last reported
	status map[string]string // layer id -> status last reported
}

func newPullProgress(report func(string), now func() time.Time) *pullProgress {
	return &pullProgress{report: report, now: now, status: make(map[string]string)}
}

func (p *pullProgress) message(m jsonstream.Message) {
	if m.Status == "" {
		return
	}
	line := m.Status
	if m.ID != "" {
		line = m.ID + ": " + m.Status
	}
	changed := p.status[m.ID] != m.Status
	if m.Progress != nil && m.Progress.Total > 0 {
		now := p.now()
		if !changed && now.Sub(p.last) < progressInterval {
			return
		}
		p.last = now
		line += fmt.Sprintf(" %d%% of %d bytes", min(m.Progress.Current*100/m.Progress.Total, 100), m.Progress.Total)
	} else if m.ID != "" && !changed {
		return
	}
	p.status[m.ID] = m.Status
	p.report(line)
}

// readLines passes each line of r (at most MaxLogLine bytes; longer lines
// are cut) to onLine, which may be nil, until r ends.
func readLines(r io.Reader, onLine func(string)) {
	br := bufio.NewReaderSize(r, MaxLogLine)
	var long []byte
	for {
		frag, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if long == nil {
				long = append([]byte(nil), frag...)
			}
			continue
		case err != nil && len(frag) == 0 && long == nil:
			return
		}
		line := frag
		if long != nil {
			line = long
			long = nil
		}
		for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
			line = line[:len(line)-1]
		}
		if onLine != nil && len(line) > 0 {
			onLine(string(line))
		}
		if err != nil {
			return
		}
	}
}

// shortID is the 12-character form of a container id.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
