package actors

import (
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/config"
)

func TestGatewayOptionsFromConfig(t *testing.T) {
	o := GatewayOptionsFromConfig(config.Gateway{ApprovalTTLSeconds: 1.5, MaxChainDepth: 3})
	if o.ApprovalTTL != 1500*time.Millisecond || o.MaxChainDepth != 3 {
		t.Fatalf("set fields: %+v", o)
	}
	if o.SessionIdleTTL != 0 || o.SendWait != 0 || o.KeepEnded != 0 {
		t.Fatalf("unset fields are left to the gateway's defaults: %+v", o)
	}
}
