package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/switchyard-mcp/switchyard/events"
	"github.com/switchyard-mcp/switchyard/internal/testbin"
	"github.com/switchyard-mcp/switchyard/transports"
)

// dockerRT is a runtime whose containers carry a test-unique owner, with a
// check at the end that none of them is left.
func dockerRT(t *testing.T) (*Runtime, *client.Client, string) {
	t.Helper()
	cli := testbin.Docker(t)
	owner := "test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
	rt := NewRuntime(Options{Version: "test", Owner: owner, Instance: "run-1"})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if left := ownedContainers(t, cli, owner); len(left) > 0 {
			t.Errorf("containers left after shutdown: %v", left)
		}
	})
	return rt, cli, owner
}

func ownedContainers(t *testing.T, cli *client.Client, owner string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", OwnerLabel+"="+owner)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

func dockerSpec(t *testing.T, id string) Spec {
	s := fastSpec(id)
	s.Mode = "docker"
	s.Command = nil
	s.Image = testbin.DockerImage(t)
	s.Network = "none"
	s.ReadOnly = true
	return s
}

func TestDockerProviderIsSandboxedAndRestarted(t *testing.T) {
	rt, cli, owner := dockerRT(t)
	sub := watch(t, rt)
	if err := rt.Create(dockerSpec(t, "box")); err != nil {
		t.Fatal(err)
	}
	if got := text(t, call(t, rt, "box", "echo", `{"text":"inside"}`)); got != "inside" {
		t.Fatalf("echo = %q", got)
	}
	if got := text(t, call(t, rt, "box", "net_probe", `{}`)); !strings.HasPrefix(got, "network: unreachable") {
		t.Fatalf("a docker provider reached the network: %q", got)
	}
	if got := text(t, call(t, rt, "box", "fs_probe", `{}`)); !strings.HasPrefix(got, "fs: read-only") {
		t.Fatalf("a docker provider wrote its root filesystem: %q", got)
	}
	call(t, rt, "box", "stderr", `{"n":1,"text":"from the container"}`)
	waitEvent(t, sub, 10*time.Second, "container stderr", func(e *events.Event) bool {
		l, ok := e.Data.(events.ProviderLog)
		return ok && l.Line == "from the container 1"
	})

	info := mustInfo(t, rt, "box")
	if info.Backend == nil || info.Backend.Container == "" || info.Backend.Transport != "docker" {
		t.Fatalf("backend: %+v", info.Backend)
	}
	first := info.Backend.Container
	if ids := ownedContainers(t, cli, owner); len(ids) != 1 || ids[0] != first {
		t.Fatalf("owned containers %v, want [%s]", ids, first)
	}
	// Killed from outside: the supervisor restarts it and the next call works.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.ContainerKill(ctx, first, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, sub, 10*time.Second, "restart", func(e *events.Event) bool {
		_, ok := e.Data.(events.ProviderRestarting)
		return ok && e.ProviderID == "box"
	})
	if got := text(t, call(t, rt, "box", "echo", `{"text":"again"}`)); got != "again" {
		t.Fatalf("echo after kill = %q", got)
	}
	if info := mustInfo(t, rt, "box"); info.Backend == nil || info.Backend.Container == first || info.Restarts != 1 {
		t.Fatalf("after restart: %+v", info.Backend)
	}
	if ids := ownedContainers(t, cli, owner); len(ids) != 1 || ids[0] == first {
		t.Fatalf("after restart the owned containers are %v", ids)
	}
}

func TestDockerMissingImageGoesDeadAtOnce(t *testing.T) {
	rt, _, _ := dockerRT(t)
	sub := watch(t, rt)
	s := dockerSpec(t, "ghost")
	s.Image = "switchyard/no-such-image:never"
	if err := rt.Create(s); err != nil {
		t.Fatal(err)
	}
	_, err := rt.callDirect(context.Background(), "ghost", "echo", []byte(`{"text":"x"}`))
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "could not be pulled") {
		t.Fatalf("missing image: %v", err)
	}
	waitEvent(t, sub, 5*time.Second, "pull progress", func(e *events.Event) bool {
		p, ok := e.Data.(events.BackendProgress)
		return ok && strings.Contains(p.Message, "pulling")
	})
	if info := mustInfo(t, rt, "ghost"); info.State != StateDead || info.Restarts != 0 {
		t.Fatalf("missing image: state %s after %d restarts", info.State, info.Restarts)
	}
}

func TestRemoveLeftoversKeepsOtherOwners(t *testing.T) {
	rt, cli, owner := dockerRT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	image := testbin.DockerImage(t)
	mk := func(ownerID, instance string) string {
		c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: image, Labels: map[string]string{
				transports.LabelManaged: "true", transports.LabelInstance: instance, OwnerLabel: ownerID,
			}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true})
		})
		return c.ID
	}
	stale := mk(owner, "crashed-run")
	foreignOwner := owner + "-other"
	foreign := mk(foreignOwner, "crashed-run")
	removed, err := rt.RemoveLeftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != stale {
		t.Fatalf("removed %v, want only %s", removed, stale)
	}
	if left := ownedContainers(t, cli, foreignOwner); len(left) != 1 || left[0] != foreign {
		t.Fatalf("another gateway's container was touched: %v", left)
	}
}
