package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{
			name: "bad mode",
			yaml: `# comment
listen: "127.0.0.1:8000"
drain_timeout_s: 10
limits:
  call_timeout_s: 30
metrics:
  require_auth: false
auth:
  jwt: {}
providers:
  everything:
    mode: subproces
    command: [node, server.js]
`,
			want: `switchyard.yaml:12:5: providers.everything.mode: must be one of subprocess, docker, remote (got "subproces")`,
		},
		{
			name: "unknown top-level key",
			yaml: "listen: ':1'\nprovider: {}\n",
			want: `switchyard.yaml:2:1: provider: unknown field (did you mean "providers"?)`,
		},
		{
			name: "unknown provider key",
			yaml: "providers:\n  a:\n    mode: remote\n    endpoint: http://h\n    timeout: 3\n",
			want: `switchyard.yaml:5:5: providers.a.timeout: unknown field`,
		},
		{
			name: "wrong type string",
			yaml: "listen: 8000\n",
			want: `switchyard.yaml:1:1: listen: must be a string (got 8000)`,
		},
		{
			name: "wrong type integer",
			yaml: "limits:\n  max_pending_calls: many\n",
			want: `switchyard.yaml:2:3: limits.max_pending_calls: must be an integer (got "many")`,
		},
		{
			name: "integer out of range",
			yaml: "limits:\n  max_pending_calls: 9999999999\n",
			want: `switchyard.yaml:2:3: limits.max_pending_calls: must be an integer between -2147483647 and 2147483647 (got 9999999999)`,
		},
		{
			name: "wrong type mapping",
			yaml: "providers: [a, b]\n",
			want: `switchyard.yaml:1:1: providers: must be a mapping (got a list)`,
		},
		{
			name: "missing command",
			yaml: "providers:\n  a:\n    mode: subprocess\n",
			want: `switchyard.yaml:2:3: providers.a.command: required for mode subprocess`,
		},
		{
			name: "missing mode",
			yaml: "providers:\n  a: {}\n",
			want: `switchyard.yaml:2:3: providers.a.mode: required (one of subprocess, docker, remote)`,
		},
		{
			name: "null provider",
			yaml: "providers:\n  a:\n",
			want: `switchyard.yaml:2:3: providers.a.mode: required (one of subprocess, docker, remote)`,
		},
		{
			name: "missing image",
			yaml: "providers:\n  a:\n    mode: docker\n",
			want: `switchyard.yaml:2:3: providers.a.image: required for mode docker`,
		},
		{
			name: "missing endpoint",
			yaml: "providers:\n  a:\n    mode: remote\n",
			want: `switchyard.yaml:2:3: providers.a.endpoint: required for mode remote`,
		},
		{
			name: "bad endpoint",
			yaml: "providers:\n  a:\n    mode: remote\n    endpoint: 127.0.0.1:3001/mcp\n",
			want: `switchyard.yaml:4:5: providers.a.endpoint: must be an absolute http(s) URL (got "127.0.0.1:3001/mcp")`,
		},
		{
			name: "field of another mode",
			yaml: "providers:\n  a:\n    mode: remote\n    endpoint: http://h\n    image: x\n",
			want: `switchyard.yaml:5:5: providers.a.image: only valid for mode docker (mode is remote)`,
		},
		{
			name: "bad id",
			yaml: "providers:\n  'a b':\n    mode: remote\n    endpoint: http://h\n",
			want: `switchyard.yaml:2:3: providers.a b: invalid id "a b": must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`,
		},
		{
			name: "double underscore id",
			yaml: "providers:\n  a__b:\n    mode: remote\n    endpoint: http://h\n",
			want: `switchyard.yaml:2:3: providers.a__b: invalid id "a__b": must not contain "__"`,
		},
		{
			name: "group id equals provider id",
			yaml: "providers:\n  a: {mode: remote, endpoint: 'http://h'}\ngroups:\n  a:\n    members: [{id: a}]\n",
			want: `switchyard.yaml:4:3: groups.a: id "a" is already used by a provider`,
		},
		{
			name: "unknown member",
			yaml: "providers:\n  a: {mode: remote, endpoint: 'http://h'}\ngroups:\n  g:\n    members:\n      - id: b\n",
			want: `switchyard.yaml:6:9: groups.g.members[0].id: unknown provider "b"`,
		},
		{
			name: "bad strategy",
			yaml: "providers:\n  a: {mode: remote, endpoint: 'http://h'}\ngroups:\n  g:\n    strategy: fastest\n    members: [{id: a}]\n",
			want: `switchyard.yaml:5:5: groups.g.strategy: must be one of round_robin, weighted, priority, least_connections, random (got "fastest")`,
		},
		{
			name: "negative duration",
			yaml: "drain_timeout_s: -1\n",
			want: `switchyard.yaml:1:1: drain_timeout_s: must not be negative (got -1)`,
		},
		{
			name: "zero positive field",
			yaml: "limits:\n  max_body_bytes: 0\n",
			want: `switchyard.yaml:2:3: limits.max_body_bytes: must be greater than 0 (got 0)`,
		},
		{
			name: "infinite duration",
			yaml: "drain_timeout_s: .inf\n",
			want: `switchyard.yaml:1:1: drain_timeout_s: must be a finite number of seconds (got +Inf)`,
		},
		{
			name: "duplicate key",
			yaml: "listen: ':1'\nlisten: ':2'\n",
			want: `switchyard.yaml:2:1: listen: duplicate key (first defined at line 1)`,
		},
		{
			name: "providers and mcp_servers",
			yaml: "mcp_servers: {}\nproviders: {}\n",
			want: `switchyard.yaml:2:1: providers: cannot be used together with mcp_servers (line 1)`,
		},
		{
			name: "mcp_servers paths",
			yaml: "mcp_servers:\n  a:\n    mode: nope\n",
			want: `switchyard.yaml:3:5: mcp_servers.a.mode: must be one of subprocess, docker, remote (got "nope")`,
		},
		{
			name: "merge key",
			yaml: "providers:\n  a:\n    <<: {mode: remote}\n",
			want: `switchyard.yaml:3:5: providers.a: merge keys (<<) are not supported`,
		},
		{
			name: "custom tag",
			yaml: "listen: !env LISTEN\n",
			want: `switchyard.yaml:1:1: listen: must be a string (got !env "LISTEN")`,
		},
		{
			name: "syntax error",
			yaml: "providers:\n  a: [\n",
			want: `switchyard.yaml:2: invalid YAML: did not find expected node content`,
		},
		{
			name: "tab indentation",
			yaml: "providers:\n\ta: {}\n",
			want: `switchyard.yaml:2: invalid YAML: found character that cannot start any token`,
		},
		{
			name: "multiple documents",
			yaml: "listen: ':1'\n---\nlisten: ':2'\n",
			want: `switchyard.yaml:3:1: multiple YAML documents are not supported`,
		},
		{
			name: "self-referencing alias",
			yaml: "providers: &p\n  a: *p\n",
			want: `switchyard.yaml:2:3: providers.a: aliases expand to more than 100000 nodes`,
		},
		{
			name: "bad listen port",
			yaml: "listen: 'localhost:http'\n",
			want: `switchyard.yaml:1:1: listen: invalid port "http"`,
		},
		{
			name: "backoff order",
			yaml: "providers:\n  a:\n    mode: remote\n    endpoint: http://h\n    restart: {initial_backoff_s: 60}\n",
			want: `switchyard.yaml:5:15: providers.a.restart.initial_backoff_s: must not exceed max_backoff_s (30)`,
		},
		{
			name: "several problems in file order",
			yaml: "providers:\n  b:\n    mode: docker\n  a:\n    mode: remote\n    endpoint: x\nlisten: 1\n",
			want: "switchyard.yaml:2:3: providers.b.image: required for mode docker\n" +
				"switchyard.yaml:6:5: providers.a.endpoint: must be an absolute http(s) URL (got \"x\")\n" +
				"switchyard.yaml:7:1: listen: must be a string (got 1)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("switchyard.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want error %q", c, tt.want)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error is %T, want *Error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
			if c != nil {
				t.Errorf("Parse returned a config with an error")
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "empty file",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if len(c.Providers) != 0 || len(c.Groups) != 0 || c.Providers == nil || c.Groups == nil {
					t.Errorf("providers %v groups %v, want empty non-nil maps", c.Providers, c.Groups)
				}
			},
		},
		{
			name:  "comment only",
			yaml:  "# nothing here\n",
			check: func(*testing.T, *Config) {},
		},
		{
			name:  "null document",
			yaml:  "~\n",
			check: func(*testing.T, *Config) {},
		},
		{
			name: "gateway defaults",
			yaml: "providers:\n",
			check: func(t *testing.T, c *Config) {
				want := Limits{MaxBodyBytes: 10 << 20, MaxMessageBytes: 16 << 20, CallTimeoutSeconds: 30, MaxPendingCalls: 256}
				if c.Limits != want {
					t.Errorf("limits %+v, want %+v", c.Limits, want)
				}
				if c.Listen != "127.0.0.1:8000" || c.DrainTimeout() != 10*time.Second {
					t.Errorf("listen %q drain %v", c.Listen, c.DrainTimeout())
				}
			},
		},
		{
			name: "provider defaults",
			yaml: "limits: {call_timeout_s: 12}\nproviders:\n  a:\n    mode: subprocess\n    command: [x]\n",
			check: func(t *testing.T, c *Config) {
				p := c.Providers["a"]
				for _, d := range []struct {
					name      string
					got, want time.Duration
				}{
					{"idle ttl", p.IdleTTL(), 300 * time.Second},
					{"health check", p.HealthCheckInterval(), 60 * time.Second},
					{"call timeout", p.CallTimeout(), 12 * time.Second},
					{"startup timeout", p.StartupTimeout(), 30 * time.Second},
					{"window", p.Restart.Window(), 60 * time.Second},
					{"initial backoff", p.Restart.InitialBackoff(), 500 * time.Millisecond},
					{"max backoff", p.Restart.MaxBackoff(), 30 * time.Second},
					{"healthy reset", p.Restart.HealthyReset(), 60 * time.Second},
				} {
					if d.got != d.want {
						t.Errorf("%s = %v, want %v", d.name, d.got, d.want)
					}
				}
				if *p.Restart.MaxRestarts != 5 || p.DegradedAfterFailures != 3 || p.Tenant != "default" {
					t.Errorf("restarts %d degraded %d tenant %q", *p.Restart.MaxRestarts, p.DegradedAfterFailures, p.Tenant)
				}
				if !reflect.DeepEqual(p.InheritEnv, []string{"PATH", "HOME", "LANG", "TMPDIR"}) {
					t.Errorf("inherit_env %v", p.InheritEnv)
				}
				if p.Image != "" || p.Network != "" || p.ReadOnly != nil || p.MemoryMB != 0 {
					t.Errorf("docker defaults applied to a subprocess provider: %+v", p)
				}
			},
		},
		{
			name: "docker defaults",
			yaml: "providers:\n  a:\n    mode: docker\n    image: x\n",
			check: func(t *testing.T, c *Config) {
				p := c.Providers["a"]
				if p.Network != "none" || !*p.ReadOnly || p.MemoryMB != 256 || p.CPUs != 1 || p.PidsLimit != 128 {
					t.Errorf("docker defaults: %+v", p)
				}
				if p.InheritEnv != nil {
					t.Errorf("inherit_env %v, want nil for docker", p.InheritEnv)
				}
			},
		},
		{
			name: "fractional and zero durations",
			yaml: "providers:\n  a:\n    mode: subprocess\n    command: [x]\n    idle_ttl_s: 0.2\n    health_check_interval_s: 0\n    call_timeout_s: 0.05\n    restart: {initial_backoff_s: 0, max_restarts: 0}\n",
			check: func(t *testing.T, c *Config) {
				p := c.Providers["a"]
				if p.IdleTTL() != 200*time.Millisecond || p.HealthCheckInterval() != 0 || p.CallTimeout() != 50*time.Millisecond {
					t.Errorf("durations %v %v %v", p.IdleTTL(), p.HealthCheckInterval(), p.CallTimeout())
				}
				if p.Restart.InitialBackoff() != 0 || *p.Restart.MaxRestarts != 0 {
					t.Errorf("restart %+v", p.Restart)
				}
			},
		},
		{
			name: "explicit empty inherit_env",
			yaml: "providers:\n  a:\n    mode: subprocess\n    command: [x]\n    inherit_env: []\n",
			check: func(t *testing.T, c *Config) {
				if p := c.Providers["a"]; p.InheritEnv == nil || len(p.InheritEnv) != 0 {
					t.Errorf("inherit_env %#v, want empty", p.InheritEnv)
				}
			},
		},
		{
			name: "scalar arguments kept as written",
			yaml: "providers:\n  a:\n    mode: subprocess\n    command: [srv, --port, 8080, --ratio, 1.10, --on, true]\n    env: {N: 010}\n",
			check: func(t *testing.T, c *Config) {
				p := c.Providers["a"]
				if want := []string{"srv", "--port", "8080", "--ratio", "1.10", "--on", "true"}; !reflect.DeepEqual(p.Command, want) {
					t.Errorf("command %q, want %q", p.Command, want)
				}
				if p.Env["N"] != "010" {
					t.Errorf("env N = %q", p.Env["N"])
				}
			},
		},
		{
			name: "declaration order",
			yaml: "providers:\n  z: {mode: remote, endpoint: 'http://h'}\n  a: {mode: remote, endpoint: 'http://h'}\n  m: {mode: remote, endpoint: 'http://h'}\ngroups:\n  g2: {members: [{id: z}]}\n  g1: {members: [{id: a}]}\n",
			check: func(t *testing.T, c *Config) {
				if want := []string{"z", "a", "m"}; !reflect.DeepEqual(c.ProviderOrder, want) {
					t.Errorf("provider order %v, want %v", c.ProviderOrder, want)
				}
				if want := []string{"g2", "g1"}; !reflect.DeepEqual(c.GroupOrder, want) {
					t.Errorf("group order %v, want %v", c.GroupOrder, want)
				}
				g := c.Groups["g2"]
				if g.Strategy != StrategyRoundRobin || *g.MinHealthy != 1 || g.Members[0].Weight != 1 || g.Members[0].Priority != 1 ||
					g.CircuitBreaker.FailureThreshold != 5 || g.CircuitBreaker.ResetTimeout() != 30*time.Second {
					t.Errorf("group defaults %+v", g)
				}
			},
		},
		{
			name: "aliases",
			yaml: "providers:\n  a: &p {mode: remote, endpoint: 'http://h', headers: &h {X-A: b}}\n  b: *p\n  c: {mode: remote, endpoint: 'http://h', headers: *h}\n",
			check: func(t *testing.T, c *Config) {
				if c.Providers["b"].Endpoint != "http://h" || c.Providers["c"].Headers["X-A"] != "b" {
					t.Errorf("aliases not expanded: %+v %+v", c.Providers["b"], c.Providers["c"])
				}
				if c.Providers["b"].ID != "b" {
					t.Errorf("aliased provider id %q", c.Providers["b"].ID)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("switchyard.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, c)
			checkRoundTrip(t, c)
		})
	}
}

func TestProviderValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Provider
		want string // "" for valid
	}{
		{
			name: "valid subprocess",
			p:    Provider{ID: "a", Mode: ModeSubprocess, Command: []string{"node", "server.js"}},
		},
		{
			name: "valid remote",
			p:    Provider{ID: "a", Mode: ModeRemote, Endpoint: "https://example.com/mcp"},
		},
		{
			name: "missing everything",
			p:    Provider{},
			want: "id: required\nmode: required (one of subprocess, docker, remote)",
		},
		{
			name: "missing command",
			p:    Provider{ID: "a", Mode: ModeSubprocess},
			want: "command: required for mode subprocess",
		},
		{
			name: "bad id and mode",
			p:    Provider{ID: "a__b", Mode: "ssh"},
			want: "id: invalid id \"a__b\": must not contain \"__\"\nmode: must be one of subprocess, docker, remote (got \"ssh\")",
		},
		{
			name: "negative numbers",
			p: Provider{ID: "a", Mode: ModeDocker, Image: "i", MemoryMB: -1, CallTimeoutSeconds: -2,
				IdleTTLSeconds: ptr(-1.0), Restart: Restart{MaxRestarts: ptr(-1)}},
			want: "idle_ttl_s: must not be negative (got -1)\n" +
				"call_timeout_s: must be greater than 0 (got -2)\n" +
				"restart.max_restarts: must not be negative (got -1)\n" +
				"memory_mb: must be greater than 0 (got -1)",
		},
		{
			name: "bad endpoint",
			p:    Provider{ID: "a", Mode: ModeRemote, Endpoint: "mailto:x@example.com"},
			want: `endpoint: must be an absolute http(s) URL (got "mailto:x@example.com")`,
		},
		{
			name: "field of another mode",
			p:    Provider{ID: "a", Mode: ModeRemote, Endpoint: "http://h", Command: []string{"x"}},
			want: "command: only valid for mode subprocess, docker (mode is remote)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			got := ""
			if err != nil {
				got = err.Error()
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("error is %T, want *Error", err)
				}
				for _, p := range cerr.Problems {
					if p.File != "" || p.Line != 0 || p.Column != 0 {
						t.Errorf("problem has a position: %+v", p)
					}
				}
			}
			if got != tt.want {
				t.Errorf("Validate:\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestProviderApplyDefaults(t *testing.T) {
	p := &Provider{ID: "a", Mode: ModeSubprocess, Command: []string{"x"}, IdleTTLSeconds: ptr(0.0)}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.ApplyDefaults(Limits{CallTimeoutSeconds: 7})
	if p.CallTimeout() != 7*time.Second || p.IdleTTL() != 0 || p.StartupTimeout() != 30*time.Second {
		t.Errorf("call %v idle %v startup %v", p.CallTimeout(), p.IdleTTL(), p.StartupTimeout())
	}
	p2 := &Provider{ID: "b", Mode: ModeSubprocess, Command: []string{"x"}}
	p2.ApplyDefaults(Limits{})
	if p2.CallTimeout() != 30*time.Second {
		t.Errorf("call timeout with zero limits = %v", p2.CallTimeout())
	}
	p2.InheritEnv[0] = "CHANGED"
	if DefaultInheritEnv[0] != "PATH" {
		t.Errorf("ApplyDefaults shares DefaultInheritEnv")
	}
}

func TestConfigValidate(t *testing.T) {
	remote := func(id string) *Provider { return &Provider{ID: id, Mode: ModeRemote, Endpoint: "http://h"} }
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{
			name: "valid",
			c: Config{
				Providers:     map[string]*Provider{"a": remote("a")},
				ProviderOrder: []string{"a"},
				Groups:        map[string]*Group{"g": {ID: "g", Members: []Member{{ID: "a"}}}},
				GroupOrder:    []string{"g"},
			},
		},
		{
			name: "order mismatch",
			c: Config{
				Providers:     map[string]*Provider{"a": remote("a"), "b": remote("b")},
				ProviderOrder: []string{"a", "c", "a"},
			},
			want: "providers: ProviderOrder lists \"c\", which is not defined\n" +
				"providers: ProviderOrder lists \"a\" twice\n" +
				"providers: ProviderOrder does not list \"b\"",
		},
		{
			name: "key and id differ",
			c: Config{
				Providers:     map[string]*Provider{"a": remote("b")},
				ProviderOrder: []string{"a"},
			},
			want: `providers.a: id "b" does not match its key`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if err := tt.c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate:\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestExport(t *testing.T) {
	c := &Config{
		Providers: map[string]*Provider{
			"b": {ID: "b", Mode: ModeSubprocess, Command: []string{"run", "a: b", "- c", "line\nbreak"}},
			"a": {ID: "a", Mode: ModeRemote, Endpoint: "http://h", Headers: map[string]string{"X": "1"}},
		},
		ProviderOrder: []string{"b"},
	}
	if err := c.Validate(); err == nil {
		t.Fatal("expected an order mismatch")
	}
	out, err := Export(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse("exported.yaml", out)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, out)
	}
	if want := []string{"b", "a"}; !reflect.DeepEqual(got.ProviderOrder, want) {
		t.Errorf("order %v, want %v", got.ProviderOrder, want)
	}
	c.ProviderOrder = got.ProviderOrder
	c.ApplyDefaults()
	if !reflect.DeepEqual(c, got) {
		t.Errorf("exported config differs:\n%s", out)
	}

	for _, tt := range []struct {
		name string
		c    *Config
		want string
	}{
		{"nil", nil, "config: export: nil config"},
		{"missing provider", &Config{ProviderOrder: []string{"x"}, Providers: map[string]*Provider{"y": {}}},
			`config: export: provider "x" is in ProviderOrder but not in Providers`},
		{"nil group", &Config{Groups: map[string]*Group{"g": nil}}, `config: export: group "g" is nil`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Export(tt.c); err == nil || err.Error() != tt.want {
				t.Errorf("Export error %v, want %s", err, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}

	big := filepath.Join(dir, "big.yaml")
	data := []byte("# " + strings.Repeat("x", MaxFileSize) + "\n")
	if err := os.WriteFile(big, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(big)
	if want := big + ": file is larger than 4194304 bytes"; err == nil || err.Error() != want {
		t.Errorf("large file: %v, want %s", err, want)
	}

	ok := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(ok, []byte("listen: ':9'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(ok)
	if err != nil || c.Listen != ":9" {
		t.Errorf("Load: %v %+v", err, c)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "f.yaml", Line: 3, Column: 5, Path: "a.b", Msg: "bad"}, "f.yaml:3:5: a.b: bad"},
		{Problem{File: "f.yaml", Line: 3, Path: "a.b", Msg: "bad"}, "f.yaml:3: a.b: bad"},
		{Problem{File: "f.yaml", Msg: "bad"}, "f.yaml: bad"},
		{Problem{Path: "command", Msg: "bad"}, "command: bad"},
		{Problem{Line: 2, Column: 1, Msg: "bad"}, "2:1: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	e := &Error{Problems: []Problem{{Path: "a", Msg: "x"}, {Path: "b", Msg: "y"}}}
	if got := e.Error(); got != "a: x\nb: y" {
		t.Errorf("Error() = %q", got)
	}
}

func TestManyProblemsAreCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("providers:\n")
	for i := range 300 {
		b.WriteString("  p" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + "_" + strconv.Itoa(i) + ": {mode: bad}\n")
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("error %T", err)
	}
	if len(cerr.Problems) != maxProblems+1 {
		t.Fatalf("%d problems, want %d", len(cerr.Problems), maxProblems+1)
	}
	if last := cerr.Problems[maxProblems].String(); last != "many.yaml: 100 more problems not shown" {
		t.Errorf("last problem %q", last)
	}
}
