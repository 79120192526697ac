package config

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Export renders c as a YAML configuration file. Providers and groups are
// written in ProviderOrder and GroupOrder, followed by any others sorted by
// id. Unset fields are left out. For a valid c, parsing the output yields a
// configuration equal to c with defaults applied.
func Export(c *Config) ([]byte, error) {
	if c == nil {
		return nil, errors.New("config: export: nil config")
	}
	root := newMap()
	root.str("listen", c.Listen)
	root.secondsPtr("drain_timeout_s", c.DrainTimeoutSeconds)

	limits := newMap()
	limits.int("max_body_bytes", c.Limits.MaxBodyBytes)
	limits.int("max_message_bytes", c.Limits.MaxMessageBytes)
	limits.seconds("call_timeout_s", c.Limits.CallTimeoutSeconds)
	limits.int("max_pending_calls", int64(c.Limits.MaxPendingCalls))
	limits.int("max_header_bytes", c.Limits.MaxHeaderBytes)
	root.sub("limits", limits)

	metrics := newMap()
	if c.Metrics.RequireAuth {
		metrics.boolean("require_auth", true)
	}
	root.sub("metrics", metrics)

	gw := newMap()
	gw.seconds("session_idle_ttl_s", c.Gateway.SessionIdleTTLSeconds)
	gw.seconds("approval_ttl_s", c.Gateway.ApprovalTTLSeconds)
	gw.seconds("task_ttl_s", c.Gateway.TaskTTLSeconds)
	gw.seconds("elicitation_ttl_s", c.Gateway.ElicitationTTLSeconds)
	gw.seconds("send_wait_s", c.Gateway.SendWaitSeconds)
	gw.seconds("hitl_wait_s", c.Gateway.HITLWaitSeconds)
	gw.int("max_chain_depth", int64(c.Gateway.MaxChainDepth))
	gw.int("max_pending", int64(c.Gateway.MaxPending))
	gw.int("keep_ended", int64(c.Gateway.KeepEnded))
	root.sub("gateway", gw)

	mcp := newMap()
	mcp.list("allowed_hosts", c.MCP.AllowedHosts)
	mcp.list("allowed_origins", c.MCP.AllowedOrigins)
	root.sub("mcp", mcp)

	jwt := newMap()
	jwt.str("jwks_url", c.Auth.JWT.JWKSURL)
	jwt.str("issuer", c.Auth.JWT.Issuer)
	jwt.str("audience", c.Auth.JWT.Audience)
	auth := newMap()
	auth.sub("jwt", jwt)
	root.sub("auth", auth)

	if len(c.Providers) > 0 {
		providers := newMap()
		for _, id := range c.ProviderOrder {
			if c.Providers[id] == nil {
				return nil, fmt.Errorf("config: export: provider %q is in ProviderOrder but not in Providers", id)
			}
		}
		for _, id := range orderedKeys(c.ProviderOrder, c.Providers) {
			p := c.Providers[id]
			if p == nil {
				return nil, fmt.Errorf("config: export: provider %q is nil", id)
			}
			providers.set(id, exportProvider(p).node)
		}
		root.set("providers", providers.node)
	}

	if len(c.Groups) > 0 {
		groups := newMap()
		for _, id := range c.GroupOrder {
			if c.Groups[id] == nil {
				return nil, fmt.Errorf("config: export: group %q is in GroupOrder but not in Groups", id)
			}
		}
		for _, id := range orderedKeys(c.GroupOrder, c.Groups) {
			g := c.Groups[id]
			if g == nil {
				return nil, fmt.Errorf("config: export: group %q is nil", id)
			}
			groups.set(id, exportGroup(g).node)
		}
		root.set("groups", groups.node)
	}

	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root.node); err != nil {
		return nil, fmt.Errorf("config: export: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: export: %w", err)
	}
	return buf.Bytes(), nil
}

func exportProvider(p *Provider) mapBuilder {
	m := newMap()
	m.str("mode", string(p.Mode))
	m.list("command", p.Command)
	m.strMap("env", p.Env)
	m.list("inherit_env", p.InheritEnv)
	m.str("workdir", p.Workdir)
	m.secondsPtr("idle_ttl_s", p.IdleTTLSeconds)
	m.secondsPtr("health_check_interval_s", p.HealthCheckIntervalSeconds)
	m.seconds("call_timeout_s", p.CallTimeoutSeconds)
	m.seconds("startup_timeout_s", p.StartupTimeoutSeconds)
	m.str("description", p.Description)
	m.str("tenant", p.Tenant)

	r := newMap()
	if p.Restart.MaxRestarts != nil {
		r.set("max_restarts", scalar("!!int", strconv.Itoa(*p.Restart.MaxRestarts)))
	}
	r.seconds("window_s", p.Restart.WindowSeconds)
	r.secondsPtr("initial_backoff_s", p.Restart.InitialBackoffSeconds)
	r.seconds("max_backoff_s", p.Restart.MaxBackoffSeconds)
	r.seconds("healthy_reset_s", p.Restart.HealthyResetSeconds)
	m.sub("restart", r)
	m.int("degraded_after_failures", int64(p.DegradedAfterFailures))
	m.int("max_concurrency", int64(p.MaxConcurrency))
	m.int("max_queue", int64(p.MaxQueue))

	m.str("image", p.Image)
	m.list("volumes", p.Volumes)
	m.str("network", p.Network)
	if p.ReadOnly != nil {
		m.boolean("read_only", *p.ReadOnly)
	}
	m.int("memory_mb", int64(p.MemoryMB))
	m.float("cpus", p.CPUs)
	m.int("pids_limit", int64(p.PidsLimit))

	m.str("endpoint", p.Endpoint)
	m.strMap("headers", p.Headers)
	m.str("bearer_token", p.BearerToken)
	m.str("ca_file", p.CAFile)
	return m
}

func exportGroup(g *Group) mapBuilder {
	m := newMap()
	m.str("strategy", string(g.Strategy))
	if g.MinHealthy != nil {
		m.set("min_healthy", scalar("!!int", strconv.Itoa(*g.MinHealthy)))
	}
	m.str("description", g.Description)
	m.str("tenant", g.Tenant)
	if g.Members != nil {
		members := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, mem := range g.Members {
			e := newMap()
			e.node.Style = yaml.FlowStyle
			e.str("id", mem.ID)
			e.int("weight", int64(mem.Weight))
			e.int("priority", int64(mem.Priority))
			members.Content = append(members.Content, e.node)
		}
		m.set("members", members)
	}
	b := newMap()
	b.node.Style = yaml.FlowStyle
	b.int("failure_threshold", int64(g.CircuitBreaker.FailureThreshold))
	b.seconds("reset_timeout_s", g.CircuitBreaker.ResetTimeoutSeconds)
	m.sub("circuit_breaker", b)
	return m
}

// mapBuilder builds a YAML mapping node, leaving out unset values.
type mapBuilder struct{ node *yaml.Node }

func newMap() mapBuilder {
	return mapBuilder{&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}}
}

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func strNode(s string) *yaml.Node {
	n := &yaml.Node{}
	n.SetString(s)
	return n
}

func (m mapBuilder) set(key string, v *yaml.Node) {
	m.node.Content = append(m.node.Content, strNode(key), v)
}

func (m mapBuilder) sub(key string, v mapBuilder) {
	if len(v.node.Content) > 0 {
		m.set(key, v.node)
	}
}

func (m mapBuilder) str(key, s string) {
	if s != "" {
		m.set(key, strNode(s))
	}
}

func (m mapBuilder) int(key string, n int64) {
	if n != 0 {
		m.set(key, scalar("!!int", strconv.FormatInt(n, 10)))
	}
}

func (m mapBuilder) boolean(key string, b bool) {
	m.set(key, scalar("!!bool", strconv.FormatBool(b)))
}

// number formats f so that it reads back as the same float64.
func number(f float64) *yaml.Node {
	s := formatFloat(f)
	if strings.ContainsAny(s, ".eEnN") {
		return scalar("!!float", s)
	}
	return scalar("!!int", s)
}

func (m mapBuilder) float(key string, f float64) {
	if f != 0 {
		m.set(key, number(f))
	}
}

func (m mapBuilder) seconds(key string, s float64) {
	m.float(key, s)
}

func (m mapBuilder) secondsPtr(key string, s *float64) {
	if s != nil {
		m.set(key, number(*s))
	}
}

func (m mapBuilder) list(key string, items []string) {
	if items == nil {
		return
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range items {
		seq.Content = append(seq.Content, strNode(s))
	}
	m.set(key, seq)
}

func (m mapBuilder) strMap(key string, kv map[string]string) {
	if kv == nil {
		return
	}
	n := newMap()
	if len(kv) == 0 {
		n.node.Style = yaml.FlowStyle
	}
	for _, k := range sortedKeys(kv) {
		n.set(k, strNode(kv[k]))
	}
	m.set(key, n.node)
}
