package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHS256Verify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	v, err := NewHS256("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	v.now = func() time.Time { return now }
	sign := func(c map[string]any) string {
		tok, err := SignHS256("s3cret", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	exp := now.Add(time.Hour).Unix()
	good := sign(map[string]any{"sub": "alice", "tenant_id": "acme", "exp": exp, "roles": []string{"developer"}})
	p, err := v.Verify(good)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "alice" || p.Tenant != "acme" || len(p.Roles) != 1 || p.Roles[0] != "developer" {
		t.Fatalf("principal %+v", p)
	}
	if p, err := v.Verify(sign(map[string]any{"sub": "bob", "exp": float64(exp) + 0.5, "iat": float64(now.Unix()) - 0.25, "roles": nil})); err != nil || len(p.Roles) != 0 || p.Tenant != "" {
		t.Fatalf("exp and iat in fractional seconds, roles null: %+v %v", p, err)
	}

	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + strings.Split(good, ".")[1] + "."
	otherKey, _ := SignHS256("other", map[string]any{"sub": "alice", "exp": exp})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"root","exp":`+"9999999999"+`}`)) + "." + parts[2]
	for _, c := range []struct {
		name  string
		token string
		want  error
	}{
		{"alg none", none, ErrAlgorithm},
		{"wrong key", otherKey, ErrSignature},
		{"tampered claims", tampered, ErrSignature},
		{"expired", sign(map[string]any{"sub": "a", "exp": now.Add(-time.Hour).Unix()}), ErrExpired},
		{"not yet valid", sign(map[string]any{"sub": "a", "exp": exp, "nbf": now.Add(time.Hour).Unix()}), ErrExpired},
		{"no sub", sign(map[string]any{"exp": exp}), ErrClaims},
		{"no exp", sign(map[string]any{"sub": "a"}), ErrClaims},
		{"bad roles", sign(map[string]any{"sub": "a", "exp": exp, "roles": 7}), ErrClaims},
		{"roles a string", sign(map[string]any{"sub": "a", "exp": exp, "roles": "admin"}), ErrClaims},
		{"roles not all strings", sign(map[string]any{"sub": "a", "exp": exp, "roles": []any{"admin", 1}}), ErrClaims},
		{"exp a string", sign(map[string]any{"sub": "a", "exp": "9999999999"}), ErrClaims},
		{"exp null", sign(map[string]any{"sub": "a", "exp": nil}), ErrClaims},
		{"exp a bool", sign(map[string]any{"sub": "a", "exp": true}), ErrClaims},
		{"nbf a string", sign(map[string]any{"sub": "a", "exp": exp, "nbf": "0"}), ErrClaims},
		{"iat a string", sign(map[string]any{"sub": "a", "exp": exp, "iat": "0"}), ErrClaims},
		{"sub a number", sign(map[string]any{"sub": 42, "exp": exp}), ErrClaims},
		{"sub null", sign(map[string]any{"sub": nil, "exp": exp}), ErrClaims},
		{"tenant_id a number", sign(map[string]any{"sub": "a", "exp": exp, "tenant_id": 7}), ErrClaims},
		{"tenant_id a list", sign(map[string]any{"sub": "a", "exp": exp, "tenant_id": []string{"acme"}}), ErrClaims},
		{"two parts", "a.b", ErrMalformed},
		{"not base64", "!!.??.**", ErrMalformed},
		{"huge", strings.Repeat("a", 9000), ErrMalformed},
	} {
		if _, err := v.Verify(c.token); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Within the leeway an expired token still passes.
	if _, err := v.Verify(sign(map[string]any{"sub": "a", "exp": now.Add(-10 * time.Second).Unix()})); err != nil {
		t.Errorf("inside the leeway: %v", err)
	}
	if _, err := NewHS256(""); err == nil {
		t.Error("an empty secret must be refused")
	}
}

func FuzzHS256Verify(f *testing.F) {
	tok, _ := SignHS256("k", map[string]any{"sub": "a", "exp": 9999999999})
	for _, s := range []string{tok, "", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30."} {
		f.Add(s)
	}
	v, _ := NewHS256("k")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := v.Verify(s)
		if err == nil && (p == nil || p.ID == "") {
			t.Fatalf("accepted %q without a principal", s)
		}
	})
}

func TestRolesAllow(t *testing.T) {
	for _, c := range []struct {
		roles             []string
		read, call, write bool
	}{
		{[]string{RoleAdmin}, true, true, true},
		{[]string{RoleOperator}, true, true, true},
		{[]string{RoleDeveloper}, true, true, false},
		{[]string{RoleViewer}, true, false, false},
		{[]string{RoleAuditor}, true, false, false},
		{[]string{"custom"}, false, false, false},
		{nil, false, false, false},
		{[]string{"custom", RoleDeveloper}, true, true, false},
	} {
		p := &Principal{ID: "x", Roles: c.roles}
		if p.Allows(Read) != c.read || p.Allows(Call) != c.call || p.Allows(Write) != c.write {
			t.Errorf("roles %v: read %v call %v write %v", c.roles, p.Allows(Read), p.Allows(Call), p.Allows(Write))
		}
	}
}
