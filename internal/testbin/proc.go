package testbin

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Path returns the test server binary found or built by Build (or named by
// SWITCHYARD_TESTSERVER), or "" when there is none. Prefer TestServer in
// tests; Path serves helpers that build specs without a testing.TB.
func Path() string {
	mu.Lock()
	defer mu.Unlock()
	if built != "" {
		return built
	}
	return os.Getenv(TestServerEnv)
}

// Alive reports whether a process runs; a zombie (exited, not yet reaped)
// does not count.
func Alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// WaitGone waits until a process has exited, failing the test after d.
// There is nothing to wait on for another process's exit, so it polls
// /proc with a deadline.
func WaitGone(tb testing.TB, pid int, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for Alive(pid) {
		if time.Now().After(deadline) {
			tb.Fatalf("process %d still alive after %s", pid, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FasthttpIgnores are the goroutines of fasthttp that outlive a server by
// design: the worker pool janitor notices Stop only after its idle sleep,
// and the Date header ticker lives for the process.
var FasthttpIgnores = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
}

// NeedEverything returns the node binary and server-everything's entry
// point, skipping the test with how to install it when
// SWITCHYARD_EVERYTHING is unset, and failing it when the variable is set
// but the file or node is missing.
func NeedEverything(tb testing.TB) (node, js string) {
	tb.Helper()
	js = Everything()
	if js == "" {
		tb.Skipf("%s is not set: run `make npm-deps` and point it at test/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js", EverythingEnv)
	}
	if _, err := os.Stat(js); err != nil {
		tb.Fatalf("%s: %v", EverythingEnv, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("%s is set but node is not installed: %v", EverythingEnv, err)
	}
	return node, js
}

// NPMScript returns node and the path of a script in the repository's
// test/npm directory (whose node_modules it imports from), skipping the
// test as NeedEverything does when the npm dependencies are not set up.
func NPMScript(tb testing.TB, name string) (node, script string) {
	tb.Helper()
	node, js := NeedEverything(tb)
	// js is test/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js.
	dir := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(js)))))
	script = filepath.Join(dir, name)
	if _, err := os.Stat(script); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return node, script
}
