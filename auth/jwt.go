// Package auth holds Switchyard's identity: who a request comes from (an
// API key or a bearer JWT) and which tenant it acts for. It is a plain
// package behind small types, used by the HTTP front's middleware.
package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Sentinel errors of token verification.
var (
	// ErrMalformed: not a compact JWS of three base64url parts with JSON.
	ErrMalformed = errors.New("malformed token")
	// ErrAlgorithm: the token's algorithm is not the one configured (alg
	// "none" and algorithm confusion are refused this way).
	ErrAlgorithm = errors.New("unsupported token algorithm")
	// ErrSignature: the signature does not verify.
	ErrSignature = errors.New("invalid token signature")
	// ErrExpired: exp is in the past, or nbf in the future.
	ErrExpired = errors.New("token expired or not yet valid")
	// ErrClaims: a required claim (sub, exp) is missing, or a claim is not
	// of its JSON type.
	ErrClaims = errors.New("invalid token claims")
)

// DefaultTenant is the tenant of requests that name none.
const DefaultTenant = "default"

// Principal is the verified identity of a request.
type Principal struct {
	// ID is the principal (the JWT sub, or "admin" for the bootstrap key).
	ID string
	// Tenant is the tenant the request acts for.
	Tenant string
	// Roles are the roles the credentials carry.
	Roles []string
}

// maxTokenBytes bounds a token before any decoding.
const maxTokenBytes = 8 << 10

// HS256 verifies HS256-signed JWTs with a shared secret.
type HS256 struct {
	secret []byte
	// Leeway tolerates clock skew on exp and nbf (default 30s).
	Leeway time.Duration
	now    func() time.Time
}

// NewHS256 returns a verifier for the secret (which must not be empty).
func NewHS256(secret string) (*HS256, error) {
	if secret == "" {
		return nil, errors.New("empty JWT secret")
	}
	return &HS256{secret: []byte(secret), Leeway: 30 * time.Second, now: time.Now}, nil
}

// claims are the JWT claims Switchyard reads. Iss and Aud are only checked
// by JWKS, when it is configured to. Each typed claim refuses a value of
// another JSON type with ErrClaims as it is decoded, so a string "exp" or
// a string "roles" never passes as a number or a list.
type claims struct {
	Sub    claimString     `json:"sub"`
	Tenant claimString     `json:"tenant_id"`
	Exp    numericDate     `json:"exp"`
	Nbf    numericDate     `json:"nbf"`
	Iat    numericDate     `json:"iat"`
	Roles  claimRoles      `json:"roles"`
	Iss    json.RawMessage `json:"iss"`
	Aud    json.RawMessage `json:"aud"`
}

// claimString is a claim that must be a JSON string.
type claimString string

// UnmarshalJSON accepts a JSON string only.
func (s *claimString) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '"' {
		return fmt.Errorf("%w: want a string, got %.20s", ErrClaims, b)
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	*s = claimString(v)
	return nil
}

// numericDate is a NumericDate claim (RFC 7519): a JSON number of seconds
// since the epoch, integer or not. set tells a present claim from an
// absent one.
type numericDate struct {
	secs float64
	set  bool
}

// UnmarshalJSON accepts a JSON number only.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return fmt.Errorf("%w: want a number of seconds, got %.20s", ErrClaims, b)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) {
		return fmt.Errorf("%w: numeric date %.20s out of range", ErrClaims, b)
	}
	d.secs, d.set = f, true
	return nil
}

// time returns d as a time, saturating far outside the int64 range of
// seconds.
func (d numericDate) time() time.Time {
	const limit = 1 << 62
	return time.Unix(int64(max(min(d.secs, limit), -limit)), 0)
}

// claimRoles is the roles claim: a JSON list of strings, or null for no
// roles (which grants nothing).
type claimRoles []string

// UnmarshalJSON accepts a list of strings or null only.
func (r *claimRoles) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*r = nil
		return nil
	}
	var v []string
	if len(b) == 0 || b[0] != '[' || json.Unmarshal(b, &v) != nil {
		return fmt.Errorf("%w: roles must be a list of strings", ErrClaims)
	}
	*r = v
	return nil
}

// Verify checks a compact JWS and returns its principal.
func (v *HS256) Verify(token string) (*Principal, error) {
	t, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	return v.verifyJWS(&t)
}

// verifyJWS is Verify for a parsed token.
func (v *HS256) verifyJWS(t *jws) (*Principal, error) {
	if t.header.Alg != "HS256" {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, t.header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(t.sig)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	mac := hmac.New(sha256.New, v.secret)
	mac.Write([]byte(t.signed))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, ErrSignature
	}
	c, err := decodeClaims(t.payload)
	if err != nil {
		return nil, err
	}
	return c.principal(v.now(), v.Leeway)
}

// Accepts reports whether alg is HS256, the one algorithm v verifies; Chain
// uses it to route tokens. A nil v accepts nothing.
func (v *HS256) Accepts(alg string) bool { return v != nil && alg == "HS256" }

// decodeClaims decodes the claims part of a token whose signature has been
// verified. HS256 and JWKS share it, so a claim has one type whatever
// signed it.
func decodeClaims(part string) (*claims, error) {
	c := new(claims)
	if err := decodePart(part, c); err != nil {
		return nil, err
	}
	return c, nil
}

// principal checks sub, exp and nbf against now with leeway and returns the
// principal. Every verifier shares it so that claims mean the same whatever
// signed them.
func (c *claims) principal(now time.Time, leeway time.Duration) (*Principal, error) {
	if c.Sub == "" || !c.Exp.set {
		return nil, fmt.Errorf("%w: sub and exp are required", ErrClaims)
	}
	if now.After(c.Exp.time().Add(leeway)) {
		return nil, ErrExpired
	}
	if c.Nbf.set && now.Add(leeway).Before(c.Nbf.time()) {
		return nil, ErrExpired
	}
	return &Principal{ID: string(c.Sub), Tenant: string(c.Tenant), Roles: c.Roles}, nil
}

// decodePart decodes one base64url part of a token as JSON into v.
func decodePart(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, ErrClaims) || errors.Is(err, ErrMalformed) {
			return err
		}
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// SignHS256 makes an HS256 token for claims; tests and tools use it.
func SignHS256(secret string, claims map[string]any) (string, error) {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	payload := h + "." + base64.RawURLEncoding.EncodeToString(c)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)), nil
}
