package transports

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// dockerWait bounds each wait on the engine in these tests.
const dockerWait = 60 * time.Second

// dockerEnv is the engine, the test server's image and an instance id of
// the test's own, whose containers are removed when the test ends.
type dockerEnv struct {
	t        *testing.T
	cli      *client.Client
	image    string
	instance string
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	cli := testbin.Docker(t)
	image := testbin.DockerImage(t)
	e := &dockerEnv{t: t, cli: cli, image: image, instance: "test-" + randHex(t)}
	t.Cleanup(e.removeAll)
	return e
}

func randHex(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// labelled lists the containers labelled with the test's instance.
func (e *dockerEnv) labelled() []container.Summary {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	list, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelInstance+"="+e.instance)})
	if err != nil {
		e.t.Fatalf("ContainerList: %v", err)
	}
	return list.Items
}

// removeAll force-removes whatever the test left labelled with its
// instance, and fails the test if there was anything.
func (e *dockerEnv) removeAll() {
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	for _, s := range e.labelled() {
		e.t.Errorf("container %s (%v) left behind", shortID(s.ID), s.Names)
		_, _ = e.cli.ContainerRemove(ctx, s.ID, client.ContainerRemoveOptions{Force: true})
	}
}

// spec is a hardened spec running the test server.
func (e *dockerEnv) spec(provider string) ContainerSpec {
	return ContainerSpec{
		Client:    e.cli,
		Image:     e.image,
		ReadOnly:  true,
		Instance:  e.instance,
		Provider:  provider,
		StopGrace: 2 * time.Second,
	}
}

// gone reports whether the container no longer exists.
func (e *dockerEnv) gone(id string) bool {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	_, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		e.t.Fatalf("ContainerInspect: %v", err)
	}
	return err != nil
}

// dockerBackend is a container under test with what it reported.
type dockerBackend struct {
	t      *testing.T
	c      *Container
	sess   *Session
	stderr chan string
	exited chan error
	exits  atomic.Int32
}

// start starts a container backend from spec and shakes hands with it
// unless noHandshake; the container is stopped when the test ends.
func (e *dockerEnv) start(spec ContainerSpec, noHandshake bool) *dockerBackend {
	e.t.Helper()
	b := &dockerBackend{t: e.t, stderr: make(chan string, 1024), exited: make(chan error, 1)}
	spec.Hooks.OnStderr = func(line string) {
		select {
		case b.stderr <- line:
		default:
		}
	}
	spec.Hooks.OnExit = func(err error) {
		if b.exits.Add(1) > 1 {
			e.t.Errorf("OnExit called again with %v", err)
			return
		}
		b.exited <- err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	c, err := StartContainer(ctx, spec)
	if err != nil {
		e.t.Fatalf("StartContainer: %v", err)
	}
	b.c = c
	e.t.Cleanup(func() {
		c.Stop()
		b.waitDone()
	})
	if !noHandshake {
		sess, err := Handshake(ctx, c.Mux(), ClientInfo{Name: "switchyard-test", Version: "0"})
		if err != nil {
			e.t.Fatalf("Handshake: %v", err)
		}
		b.sess = sess
	}
	return b
}

func (b *dockerBackend) waitDone() {
	b.t.Helper()
	select {
	case <-b.c.Done():
	case <-time.After(dockerWait):
		b.t.Fatalf("container %s not done within %v", shortID(b.c.ID()), dockerWait)
	}
}

// exitErr waits for OnExit and returns its error.
func (b *dockerBackend) exitErr() error {
	b.t.Helper()
	select {
	case err := <-b.exited:
		return err
	case <-time.After(dockerWait):
		b.t.Fatalf("OnExit not called within %v", dockerWait)
		return nil
	}
}

// tool calls a tool and returns its text.
func (b *dockerBackend) tool(name, args string) string {
	b.t.Helper()
	return toolText(b.t, b.sess, name, args, dockerWait)
}

func TestDockerHandshakeListCall(t *testing.T) {
	e := newDockerEnv(t)
	b := e.start(e.spec("echo-provider"), false)

	if got := b.c.Describe(); got.Container != b.c.ID() || got.Transport != "docker" || got.Pid != 0 {
		t.Errorf("Describe = %+v, want container %s over docker", got, b.c.ID())
	}
	if name := b.sess.Info().Name; name != "testserver" {
		t.Errorf("server name %q, want testserver", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	tools, err := b.sess.ListTools(ctx)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
	}
	for _, want := range []string{"echo", "net_probe", "fs_probe", "stderr"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	if got := b.tool("echo", `{"text":"hello, container"}`); got != "hello, container" {
		t.Errorf("echo = %q", got)
	}
}

func TestDockerSandbox(t *testing.T) {
	e := newDockerEnv(t)
	spec := e.spec("sandbox")
	host := t.TempDir()
	spec.Volumes = []string{host + ":/data", host + ":/scratch:rw"}
	spec.Labels = map[string]string{"team": "tests", LabelManaged: "false"}
	b := e.start(spec, false)

	if got := b.tool("net_probe", ""); !strings.HasPrefix(got, "network: unreachable") {
		t.Errorf("net_probe = %q, want network: unreachable", got)
	}
	if got := b.tool("fs_probe", ""); !strings.HasPrefix(got, "fs: read-only") {
		t.Errorf("fs_probe = %q, want fs: read-only", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	ins, err := e.cli.ContainerInspect(ctx, b.c.ID(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("ContainerInspect: %v", err)
	}
	ctr := ins.Container
	hc, cfg := ctr.HostConfig, ctr.Config
	if !strings.HasPrefix(ctr.Name, "/switchyard-sandbox-") || ctr.Name != "/"+b.c.Name() {
		t.Errorf("name %q, want /switchyard-sandbox-<random> (%s)", ctr.Name, b.c.Name())
	}
	if !hc.ReadonlyRootfs {
		t.Error("root file system is writable")
	}
	if !slices.Contains(hc.CapDrop, "ALL") {
		t.Errorf("CapDrop = %v, want ALL", hc.CapDrop)
	}
	if len(hc.CapAdd) != 0 || hc.Privileged {
		t.Errorf("CapAdd = %v, Privileged = %v", hc.CapAdd, hc.Privileged)
	}
	if !slices.ContainsFunc(hc.SecurityOpt, func(s string) bool { return strings.HasPrefix(s, "no-new-privileges") }) {
		t.Errorf("SecurityOpt = %v, want no-new-privileges", hc.SecurityOpt)
	}
	if hc.NetworkMode != "none" {
		t.Errorf("NetworkMode = %q, want none", hc.NetworkMode)
	}
	if hc.Memory != DefaultContainerMemoryMB<<20 {
		t.Errorf("Memory = %d, want %d", hc.Memory, DefaultContainerMemoryMB<<20)
	}
	if hc.NanoCPUs != 1e9 {
		t.Errorf("NanoCPUs = %d, want 1e9", hc.NanoCPUs)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != DefaultContainerPids {
		t.Errorf("PidsLimit = %v, want %d", hc.PidsLimit, DefaultContainerPids)
	}
	if got := hc.Tmpfs["/tmp"]; got != ContainerTmpfsOptions {
		t.Errorf("tmpfs /tmp = %q, want %q", got, ContainerTmpfsOptions)
	}
	if hc.Init == nil || !*hc.Init {
		t.Errorf("Init = %v, want an init process as PID 1", hc.Init)
	}
	if hc.AutoRemove || !hc.RestartPolicy.IsNone() {
		t.Errorf("AutoRemove = %v, RestartPolicy = %+v", hc.AutoRemove, hc.RestartPolicy)
	}
	wantBinds := []string{host + ":/data:ro", host + ":/scratch:rw"}
	if !slices.Equal(hc.Binds, wantBinds) {
		t.Errorf("Binds = %v, want %v", hc.Binds, wantBinds)
	}
	if !cfg.OpenStdin || !cfg.StdinOnce || cfg.Tty {
		t.Errorf("OpenStdin %v StdinOnce %v Tty %v", cfg.OpenStdin, cfg.StdinOnce, cfg.Tty)
	}
	wantLabels := map[string]string{LabelManaged: "true", LabelInstance: e.instance, LabelProvider: "sandbox", "team": "tests"}
	for k, v := range wantLabels {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
}

func TestDockerStderrAndEnv(t *testing.T) {
	t.Setenv("SY_GATEWAY_ONLY", "secret")
	e := newDockerEnv(t)
	spec := e.spec("stderr")
	spec.Env = map[string]string{"GREETING": "hi there"}
	b := e.start(spec, false)

	if got := b.tool("env", `{"name":"GREETING"}`); got != "hi there" {
		t.Errorf("env GREETING = %q", got)
	}
	if got := b.tool("env", `{"name":"SY_GATEWAY_ONLY"}`); got != "" {
		t.Errorf("the gateway's environment leaked: SY_GATEWAY_ONLY = %q", got)
	}
	if got := b.tool("stderr", `{"n":3,"text":"from the container"}`); got != "wrote 3" {
		t.Errorf("stderr = %q", got)
	}
	for i := 1; i <= 3; i++ {
		want := "from the container " + string(rune('0'+i))
		select {
		case got := <-b.stderr:
			if got != want {
				t.Errorf("stderr line %q, want %q", got, want)
			}
		case <-time.After(dockerWait):
			t.Fatalf("no stderr line %q within %v", want, dockerWait)
		}
	}
}

func TestDockerStopRemoves(t *testing.T) {
	e := newDockerEnv(t)
	b := e.start(e.spec("stopper"), false)
	if got := b.tool("echo", `{"text":"before stop"}`); got != "before stop" {
		t.Errorf("echo = %q", got)
	}
	b.c.Stop()
	b.c.Stop() // idempotent
	b.waitDone()
	if err := b.exitErr(); err != nil {
		t.Errorf("OnExit after Stop: %v", err)
	}
	if err := b.c.ExitErr(); err != nil {
		t.Errorf("ExitErr after Stop: %v", err)
	}
	if !e.gone(b.c.ID()) {
		t.Errorf("container %s still there after Stop", shortID(b.c.ID()))
	}
	if _, err := b.c.Mux().Call(context.Background(), "ping", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("call after Stop: %v, want ErrClosed", err)
	}
	b.c.Stop() // after Done: nothing to do
}

func TestDockerStopAtOnce(t *testing.T) {
	e := newDockerEnv(t)
	b := e.start(e.spec("quick"), true)
	b.c.Stop()
	b.waitDone()
	_ = b.exitErr()
	if !e.gone(b.c.ID()) {
		t.Errorf("container %s still there after Stop", shortID(b.c.ID()))
	}
}

func TestDockerKilledFromOutside(t *testing.T) {
	e := newDockerEnv(t)
	b := e.start(e.spec("victim"), false)
	c := newCall(t)
	if _, err := b.sess.GoCall("hang", nil, 0, c.cb); err != nil {
		t.Fatalf("GoCall hang: %v", err)
	}
	c.pendingNow()

	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	if _, err := e.cli.ContainerKill(ctx, b.c.ID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatalf("ContainerKill: %v", err)
	}
	if r := c.wait(); !errors.Is(r.Err, ErrClosed) {
		t.Errorf("pending call got %+v, want ErrClosed", r)
	}
	b.waitDone()
	err := b.exitErr()
	var ee *ContainerExitError
	if !errors.As(err, &ee) || ee.Code != 137 {
		t.Errorf("OnExit(%v), want exit code 137", err)
	}
	if !e.gone(b.c.ID()) {
		t.Errorf("container %s still there after it was killed", shortID(b.c.ID()))
	}
}

func TestDockerExitCode(t *testing.T) {
	e := newDockerEnv(t)
	spec := e.spec("quitter")
	spec.Env = map[string]string{"SY_TESTSERVER_MODE": "exit"}
	b := e.start(spec, true)
	b.waitDone()
	err := b.exitErr()
	var ee *ContainerExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("OnExit(%v), want exit code 3", err)
	}
	if !errors.Is(b.c.Mux().Err(), ErrEOF) && !errors.As(b.c.Mux().Err(), &ee) {
		t.Errorf("connection ended with %v", b.c.Mux().Err())
	}
	if !e.gone(b.c.ID()) {
		t.Errorf("container %s still there after it exited", shortID(b.c.ID()))
	}
}

// TestDockerRemoveStale removes the containers an earlier run of the same
// owner left, as a gateway does at start-up, and nothing else.
func TestDockerRemoveStale(t *testing.T) {
	e := newDockerEnv(t)
	b := e.start(e.spec("keeper"), true)

	// A container an earlier run of the same owner left behind, and one of
	// another gateway (another owner) that must survive.
	owner := map[string]string{"io.switchyard.owner": "test-owner-" + randHex(t)}
	ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
	defer cancel()
	create := func(ownerID string) string {
		c, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: e.image, Labels: map[string]string{
				LabelManaged: "true", LabelInstance: "test-other-" + randHex(t), LabelProvider: "stale",
				"io.switchyard.owner": ownerID,
			}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatalf("ContainerCreate: %v", err)
		}
		t.Cleanup(func() {
			_, _ = e.cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
		return c.ID
	}
	stale := create(owner["io.switchyard.owner"])
	foreign := create("test-foreign-" + randHex(t))

	removed, err := RemoveStale(ctx, e.cli, owner, e.instance)
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	if !slices.Contains(removed, stale) {
		t.Errorf("RemoveStale removed %v, not the stale %s", removed, shortID(stale))
	}
	if slices.Contains(removed, b.c.ID()) {
		t.Errorf("RemoveStale removed our own container %s", shortID(b.c.ID()))
	}
	if !e.gone(stale) {
		t.Errorf("stale container %s still there", shortID(stale))
	}
	if e.gone(foreign) || slices.Contains(removed, foreign) {
		t.Errorf("another owner's container %s was removed", shortID(foreign))
	}
	if e.gone(b.c.ID()) {
		t.Errorf("our container %s is gone", shortID(b.c.ID()))
	}
	select {
	case <-b.c.Done():
		t.Error("our container ended")
	default:
	}
}

func TestDockerMissingImage(t *testing.T) {
	e := newDockerEnv(t)
	spec := e.spec("missing")
	spec.Image = "switchyard/no-such-image-" + randHex(t) + ":none"
	var (
		mu       sync.Mutex
		progress []string
	)
	spec.Hooks.OnProgress = func(msg string) {
		mu.Lock()
		progress = append(progress, msg)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*dockerWait)
	defer cancel()
	c, err := StartContainer(ctx, spec)
	if err == nil {
		c.Stop()
		<-c.Done()
		t.Fatal("StartContainer succeeded with a missing image")
	}
	want := `image "` + spec.Image + `" is not present and could not be pulled: `
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
	mu.Lock()
	if len(progress) == 0 || !strings.Contains(progress[0], "pulling image") {
		t.Errorf("progress %q, want a pull announced", progress)
	}
	mu.Unlock()
	if left := e.labelled(); len(left) != 0 {
		t.Errorf("containers left behind: %v", left)
	}
}

// TestDockerStartFailures fails or cancels each step of a start and checks
// that nothing is left behind (goroutines are checked by TestMain).
func TestDockerStartFailures(t *testing.T) {
	e := newDockerEnv(t)
	injected := errors.New("injected failure")
	for _, tc := range []struct {
		name string
		// path suffix of the request to interfere with
		path string
		// cancel the start's context instead of failing the request
		cancel bool
		// cancel once the engine has answered the request
		after bool
	}{
		{name: "create", path: "/containers/create"},
		{name: "attach", path: "/attach"},
		{name: "wait", path: "/wait"},
		{name: "start", path: "/start"},
		{name: "cancel-after-create", path: "/containers/create", cancel: true, after: true},
		{name: "cancel-after-attach", path: "/attach", cancel: true, after: true},
		{name: "cancel-after-wait", path: "/wait", cancel: true, after: true},
		{name: "cancel-before-start", path: "/start", cancel: true},
		{name: "cancel-after-start", path: "/start", cancel: true, after: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), dockerWait)
			defer cancel()
			opts := []client.Opt{client.FromEnv}
			if tc.after {
				opts = append(opts, client.WithHTTPResponseHook(func(r *http.Response) {
					if r.Request != nil && strings.HasSuffix(r.Request.URL.Path, tc.path) {
						cancel()
					}
				}))
			} else {
				opts = append(opts, client.WithHTTPRequestHook(func(r *http.Request) error {
					if !strings.HasSuffix(r.URL.Path, tc.path) {
						return nil
					}
					if tc.cancel {
						cancel()
						return nil
					}
					return injected
				}))
			}
			cli, err := client.New(opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cli.Close() }()
			spec := e.spec("fail-" + tc.name)
			spec.Client = cli
			var exits atomic.Int32
			spec.Hooks.OnExit = func(error) { exits.Add(1) }
			c, err := StartContainer(ctx, spec)
			if err == nil {
				c.Stop()
				<-c.Done()
				t.Fatal("StartContainer succeeded")
			}
			if !tc.cancel && !errors.Is(err, injected) {
				t.Errorf("error %v, want the injected failure", err)
			}
			if tc.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
			if left := e.labelled(); len(left) != 0 {
				t.Errorf("containers left behind: %v", left)
				for _, s := range left {
					_, _ = e.cli.ContainerRemove(context.Background(), s.ID, client.ContainerRemoveOptions{Force: true})
				}
			}
			if n := exits.Load(); n != 0 {
				t.Errorf("OnExit called %d times for a container that never ran", n)
			}
		})
	}
}

func TestDockerValidateVolume(t *testing.T) {
	for _, tc := range []struct {
		in, bind string // bind "" means refused
	}{
		{"/srv/data:/data", "/srv/data:/data:ro"},
		{"/srv/data:/data:ro", "/srv/data:/data:ro"},
		{"/srv/data:/data:rw", "/srv/data:/data:rw"},
		{"/srv/data/../other/:/data/", "/srv/other:/data:ro"},
		{"/:/x", ""},
		{"/..:/x", ""},
		{"//:/x", ""},
		{"relative:/x", ""},
		{"./here:/x", ""},
		{"named-volume:/x", ""},
		{"/srv:relative", ""},
		{"/srv:/", ""},
		{"/srv:/x:rx", ""},
		{"/srv:/x:RO", ""},
		{"/srv:/x:ro:extra", ""},
		{"/srv", ""},
		{"", ""},
		{":/x", ""},
	} {
		bind, err := bindOf(tc.in)
		if (err == nil) != (tc.bind != "") {
			t.Errorf("ValidateVolume(%q) = %v, want refused: %v", tc.in, err, tc.bind == "")
			continue
		}
		if err != ValidateVolume(tc.in) && (err == nil || ValidateVolume(tc.in) == nil) {
			t.Errorf("ValidateVolume(%q) disagrees with bindOf", tc.in)
		}
		if bind != tc.bind {
			t.Errorf("bind of %q = %q, want %q", tc.in, bind, tc.bind)
		}
	}
}

func TestDockerSpecErrors(t *testing.T) {
	ctx := context.Background()
	for _, spec := range []ContainerSpec{
		{},
		{Image: "x", Volumes: []string{"/:/host"}},
		{Image: "x", Env: map[string]string{"A=B": "c"}},
	} {
		if _, err := StartContainer(ctx, spec); err == nil {
			t.Errorf("StartContainer(%+v) succeeded", spec)
		}
	}
}

func TestDockerPullProgress(t *testing.T) {
	var got []string
	now := time.Unix(1000, 0)
	p := newPullProgress(func(s string) { got = append(got, s) }, func() time.Time { return now })
	at := func(d time.Duration, m jsonstream.Message) {
		now = time.Unix(1000, 0).Add(d)
		p.message(m)
	}
	bytes := func(cur, total int64) *jsonstream.Progress { return &jsonstream.Progress{Current: cur, Total: total} }
	at(0, jsonstream.Message{ID: "latest", Status: "Pulling from library/alpine"})
	at(0, jsonstream.Message{ID: "abc", Status: "Pulling fs layer"})
	at(0, jsonstream.Message{ID: "abc", Status: "Downloading", Progress: bytes(10, 100)})
	at(500*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Downloading", Progress: bytes(20, 100)})
	at(1200*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Downloading", Progress: bytes(50, 100)})
	at(1300*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Download complete"})
	at(1300*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Download complete"})
	at(1400*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Extracting", Progress: bytes(1, 100)})
	at(1400*time.Millisecond, jsonstream.Message{ID: "abc", Status: "Pull complete"})
	at(1400*time.Millisecond, jsonstream.Message{Stream: "not a status"})
	at(1500*time.Millisecond, jsonstream.Message{Status: "Digest: sha256:0123"})
	at(1500*time.Millisecond, jsonstream.Message{Status: "Status: Downloaded newer image for alpine:latest"})
	want := []string{
		"latest: Pulling from library/alpine",
		"abc: Pulling fs layer",
		"abc: Downloading 10% of 100 bytes",
		"abc: Downloading 50% of 100 bytes",
		"abc: Download complete",
		"abc: Extracting 1% of 100 bytes",
		"abc: Pull complete",
		"Digest: sha256:0123",
		"Status: Downloaded newer image for alpine:latest",
	}
	if !slices.Equal(got, want) {
		t.Errorf("progress lines\n%q\nwant\n%q", got, want)
	}
}
