package testbin

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// RequireDockerEnv names the environment variable that, set to 1 (as CI
// does), makes Docker fail a test when no Docker engine answers instead of
// skipping it.
const RequireDockerEnv = "SWITCHYARD_REQUIRE_DOCKER"

// DockerTestImage is the tag of the image DockerImage builds.
const DockerTestImage = "switchyard/testserver:test"

// dockerTimeout bounds each engine call the helpers make.
const dockerTimeout = 2 * time.Minute

var (
	imageOnce sync.Once
	imageErr  error
)

// Docker returns a client for the Docker engine named by the environment
// (DOCKER_HOST), closed when the test ends. When no engine answers it skips
// the test, or fails it when SWITCHYARD_REQUIRE_DOCKER=1.
func Docker(tb testing.TB) *client.Client {
	tb.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err != nil {
			_ = cli.Close()
		}
	}
	if err != nil {
		host := os.Getenv("DOCKER_HOST")
		if host == "" {
			host = client.DefaultDockerHost
		}
		msg := fmt.Sprintf("testbin: no Docker engine answers at %s (set DOCKER_HOST): %v", host, err)
		if os.Getenv(RequireDockerEnv) == "1" {
			tb.Fatalf("%s; %s=1 requires one", msg, RequireDockerEnv)
		}
		tb.Skipf("%s; skipping (set %s=1 to fail instead)", msg, RequireDockerEnv)
	}
	tb.Cleanup(func() { _ = cli.Close() })
	return cli
}

// DockerImage returns the tag of an image holding the test server as its
// entrypoint (/testserver, in an image FROM scratch), built once per test
// binary with the engine's legacy builder. It skips or fails the test as
// Docker does when there is no engine.
func DockerImage(tb testing.TB) string {
	tb.Helper()
	cli := Docker(tb)
	bin := TestServer(tb)
	imageOnce.Do(func() { imageErr = buildImage(cli, bin) })
	if imageErr != nil {
		tb.Fatalf("testbin: %v", imageErr)
	}
	return DockerTestImage
}

// buildImage builds DockerTestImage from a static copy of the test server
// and removes the image it replaces.
func buildImage(cli *client.Client, bin string) error {
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()

	static, cleanup, err := staticTestServer(ctx, bin)
	if err != nil {
		return err
	}
	defer cleanup()
	exe, err := os.ReadFile(static) // #nosec G304 -- the test server just built or named by the test environment
	if err != nil {
		return fmt.Errorf("read test server: %w", err)
	}
	const dockerfile = "FROM scratch\nCOPY testserver /testserver\nENTRYPOINT [\"/testserver\"]\n"
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"testserver", 0o755, exe}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("build context: %w", err)
	}

	var oldID string
	if old, err := cli.ImageInspect(ctx, DockerTestImage); err == nil {
		oldID = old.ID
	}
	res, err := cli.ImageBuild(ctx, &tarball, client.ImageBuildOptions{
		Tags:        []string{DockerTestImage},
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
		Labels:      map[string]string{"io.switchyard.test": "true"},
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", DockerTestImage, err)
	}
	defer func() { _ = res.Body.Close() }()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("build %s: reading output: %w", DockerTestImage, err)
		}
		if m.Error != nil {
			return fmt.Errorf("build %s: %s\n%s", DockerTestImage, m.Error.Message, out.String())
		}
		out.WriteString(m.Stream)
	}
	img, err := cli.ImageInspect(ctx, DockerTestImage)
	if err != nil {
		return fmt.Errorf("build %s: %w\n%s", DockerTestImage, err, out.String())
	}
	if oldID != "" && oldID != img.ID {
		_, _ = cli.ImageRemove(ctx, oldID, client.ImageRemoveOptions{PruneChildren: true})
	}
	return nil
}

// staticTestServer returns bin when it is statically linked (it runs in
// an empty image), or else a copy built with CGO_ENABLED=0 into a
// temporary directory that cleanup removes.
func staticTestServer(ctx context.Context, bin string) (path string, cleanup func(), err error) {
	cleanup = func() {}
	if isStatic(bin) {
		return bin, cleanup, nil
	}
	return compile(ctx, "switchyard-testbin-static-")
}

// isStatic reports whether the ELF executable at path needs no dynamic
// loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return false
		}
	}
	return true
}
