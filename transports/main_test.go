package transports

import (
	"testing"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

// TestMain builds the test server once (unless SWITCHYARD_TESTSERVER names
// one) and fails the run if any goroutine outlives the tests.
func TestMain(m *testing.M) {
	testbin.Main(m)
}
