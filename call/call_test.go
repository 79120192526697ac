package call

import (
	"testing"

	"github.com/switchyard-mcp/switchyard/internal/testbin"
)

func TestMain(m *testing.M) { testbin.Main(m) }

func TestTokens(t *testing.T) {
	for _, c := range []struct {
		args, result string
		want         int64
	}{
		{"", "", 0},
		{"{}", "", 1},
		{"{}", "{}", 1},
		{"{}", "{}x", 2},
		{"12345678", "", 2},
	} {
		if got := Tokens([]byte(c.args), []byte(c.result)); got != c.want {
			t.Errorf("Tokens(%q, %q) = %d, want %d", c.args, c.result, got, c.want)
		}
	}
}
