package actors

import (
	"time"

	"github.com/switchyard-mcp/switchyard/config"
	"github.com/switchyard-mcp/switchyard/supervisor"
)

// SpecFromConfig turns a validated provider of the config file or the REST
// API into a runtime Spec; defaults (config's, the one place they are
// written) are applied to p and l first.
func SpecFromConfig(p *config.Provider, l config.Limits) Spec {
	l = l.WithDefaults()
	p.ApplyDefaults(l)
	s := Spec{
		ID:             p.ID,
		Mode:           string(p.Mode),
		Description:    p.Description,
		Tenant:         p.Tenant,
		Command:        append([]string(nil), p.Command...),
		Env:            p.Env,
		InheritEnv:     p.InheritEnv,
		Workdir:        p.Workdir,
		Image:          p.Image,
		Volumes:        p.Volumes,
		Network:        p.Network,
		Endpoint:       p.Endpoint,
		MemoryMB:       int64(p.MemoryMB),
		CPUs:           p.CPUs,
		PidsLimit:      int64(p.PidsLimit),
		Headers:        p.Headers,
		BearerToken:    p.BearerToken,
		CAFile:         p.CAFile,
		IdleTTL:        p.IdleTTL(),
		HealthInterval: p.HealthCheckInterval(),
		CallTimeout:    p.CallTimeout(),
		StartupTimeout: p.StartupTimeout(),
		StopGrace:      time.Duration(config.DefaultStopGraceSeconds * float64(time.Second)),
		DegradedAfter:  p.DegradedAfterFailures,
		MaxPending:     l.MaxPendingCalls,
		MaxConcurrency: p.MaxConcurrency,
		MaxQueue:       p.MaxQueue,
		MaxMessage:     int(l.MaxMessageBytes),
		Restart: supervisor.RestartPolicy{
			Window:         p.Restart.Window(),
			InitialBackoff: p.Restart.InitialBackoff(),
			MaxBackoff:     p.Restart.MaxBackoff(),
			HealthyReset:   p.Restart.HealthyReset(),
		},
	}
	if p.Restart.MaxRestarts != nil {
		s.Restart.MaxRestarts = *p.Restart.MaxRestarts
	}
	if p.ReadOnly != nil {
		s.ReadOnly = *p.ReadOnly
	}
	return s
}

// DefaultSpec is a provider of the given id and mode with every setting
// at the configuration file's default, for callers that build specs in code
// (set the mode's command, image or endpoint before creating it).
func DefaultSpec(id string, mode config.Mode) Spec {
	return SpecFromConfig(&config.Provider{ID: id, Mode: mode}, config.Limits{})
}

// GroupSpecFromConfig turns a validated group of the config file into a
// GroupSpec.
func GroupSpecFromConfig(g *config.Group) GroupSpec {
	s := GroupSpec{
		ID:          g.ID,
		Strategy:    string(g.Strategy),
		Description: g.Description,
		Tenant:      g.Tenant,
		Breaker: supervisor.BreakerConfig{
			FailureThreshold: g.CircuitBreaker.FailureThreshold,
			ResetTimeout:     g.CircuitBreaker.ResetTimeout(),
		},
	}
	if g.MinHealthy != nil {
		s.MinHealthy = *g.MinHealthy
	} else {
		s.MinHealthy = config.DefaultMinHealthy
	}
	for _, m := range g.Members {
		s.Members = append(s.Members, GroupMember{ID: m.ID, Weight: m.Weight, Priority: m.Priority})
	}
	return s.WithDefaults()
}

// GatewayOptionsFromConfig turns the config file's gateway block into the
// runtime's options (zero fields keep the runtime's defaults).
func GatewayOptionsFromConfig(g config.Gateway) GatewayOptions {
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return GatewayOptions{
		SessionIdleTTL: sec(g.SessionIdleTTLSeconds),
		ApprovalTTL:    sec(g.ApprovalTTLSeconds),
		TaskTTL:        sec(g.TaskTTLSeconds),
		ElicitationTTL: sec(g.ElicitationTTLSeconds),
		SendWait:       sec(g.SendWaitSeconds),
		MaxChainDepth:  g.MaxChainDepth,
		MaxPending:     g.MaxPending,
		KeepEnded:      g.KeepEnded,
	}
}
