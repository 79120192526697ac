package agents

import (
	"testing"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }
