package transports

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// TestMain builds the test server once (unless SWITCHYARD_TESTSERVER names
// one) and fails the run if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	// fasthttp's servers (the fast path's benchmark backend) keep one
	// clock goroutine for the process.
	testbin.Main(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"))
}
