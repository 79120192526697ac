package actors

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// testServer is the path of the test MCP server binary.
var testServer string

func TestMain(m *testing.M) {
	path, cleanup, err := testbin.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test server:", err)
		os.Exit(1)
	}
	testServer = path
	code := m.Run()
	cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
