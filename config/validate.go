package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// IDPattern is the pattern provider, group and tenant ids must match.
// Provider and group ids must in addition not contain "__", which separates
// provider and tool in aggregated tool names.
const IDPattern = `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`

// maxSeconds is the largest duration accepted, one year.
const maxSeconds = 365 * 24 * 3600

// minSeconds is the smallest non-zero duration accepted, one millisecond.
const minSeconds = 0.001

var (
	idRe      = regexp.MustCompile(IDPattern)
	envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	volNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	networkRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)
)

// ValidID reports whether id is a valid provider or group id.
func ValidID(id string) bool {
	return idProblem(id) == ""
}

// idProblem describes what is wrong with a provider or group id, or returns
// "" when it is valid.
func idProblem(id string) string {
	switch {
	case id == "":
		return "id must not be empty"
	case !idRe.MatchString(id):
		return fmt.Sprintf("invalid id %s: must match %s", quote(id), IDPattern)
	case strings.Contains(id, "__"):
		return fmt.Sprintf(`invalid id %s: must not contain "__"`, quote(id))
	}
	return ""
}

// shorten cuts long values for messages.
func shorten(s string) string {
	const limit = 64
	if utf8.RuneCountInString(s) > limit {
		return string([]rune(s)[:limit]) + "..."
	}
	return s
}

// quote quotes s for a message, shortening long values.
func quote(s string) string {
	return strconv.Quote(shorten(s))
}

// formatFloat formats f as a plain decimal where that is short, otherwise
// with an exponent. The result parses back to the same float64.
func formatFloat(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e15) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func oneOf[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Validate checks the whole configuration and returns an *Error listing every
// problem, or nil. The problems carry field paths but no file positions.
func (c *Config) Validate() error {
	var ps problems
	c.check(&ps)
	return ps.err()
}

// Validate checks a single provider and returns an *Error listing every
// problem, or nil. Paths are relative to the provider, such as "command";
// the id is checked under the path "id".
func (p *Provider) Validate() error {
	var ps problems
	if p.ID == "" {
		ps.add("id", "required")
	} else if msg := idProblem(p.ID); msg != "" {
		ps.add("id", "%s", msg)
	}
	p.check(&ps, "")
	return ps.err()
}

func (c *Config) check(ps *problems) {
	if c.Listen != "" {
		checkListen(ps, "listen", c.Listen)
	}
	checkSecondsPtr(ps, "drain_timeout_s", c.DrainTimeoutSeconds)
	checkPositiveInt(ps, "limits.max_body_bytes", c.Limits.MaxBodyBytes)
	checkPositiveInt(ps, "limits.max_message_bytes", c.Limits.MaxMessageBytes)
	checkPositiveSeconds(ps, "limits.call_timeout_s", c.Limits.CallTimeoutSeconds)
	checkPositiveInt(ps, "limits.max_pending_calls", int64(c.Limits.MaxPendingCalls))
	if n := c.Limits.MaxHeaderBytes; n != 0 && (n < MinHeaderBytes || n > MaxHeaderBytes) {
		ps.add("limits.max_header_bytes", "must be between %d and %d (got %d)", MinHeaderBytes, MaxHeaderBytes, n)
	}
	c.MCP.check(ps, "mcp")
	checkPositiveSeconds(ps, "gateway.session_idle_ttl_s", c.Gateway.SessionIdleTTLSeconds)
	checkPositiveSeconds(ps, "gateway.approval_ttl_s", c.Gateway.ApprovalTTLSeconds)
	checkPositiveSeconds(ps, "gateway.task_ttl_s", c.Gateway.TaskTTLSeconds)
	checkPositiveSeconds(ps, "gateway.elicitation_ttl_s", c.Gateway.ElicitationTTLSeconds)
	checkPositiveSeconds(ps, "gateway.send_wait_s", c.Gateway.SendWaitSeconds)
	checkPositiveSeconds(ps, "gateway.hitl_wait_s", c.Gateway.HITLWaitSeconds)
	checkPositiveInt(ps, "gateway.max_chain_depth", int64(c.Gateway.MaxChainDepth))
	checkPositiveInt(ps, "gateway.max_pending", int64(c.Gateway.MaxPending))
	checkPositiveInt(ps, "gateway.keep_ended", int64(c.Gateway.KeepEnded))
	c.Auth.JWT.check(ps, "auth.jwt")

	checkOrder(ps, "providers", "ProviderOrder", c.ProviderOrder, c.Providers)
	for _, id := range orderedKeys(c.ProviderOrder, c.Providers) {
		at := join("providers", id)
		p := c.Providers[id]
		if msg := idProblem(id); msg != "" {
			ps.add(at, "%s", msg)
		}
		if p == nil {
			ps.add(at, "must not be nil")
			continue
		}
		if p.ID != "" && p.ID != id {
			ps.add(at, "id %s does not match its key", quote(p.ID))
		}
		p.check(ps, at)
	}

	checkOrder(ps, "groups", "GroupOrder", c.GroupOrder, c.Groups)
	for _, id := range orderedKeys(c.GroupOrder, c.Groups) {
		at := join("groups", id)
		g := c.Groups[id]
		if msg := idProblem(id); msg != "" {
			ps.add(at, "%s", msg)
		} else if _, ok := c.Providers[id]; ok {
			ps.add(at, "id %s is already used by a provider", quote(id))
		}
		if g == nil {
			ps.add(at, "must not be nil")
			continue
		}
		if g.ID != "" && g.ID != id {
			ps.add(at, "id %s does not match its key", quote(g.ID))
		}
		g.check(ps, at, c.Providers)
	}
}

// check validates the JWT block: an absolute http(s) jwks_url, and issuer
// and audience only beside it, since only JWKS-verified tokens are checked
// against them.
func (j *JWT) check(ps *problems, prefix string) {
	if j.JWKSURL != "" {
		checkHTTPURL(ps, join(prefix, "jwks_url"), j.JWKSURL)
	}
	for _, f := range []struct{ name, value string }{{"issuer", j.Issuer}, {"audience", j.Audience}} {
		switch {
		case f.value == "":
		case j.JWKSURL == "":
			ps.add(join(prefix, f.name), "only valid together with jwks_url")
		case strings.ContainsFunc(f.value, unicode.IsControl):
			ps.add(join(prefix, f.name), "must not contain control characters")
		}
	}
}

// check validates the listener's extra host names ("name" or
// "name:port", no scheme or path) and origins ("scheme://host[:port]",
// http or https, nothing after the authority).
func (m *MCP) check(ps *problems, prefix string) {
	for i, h := range m.AllowedHosts {
		if msg := HostProblem(h); msg != "" {
			ps.add(index(join(prefix, "allowed_hosts"), i), "%s (got %s)", msg, quote(h))
		}
	}
	for i, o := range m.AllowedOrigins {
		if msg := OriginProblem(o); msg != "" {
			ps.add(index(join(prefix, "allowed_origins"), i), "%s (got %s)", msg, quote(o))
		}
	}
}

// HostProblem describes what is wrong with an allowed Host entry, or
// returns "" when it is valid.
func HostProblem(h string) string {
	const form = `must be "name" or "name:port"`
	if h == "" || strings.ContainsAny(h, "/?#@ ") || strings.ContainsFunc(h, isSpaceOrControl) {
		return form
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if _, err := netip.ParseAddr(h[1 : len(h)-1]); err != nil {
			return form
		}
		return ""
	}
	if !strings.Contains(h, ":") {
		if strings.ContainsAny(h, "[]") {
			return form
		}
		return ""
	}
	name, port, err := net.SplitHostPort(h)
	switch {
	case err != nil || name == "":
		return form
	case portProblem(port):
		return "invalid port"
	case strings.HasPrefix(h, "["):
		if _, err := netip.ParseAddr(name); err != nil {
			return form
		}
	case strings.ContainsAny(name, "[]"):
		return form
	}
	return ""
}

// OriginProblem describes what is wrong with an allowed origin, or
// returns "" when it is valid.
func OriginProblem(o string) string {
	u, err := url.Parse(o)
	switch {
	case err != nil || strings.ContainsFunc(o, isSpaceOrControl):
		return `must be "scheme://host[:port]"`
	case u.Scheme != "http" && u.Scheme != "https":
		return "scheme must be http or https"
	case u.Hostname() == "" || u.Opaque != "" || u.User != nil:
		return `must be "scheme://host[:port]"`
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return "must not have a path, query or fragment"
	case u.Port() != "" && portProblem(u.Port()):
		return "invalid port"
	case strings.HasSuffix(u.Host, ":"):
		return "invalid port"
	}
	return ""
}

// portProblem reports whether port is not a decimal number from 1 to 65535.
func portProblem(port string) bool {
	if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		return true
	}
	n, _ := strconv.Atoi(port)
	return n < 1 || n > 65535
}

// checkOrder reports mismatches between an order slice and its map. Parsed
// configurations always match; this guards configurations built in code.
func checkOrder[T any](ps *problems, at, name string, order []string, m map[string]*T) {
	seen := make(map[string]bool, len(order))
	for _, id := range order {
		if seen[id] {
			ps.add(at, "%s lists %s twice", name, quote(id))
		}
		seen[id] = true
		if _, ok := m[id]; !ok {
			ps.add(at, "%s lists %s, which is not defined", name, quote(id))
		}
	}
	for _, id := range sortedKeys(m) {
		if !seen[id] {
			ps.add(at, "%s does not list %s", name, quote(id))
		}
	}
}

// orderedKeys returns the keys of m present in order, in that order, followed
// by the remaining keys of m sorted.
func orderedKeys[T any](order []string, m map[string]*T) []string {
	keys := make([]string, 0, len(m))
	seen := make(map[string]bool, len(m))
	for _, id := range order {
		if _, ok := m[id]; ok && !seen[id] {
			keys = append(keys, id)
			seen[id] = true
		}
	}
	for _, id := range sortedKeys(m) {
		if !seen[id] {
			keys = append(keys, id)
		}
	}
	return keys
}

func (p *Provider) check(ps *problems, prefix string) {
	at := func(name string) string { return join(prefix, name) }

	modeOK := false
	switch p.Mode {
	case "":
		ps.add(at("mode"), "required (one of %s)", oneOf(modes))
	case ModeSubprocess, ModeDocker, ModeRemote:
		modeOK = true
	default:
		ps.add(at("mode"), "must be one of %s (got %s)", oneOf(modes), quote(string(p.Mode)))
	}

	if modeOK {
		only := func(name string, set bool, allowed ...Mode) {
			if !set {
				return
			}
			for _, m := range allowed {
				if p.Mode == m {
					return
				}
			}
			ps.add(at(name), "only valid for mode %s (mode is %s)", oneOf(allowed), p.Mode)
		}
		only("command", p.Command != nil, ModeSubprocess, ModeDocker)
		only("env", p.Env != nil, ModeSubprocess, ModeDocker)
		only("inherit_env", p.InheritEnv != nil, ModeSubprocess)
		only("workdir", p.Workdir != "", ModeSubprocess)
		only("image", p.Image != "", ModeDocker)
		only("volumes", p.Volumes != nil, ModeDocker)
		only("network", p.Network != "", ModeDocker)
		only("read_only", p.ReadOnly != nil, ModeDocker)
		only("memory_mb", p.MemoryMB != 0, ModeDocker)
		only("cpus", p.CPUs != 0, ModeDocker)
		only("pids_limit", p.PidsLimit != 0, ModeDocker)
		only("endpoint", p.Endpoint != "", ModeRemote)
		only("headers", p.Headers != nil, ModeRemote)
		only("bearer_token", p.BearerToken != "", ModeRemote)
		only("ca_file", p.CAFile != "", ModeRemote)

		switch p.Mode {
		case ModeSubprocess:
			if p.Command == nil {
				ps.add(at("command"), "required for mode subprocess")
			}
		case ModeDocker:
			if p.Image == "" {
				ps.add(at("image"), "required for mode docker")
			}
		case ModeRemote:
			if p.Endpoint == "" {
				ps.add(at("endpoint"), "required for mode remote")
			}
		}
	}

	// Command, environment and working directory.
	if p.Command != nil && len(p.Command) == 0 {
		ps.add(at("command"), "must not be empty")
	}
	for i, arg := range p.Command {
		switch {
		case i == 0 && arg == "":
			ps.add(index(at("command"), i), "program must not be empty")
		case strings.ContainsRune(arg, 0):
			ps.add(index(at("command"), i), "must not contain NUL")
		}
	}
	for _, k := range sortedKeys(p.Env) {
		if !envNameRe.MatchString(k) {
			ps.add(join(at("env"), k), "invalid variable name %s", quote(k))
		} else if strings.ContainsRune(p.Env[k], 0) {
			ps.add(join(at("env"), k), "must not contain NUL")
		}
	}
	for i, k := range p.InheritEnv {
		if !envNameRe.MatchString(k) {
			ps.add(index(at("inherit_env"), i), "invalid variable name %s", quote(k))
		}
	}
	if strings.ContainsRune(p.Workdir, 0) {
		ps.add(at("workdir"), "must not contain NUL")
	}

	// Lifecycle.
	checkSecondsPtr(ps, at("idle_ttl_s"), p.IdleTTLSeconds)
	checkSecondsPtr(ps, at("health_check_interval_s"), p.HealthCheckIntervalSeconds)
	checkPositiveSeconds(ps, at("call_timeout_s"), p.CallTimeoutSeconds)
	checkPositiveSeconds(ps, at("startup_timeout_s"), p.StartupTimeoutSeconds)
	if p.Tenant != "" && !idRe.MatchString(p.Tenant) {
		ps.add(at("tenant"), "must match %s (got %s)", IDPattern, quote(p.Tenant))
	}
	checkPositiveInt(ps, at("degraded_after_failures"), int64(p.DegradedAfterFailures))
	checkPositiveInt(ps, at("max_concurrency"), int64(p.MaxConcurrency))
	checkPositiveInt(ps, at("max_queue"), int64(p.MaxQueue))
	p.Restart.check(ps, at("restart"))

	// Docker.
	if p.Image != "" && strings.ContainsFunc(p.Image, isSpaceOrControl) {
		ps.add(at("image"), "must not contain spaces or control characters (got %s)", quote(p.Image))
	}
	for i, v := range p.Volumes {
		if msg := volumeProblem(v); msg != "" {
			ps.add(index(at("volumes"), i), "%s", msg)
		}
	}
	if p.Network != "" && !networkRe.MatchString(p.Network) {
		ps.add(at("network"), "invalid network name %s", quote(p.Network))
	}
	checkPositiveInt(ps, at("memory_mb"), int64(p.MemoryMB))
	if p.CPUs != 0 {
		if math.IsNaN(p.CPUs) || math.IsInf(p.CPUs, 0) || p.CPUs < 0.01 || p.CPUs > 1024 {
			ps.add(at("cpus"), "must be between 0.01 and 1024 (got %s)", formatFloat(p.CPUs))
		}
	}
	checkPositiveInt(ps, at("pids_limit"), int64(p.PidsLimit))

	// Remote.
	if p.Endpoint != "" {
		checkHTTPURL(ps, at("endpoint"), p.Endpoint)
	}
	for _, k := range sortedKeys(p.Headers) {
		v := p.Headers[k]
		switch {
		case !validHeaderName(k):
			ps.add(join(at("headers"), k), "invalid header name %s", quote(k))
		case strings.ContainsAny(v, "\r\n\x00"):
			ps.add(join(at("headers"), k), "must not contain CR, LF or NUL")
		case p.BearerToken != "" && strings.EqualFold(k, "Authorization"):
			ps.add(join(at("headers"), k), "conflicts with bearer_token")
		}
	}
	if strings.ContainsAny(p.BearerToken, "\r\n\x00") {
		ps.add(at("bearer_token"), "must not contain CR, LF or NUL")
	}
	if strings.ContainsRune(p.CAFile, 0) {
		ps.add(at("ca_file"), "must not contain NUL")
	}
}

func (r *Restart) check(ps *problems, prefix string) {
	at := func(name string) string { return join(prefix, name) }
	if r.MaxRestarts != nil && *r.MaxRestarts < 0 {
		ps.add(at("max_restarts"), "must not be negative (got %d)", *r.MaxRestarts)
	}
	checkPositiveSeconds(ps, at("window_s"), r.WindowSeconds)
	initialOK := checkSecondsPtr(ps, at("initial_backoff_s"), r.InitialBackoffSeconds)
	maxOK := checkPositiveSeconds(ps, at("max_backoff_s"), r.MaxBackoffSeconds)
	checkPositiveSeconds(ps, at("healthy_reset_s"), r.HealthyResetSeconds)
	if initialOK && maxOK {
		initial, maxB := DefaultInitialBackoffSeconds, positiveOr(r.MaxBackoffSeconds, DefaultMaxBackoffSeconds)
		if r.InitialBackoffSeconds != nil {
			initial = *r.InitialBackoffSeconds
		}
		if initial > maxB {
			if r.MaxBackoffSeconds > 0 {
				ps.add(at("max_backoff_s"), "must not be less than initial_backoff_s (%s)", formatFloat(initial))
			} else {
				ps.add(at("initial_backoff_s"), "must not exceed max_backoff_s (%s)", formatFloat(maxB))
			}
		}
	}
}

// providerTenant is the tenant of a provider, before defaults are applied.
func providerTenant(p *Provider) string {
	if p.Tenant == "" {
		return DefaultTenant
	}
	return p.Tenant
}

func (g *Group) check(ps *problems, prefix string, providers map[string]*Provider) {
	at := func(name string) string { return join(prefix, name) }
	switch g.Strategy {
	case "", StrategyRoundRobin, StrategyWeighted, StrategyPriority, StrategyLeastConnections, StrategyRandom:
	default:
		ps.add(at("strategy"), "must be one of %s (got %s)", oneOf(strategies), quote(string(g.Strategy)))
	}
	if len(g.Members) == 0 {
		ps.add(at("members"), "at least one member is required")
	}
	tenant := g.Tenant
	if tenant == "" {
		tenant = DefaultTenant
	} else if !idRe.MatchString(tenant) {
		ps.add(at("tenant"), "must match %s (got %s)", IDPattern, quote(tenant))
		tenant = "" // members are not checked against it
	}
	seen := make(map[string]int, len(g.Members))
	for i, m := range g.Members {
		mp := index(at("members"), i)
		switch {
		case m.ID == "":
			ps.add(join(mp, "id"), "required")
		case providers[m.ID] == nil:
			ps.add(join(mp, "id"), "unknown provider %s", quote(m.ID))
		case tenant != "" && providerTenant(providers[m.ID]) != tenant:
			ps.add(join(mp, "id"), "provider %s belongs to tenant %s, not the group's %s", quote(m.ID), quote(providerTenant(providers[m.ID])), quote(tenant))
		default:
			if j, dup := seen[m.ID]; dup {
				ps.add(join(mp, "id"), "provider %s is already members[%d]", quote(m.ID), j)
			} else {
				seen[m.ID] = i
			}
		}
		if m.Weight < 0 {
			ps.add(join(mp, "weight"), "must be greater than 0 (got %d)", m.Weight)
		}
		if m.Priority < 0 {
			ps.add(join(mp, "priority"), "must be greater than 0 (got %d)", m.Priority)
		}
	}
	if g.MinHealthy != nil {
		switch {
		case *g.MinHealthy < 0:
			ps.add(at("min_healthy"), "must not be negative (got %d)", *g.MinHealthy)
		case len(g.Members) > 0 && *g.MinHealthy > len(g.Members):
			ps.add(at("min_healthy"), "must not exceed the number of members (%d)", len(g.Members))
		}
	}
	checkPositiveInt(ps, join(at("circuit_breaker"), "failure_threshold"), int64(g.CircuitBreaker.FailureThreshold))
	checkPositiveSeconds(ps, join(at("circuit_breaker"), "reset_timeout_s"), g.CircuitBreaker.ResetTimeoutSeconds)
}

// secondsProblem describes what is wrong with a duration in seconds that may
// be zero, or returns "".
func secondsProblem(s float64) string {
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return fmt.Sprintf("must be a finite number of seconds (got %s)", formatFloat(s))
	case s < 0:
		return fmt.Sprintf("must not be negative (got %s)", formatFloat(s))
	case s > maxSeconds:
		return fmt.Sprintf("must not exceed one year, %d seconds (got %s)", maxSeconds, formatFloat(s))
	case s != 0 && s < minSeconds:
		return fmt.Sprintf("must be 0 or at least %s seconds (got %s)", formatFloat(minSeconds), formatFloat(s))
	}
	return ""
}

// checkSecondsPtr checks an optional duration that may be zero.
func checkSecondsPtr(ps *problems, at string, s *float64) bool {
	if s == nil {
		return true
	}
	if msg := secondsProblem(*s); msg != "" {
		ps.add(at, "%s", msg)
		return false
	}
	return true
}

// checkPositiveSeconds checks a positive duration where zero means unset.
func checkPositiveSeconds(ps *problems, at string, s float64) bool {
	switch {
	case s < 0:
		ps.add(at, "must be greater than 0 (got %s)", formatFloat(s))
		return false
	case s > 0 && s < minSeconds:
		ps.add(at, "must be at least %s seconds (got %s)", formatFloat(minSeconds), formatFloat(s))
		return false
	}
	if msg := secondsProblem(s); msg != "" {
		ps.add(at, "%s", msg)
		return false
	}
	return true
}

// checkPositiveInt checks a positive integer where zero means unset.
func checkPositiveInt(ps *problems, at string, n int64) {
	if n < 0 {
		ps.add(at, "must be greater than 0 (got %d)", n)
	}
}

func checkListen(ps *problems, at, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(at, "must be host:port (got %s)", quote(addr))
		return
	}
	if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
		ps.add(at, "invalid port %s", quote(port))
	} else if n, _ := strconv.Atoi(port); n > 65535 {
		ps.add(at, "invalid port %s", quote(port))
	}
}

func checkHTTPURL(ps *problems, at, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" ||
		strings.ContainsFunc(s, isSpaceOrControl) {
		ps.add(at, "must be an absolute http(s) URL (got %s)", quote(s))
	}
}

// volumeProblem describes what is wrong with a docker volume, or returns "".
func volumeProblem(v string) string {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Sprintf(`must be "host:container[:ro|:rw]" (got %s)`, quote(v))
	}
	host, ctr := parts[0], parts[1]
	switch {
	case host == "":
		return fmt.Sprintf("host part must not be empty (got %s)", quote(v))
	case !path.IsAbs(host) && !volNameRe.MatchString(host):
		return fmt.Sprintf("host part must be an absolute path or a volume name (got %s)", quote(v))
	case !path.IsAbs(ctr):
		return fmt.Sprintf("container part must be an absolute path (got %s)", quote(v))
	case len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw":
		return fmt.Sprintf("mode must be ro or rw (got %s)", quote(v))
	case strings.ContainsRune(v, 0):
		return "must not contain NUL"
	}
	return ""
}

// validHeaderName reports whether s is an HTTP token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f
}
