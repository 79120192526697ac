package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Compile-time checks: every verifier satisfies Verifier and the routing
// interface of Chain.
var (
	_ Verifier        = (*HS256)(nil)
	_ Verifier        = (*JWKS)(nil)
	_ Verifier        = Chain(nil)
	_ AlgorithmFilter = (*HS256)(nil)
	_ AlgorithmFilter = (*JWKS)(nil)
	_ AlgorithmFilter = Chain(nil)
)

// keyring holds the keys the tests sign with, generated once per run.
type keyring struct {
	rsa1, rsa2, rsaSmall *rsa.PrivateKey
	ec1, ec2             *ecdsa.PrivateKey
}

var testKeyring = sync.OnceValues(func() (*keyring, error) {
	var k keyring
	var err error
	for _, g := range []struct {
		dst  **rsa.PrivateKey
		bits int
	}{{&k.rsa1, 2048}, {&k.rsa2, 2048}, {&k.rsaSmall, 1024}} {
		if *g.dst, err = rsa.GenerateKey(rand.Reader, g.bits); err != nil {
			return nil, err
		}
	}
	for _, dst := range []**ecdsa.PrivateKey{&k.ec1, &k.ec2} {
		if *dst, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	return &k, nil
})

func keys(t testing.TB) *keyring {
	t.Helper()
	k, err := testKeyring()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rsaJWK is the JWK of pub; extra holds further members as name, value
// pairs.
func rsaJWK(kid string, pub *rsa.PublicKey, extra ...any) map[string]any {
	m := map[string]any{"kty": "RSA", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	return withMembers(m, kid, extra)
}

// ecJWK is the JWK of a P-256 pub.
func ecJWK(t testing.TB, kid string, pub *ecdsa.PublicKey, extra ...any) map[string]any {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
	return withMembers(m, kid, extra)
}

func withMembers(m map[string]any, kid string, extra []any) map[string]any {
	if kid != "" {
		m["kid"] = kid
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// asn1Key signs ES256 in the ASN.1 DER form that JWS does not allow.
type asn1Key struct{ *ecdsa.PrivateKey }

// signJWS makes a compact JWS of header and claims signed with key: an
// *rsa.PrivateKey (RS256), *ecdsa.PrivateKey (ES256, r||s), asn1Key, a
// []byte HMAC secret (HS256), or nil for an empty signature.
func signJWS(t testing.TB, header, claims map[string]any, key any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch k := key.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		var r, s *big.Int
		if r, s, err = ecdsa.Sign(rand.Reader, k, digest[:]); err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
		}
	case asn1Key:
		sig, err = ecdsa.SignASN1(rand.Reader, k.PrivateKey, digest[:])
	case []byte:
		mac := hmac.New(sha256.New, k)
		mac.Write([]byte(input))
		sig = mac.Sum(nil)
	case nil:
	default:
		t.Fatalf("unknown key type %T", key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

// token signs claims with alg and kid ("" leaves kid out).
func token(t testing.TB, alg, kid string, key any, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	return signJWS(t, h, claims, key)
}

// jwksServer serves a key set and counts the requests.
type jwksServer struct {
	*httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	status  int
	body    []byte
	gate    chan struct{} // when set, requests wait for it to close
	entered chan struct{} // receives once a request waits at the gate
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body, gate, entered := s.status, s.body, s.gate, s.entered
		s.mu.Unlock()
		if gate != nil {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-gate
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// set serves keys with status 200.
func (s *jwksServer) set(t testing.TB, keys ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setRaw(http.StatusOK, body)
}

// setRaw serves status and body as they are.
func (s *jwksServer) setRaw(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// clock is a settable time source for the verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var base = time.Unix(1_800_000_000, 0)

// newTestJWKS returns a verifier of the key set at url on a clock set to
// base.
func newTestJWKS(t testing.TB, url string, o JWKSOptions) (*JWKS, *clock) {
	t.Helper()
	o.URL = url
	j, err := NewJWKS(o)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: base}
	j.now = clk.now
	return j, clk
}

// claimsFor are valid claims for sub, with extra members as name, value
// pairs.
func claimsFor(sub string, extra ...any) map[string]any {
	c := map[string]any{"sub": sub, "exp": base.Add(time.Hour).Unix()}
	for i := 0; i+1 < len(extra); i += 2 {
		c[extra[i].(string)] = extra[i+1]
	}
	return c
}

func TestJWKSVerify(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t,
		rsaJWK("rsa1", &k.rsa1.PublicKey, "use", "sig", "alg", "RS256"),
		rsaJWK("rsa2", &k.rsa2.PublicKey),
		ecJWK(t, "ec1", &k.ec1.PublicKey, "use", "sig"),
		rsaJWK("small", &k.rsaSmall.PublicKey),
		rsaJWK("enc", &k.rsa1.PublicKey, "use", "enc"),
		rsaJWK("rs384", &k.rsa2.PublicKey, "alg", "RS384"),
	)
	j, _ := newTestJWKS(t, srv.URL, JWKSOptions{})

	good := claimsFor("alice", "tenant_id", "acme", "roles", []string{"developer"})
	goodRS := token(t, "RS256", "rsa1", k.rsa1, good)
	parts := strings.Split(goodRS, ".")
	tampered := parts[0] + "." + b64([]byte(`{"sub":"root","exp":9999999999,"roles":["admin"]}`)) + "." + parts[2]
	none := b64([]byte(`{"alg":"none","kid":"rsa1"}`)) + "." + parts[1] + "."

	for _, c := range []struct {
		name  string
		token string
		want  error
		p     *Principal
	}{
		{"RS256", goodRS, nil, &Principal{ID: "alice", Tenant: "acme", Roles: []string{"developer"}}},
		{"ES256", token(t, "ES256", "ec1", k.ec1, claimsFor("bob", "tenant_id", "t2", "roles", []string{"viewer", "auditor"})), nil,
			&Principal{ID: "bob", Tenant: "t2", Roles: []string{"viewer", "auditor"}}},
		{"ES256 without kid, one EC key", token(t, "ES256", "", k.ec1, claimsFor("carol")), nil, &Principal{ID: "carol"}},
		{"RS256 without kid, two RSA keys", token(t, "RS256", "", k.rsa1, good), ErrUnknownKey, nil},
		{"RSA key under 2048 bits skipped", token(t, "RS256", "small", k.rsaSmall, good), ErrUnknownKey, nil},
		{"encryption key skipped", token(t, "RS256", "enc", k.rsa1, good), ErrUnknownKey, nil},
		{"key alg differs from token alg", token(t, "RS256", "rs384", k.rsa2, good), ErrUnknownKey, nil},
		{"EC kid with RS256", token(t, "RS256", "ec1", k.rsa1, good), ErrUnknownKey, nil},
		{"unknown kid", token(t, "RS256", "nope", k.rsa1, good), ErrUnknownKey, nil},
		{"signed by another key", token(t, "RS256", "rsa1", k.rsa2, good), ErrSignature, nil},
		{"ES256 by another key", token(t, "ES256", "ec1", k.ec2, good), ErrSignature, nil},
		{"ES256 in ASN.1 form", token(t, "ES256", "ec1", asn1Key{k.ec1}, good), ErrSignature, nil},
		{"tampered claims", tampered, ErrSignature, nil},
		{"expired", token(t, "RS256", "rsa1", k.rsa1, map[string]any{"sub": "a", "exp": base.Add(-time.Hour).Unix()}), ErrExpired, nil},
		{"not yet valid", token(t, "ES256", "ec1", k.ec1, claimsFor("a", "nbf", base.Add(time.Hour).Unix())), ErrExpired, nil},
		{"no sub", token(t, "ES256", "ec1", k.ec1, map[string]any{"exp": base.Add(time.Hour).Unix()}), ErrClaims, nil},
		{"exp a string", token(t, "ES256", "ec1", k.ec1, map[string]any{"sub": "a", "exp": "9999999999"}), ErrClaims, nil},
		{"roles a string", token(t, "RS256", "rsa1", k.rsa1, claimsFor("a", "roles", "admin")), ErrClaims, nil},
		{"nbf a string", token(t, "ES256", "ec1", k.ec1, claimsFor("a", "nbf", "0")), ErrClaims, nil},
		{"tenant_id a number", token(t, "ES256", "ec1", k.ec1, claimsFor("a", "tenant_id", 1)), ErrClaims, nil},
		{"HS256", token(t, "HS256", "rsa1", []byte("secret"), good), ErrAlgorithm, nil},
		{"alg none", none, ErrAlgorithm, nil},
		{"RS512", token(t, "RS512", "rsa1", k.rsa1, good), ErrAlgorithm, nil},
		{"critical header", signJWS(t, map[string]any{"alg": "RS256", "kid": "rsa1", "crit": []string{"exp"}, "exp": 1}, good, k.rsa1), ErrMalformed, nil},
		{"signature not base64", parts[0] + "." + parts[1] + ".!!", ErrMalformed, nil},
		{"two parts", "a.b", ErrMalformed, nil},
		{"huge", strings.Repeat("a", maxTokenBytes+1), ErrMalformed, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := j.Verify(c.token)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.p != nil && fmt.Sprint(*p) != fmt.Sprint(*c.p) {
				t.Fatalf("principal %+v, want %+v", p, c.p)
			}
		})
	}
	if !errors.Is(ErrUnknownKey, ErrSignature) {
		t.Error("ErrUnknownKey must wrap ErrSignature")
	}
	// The clock stood still: one fetch served every token, the unknown kids
	// included.
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d key set fetches, want 1", n)
	}
}

func TestJWKSRotation(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, rsaJWK("old", &k.rsa1.PublicKey))
	j, clk := newTestJWKS(t, srv.URL, JWKSOptions{MinRefetch: time.Minute})
	oldTok := token(t, "RS256", "old", k.rsa1, claimsFor("a"))
	newTok := token(t, "RS256", "new", k.rsa2, claimsFor("a"))

	for _, s := range []struct {
		name    string
		advance time.Duration
		rotate  bool
		token   string
		want    error
		hits    int64
	}{
		{"the first token fetches", 0, false, oldTok, nil, 1},
		{"a rotation within MinRefetch is not seen", 0, true, newTok, ErrUnknownKey, 1},
		{"after MinRefetch the unknown kid re-fetches", time.Minute, false, newTok, nil, 2},
		{"the rotated-out key is gone", 0, false, oldTok, ErrUnknownKey, 2},
		{"still within MinRefetch", 59 * time.Second, false, token(t, "RS256", "x1", k.rsa2, claimsFor("a")), ErrUnknownKey, 2},
		{"the next window allows one fetch", time.Second, false, token(t, "RS256", "x2", k.rsa2, claimsFor("a")), ErrUnknownKey, 3},
	} {
		clk.advance(s.advance)
		if s.rotate {
			srv.set(t, rsaJWK("new", &k.rsa2.PublicKey))
		}
		if _, err := j.Verify(s.token); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.want)
		}
		if n := srv.hits.Load(); n != s.hits {
			t.Fatalf("%s: %d fetches, want %d", s.name, n, s.hits)
		}
	}

	// A burst of garbage kids, sequential and concurrent, fetches nothing
	// more within MinRefetch.
	var wg sync.WaitGroup
	for i := range 64 {
		tok := token(t, "ES256", fmt.Sprintf("garbage-%d", i), k.ec1, claimsFor("a"))
		wg.Go(func() {
			if _, err := j.Verify(tok); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("garbage kid %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if n := srv.hits.Load(); n != 3 {
		t.Fatalf("%d fetches after the burst, want 3", n)
	}
}

func TestJWKSConcurrentFirstFetch(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, ecJWK(t, "ec1", &k.ec1.PublicKey))
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	srv.mu.Lock()
	srv.gate, srv.entered = gate, entered
	srv.mu.Unlock()
	j, _ := newTestJWKS(t, srv.URL, JWKSOptions{})
	tok := token(t, "ES256", "ec1", k.ec1, claimsFor("a"))

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := j.Verify(tok); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
	<-entered // one fetch is in flight; the others join it or find its keys
	close(gate)
	wg.Wait()
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("%d fetches for concurrent first tokens, want 1", n)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	k := keys(t)
	many := make([]map[string]any, 0, 20)
	for i := range 20 {
		many = append(many, rsaJWK(fmt.Sprint(i), &k.rsa1.PublicKey))
	}
	bigBody, _ := json.Marshal(map[string]any{"keys": many})
	unusable, _ := json.Marshal(map[string]any{"keys": []any{
		rsaJWK("small", &k.rsaSmall.PublicKey), rsaJWK("enc", &k.rsa1.PublicKey, "use", "enc"),
	}})
	tok := token(t, "RS256", "0", k.rsa1, claimsFor("a"))

	for _, c := range []struct {
		name     string
		status   int
		body     []byte
		maxBytes int64
		closed   bool
		hits     int64
	}{
		{name: "server error", status: http.StatusServiceUnavailable, body: []byte("down"), hits: 1},
		{name: "not JSON", status: http.StatusOK, body: []byte("<html>"), hits: 1},
		{name: "keys not a list", status: http.StatusOK, body: []byte(`{"keys":5}`), hits: 1},
		{name: "no usable key", status: http.StatusOK, body: unusable, hits: 1},
		{name: "larger than MaxBytes", status: http.StatusOK, body: bigBody, maxBytes: 1024, hits: 1},
		{name: "connection refused", closed: true, hits: 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newJWKSServer(t)
			srv.setRaw(c.status, c.body)
			url := srv.URL
			if c.closed {
				srv.Close()
			}
			j, _ := newTestJWKS(t, url, JWKSOptions{MaxBytes: c.maxBytes})
			for i := range 3 { // retries within MinRefetch do not fetch again
				if _, err := j.Verify(tok); !errors.Is(err, ErrKeysUnavailable) {
					t.Fatalf("attempt %d: error %v, want ErrKeysUnavailable", i, err)
				}
			}
			if n := srv.hits.Load(); n != c.hits {
				t.Fatalf("%d fetches, want %d", n, c.hits)
			}
		})
	}
}

func TestJWKSRecoveryAndRefresh(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t)
	srv.setRaw(http.StatusBadGateway, nil)
	j, clk := newTestJWKS(t, srv.URL, JWKSOptions{RefreshInterval: 10 * time.Minute, MinRefetch: 30 * time.Second})
	tok := func() string {
		return token(t, "ES256", "ec1", k.ec1, map[string]any{"sub": "a", "exp": clk.now().Add(time.Hour).Unix()})
	}

	for _, s := range []struct {
		name    string
		advance time.Duration
		serve   bool // serve the key set from now on
		down    bool // answer 502 from now on
		want    error
		hits    int64
	}{
		{"server down at the first token", 0, false, false, ErrKeysUnavailable, 1},
		{"up again, but within MinRefetch", 0, true, false, ErrKeysUnavailable, 1},
		{"after MinRefetch the keys arrive", 30 * time.Second, false, false, nil, 2},
		{"fresh keys are not fetched again", 9 * time.Minute, false, false, nil, 2},
		{"stale keys are refreshed", time.Minute, false, false, nil, 3},
		{"a failed refresh keeps the stale keys", 10 * time.Minute, false, true, nil, 4},
		{"and is not retried within MinRefetch", 10 * time.Second, false, false, nil, 4},
	} {
		clk.advance(s.advance)
		if s.serve {
			srv.set(t, ecJWK(t, "ec1", &k.ec1.PublicKey))
		}
		if s.down {
			srv.setRaw(http.StatusBadGateway, nil)
		}
		if _, err := j.Verify(tok()); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("%s: error %v, want %v", s.name, err, s.want)
		}
		if n := srv.hits.Load(); n != s.hits {
			t.Fatalf("%s: %d fetches, want %d", s.name, n, s.hits)
		}
	}
}

func TestJWKSIssuerAudience(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, ecJWK(t, "ec1", &k.ec1.PublicKey))
	const iss, aud = "https://idp.example.com/", "switchyard"
	for _, c := range []struct {
		name     string
		issuer   string
		audience string
		claims   map[string]any
		want     error
	}{
		{"nothing configured, nothing checked", "", "", claimsFor("a", "iss", "other", "aud", 7), nil},
		{"issuer matches", iss, "", claimsFor("a", "iss", iss), nil},
		{"issuer differs", iss, "", claimsFor("a", "iss", "https://evil.example.com/"), ErrClaims},
		{"issuer missing", iss, "", claimsFor("a"), ErrClaims},
		{"issuer not a string", iss, "", claimsFor("a", "iss", 1), ErrClaims},
		{"audience as a string", "", aud, claimsFor("a", "aud", aud), nil},
		{"audience in a list", "", aud, claimsFor("a", "aud", []string{"other", aud}), nil},
		{"audience not in the list", "", aud, claimsFor("a", "aud", []string{"other"}), ErrClaims},
		{"audience missing", "", aud, claimsFor("a"), ErrClaims},
		{"audience mistyped", "", aud, claimsFor("a", "aud", 5), ErrClaims},
		{"both match", iss, aud, claimsFor("a", "iss", iss, "aud", aud), nil},
		{"audience right, issuer wrong", iss, aud, claimsFor("a", "iss", "x", "aud", aud), ErrClaims},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, _ := newTestJWKS(t, srv.URL, JWKSOptions{Issuer: c.issuer, Audience: c.audience})
			_, err := j.Verify(token(t, "ES256", "ec1", k.ec1, c.claims))
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestChain(t *testing.T) {
	k := keys(t)
	rsaKey := rsaJWK("rsa1", &k.rsa1.PublicKey)
	srv := newJWKSServer(t, rsaKey, ecJWK(t, "ec1", &k.ec1.PublicKey))
	j, _ := newTestJWKS(t, srv.URL, JWKSOptions{})
	hs, err := NewHS256("hs-secret")
	if err != nil {
		t.Fatal(err)
	}
	hs.now = func() time.Time { return base }

	// Algorithm confusion: an HS256 token whose secret is the RSA public
	// key, in the forms an attacker can find it.
	der, err := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkKey, _ := json.Marshal(rsaKey)
	claims := claimsFor("mallory", "roles", []string{"admin"})
	var nilHS *HS256

	both := Chain{hs, j}
	for _, c := range []struct {
		name  string
		chain Chain
		token string
		want  error
	}{
		{"HS256 to HS256", both, token(t, "HS256", "", []byte("hs-secret"), claims), nil},
		{"RS256 to JWKS", both, token(t, "RS256", "rsa1", k.rsa1, claims), nil},
		{"ES256 to JWKS", both, token(t, "ES256", "ec1", k.ec1, claims), nil},
		{"confusion with PEM, JWKS only", Chain{j}, token(t, "HS256", "rsa1", pemKey, claims), ErrAlgorithm},
		{"confusion with JWK, JWKS only", Chain{j}, token(t, "HS256", "rsa1", jwkKey, claims), ErrAlgorithm},
		{"confusion with DER, JWKS only", Chain{j}, token(t, "HS256", "rsa1", der, claims), ErrAlgorithm},
		{"confusion with PEM, both", both, token(t, "HS256", "rsa1", pemKey, claims), ErrSignature},
		{"confusion with JWK, both", both, token(t, "HS256", "rsa1", jwkKey, claims), ErrSignature},
		{"RS256 with HS256 only", Chain{hs}, token(t, "RS256", "rsa1", k.rsa1, claims), ErrAlgorithm},
		{"alg none", both, token(t, "none", "", nil, claims), ErrAlgorithm},
		{"RS384", both, token(t, "RS384", "rsa1", k.rsa1, claims), ErrAlgorithm},
		{"empty chain", Chain{}, token(t, "HS256", "", []byte("hs-secret"), claims), ErrAlgorithm},
		{"nil members are never picked", Chain{nilHS, (*JWKS)(nil), nil}, token(t, "HS256", "", []byte("hs-secret"), claims), ErrAlgorithm},
		{"nested chain", Chain{Chain{hs}, j}, token(t, "HS256", "", []byte("hs-secret"), claims), nil},
		{"huge", both, strings.Repeat("a", maxTokenBytes+1), ErrMalformed},
		{"not a JWS", both, "a.b", ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := c.chain.Verify(c.token)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if c.want == nil && p.ID != "mallory" {
				t.Fatalf("principal %+v", p)
			}
		})
	}
}

func TestNewJWKS(t *testing.T) {
	for _, c := range []struct {
		name string
		o    JWKSOptions
		ok   bool
	}{
		{"https", JWKSOptions{URL: "https://idp.example.com/.well-known/jwks.json"}, true},
		{"http with port", JWKSOptions{URL: "http://127.0.0.1:8080/jwks"}, true},
		{"empty", JWKSOptions{}, false},
		{"relative", JWKSOptions{URL: "/jwks.json"}, false},
		{"other scheme", JWKSOptions{URL: "ftp://idp.example.com/jwks"}, false},
		{"no host", JWKSOptions{URL: "https:///jwks"}, false},
		{"opaque", JWKSOptions{URL: "https:idp.example.com"}, false},
		{"negative leeway", JWKSOptions{URL: "https://h/", Leeway: -1}, false},
		{"negative refresh", JWKSOptions{URL: "https://h/", RefreshInterval: -1}, false},
		{"negative min refetch", JWKSOptions{URL: "https://h/", MinRefetch: -1}, false},
		{"negative max bytes", JWKSOptions{URL: "https://h/", MaxBytes: -1}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := NewJWKS(c.o)
			if (err == nil) != c.ok {
				t.Fatalf("error %v, want ok %v", err, c.ok)
			}
			if c.ok && (j.leeway != DefaultJWKSLeeway || j.refresh != DefaultJWKSRefreshInterval || j.minRefetch != DefaultJWKSMinRefetch) {
				t.Fatalf("defaults not applied: %+v", j)
			}
		})
	}
}

func TestParseKeySet(t *testing.T) {
	k := keys(t)
	ecPub, err := k.ec1.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	offCurve := append([]byte(nil), ecPub...)
	offCurve[64] ^= 1
	for _, c := range []struct {
		name string
		key  map[string]any
		ok   bool
	}{
		{"RSA 2048", rsaJWK("a", &k.rsa1.PublicKey), true},
		{"RSA with use sig and alg RS256", rsaJWK("a", &k.rsa1.PublicKey, "use", "sig", "alg", "RS256"), true},
		{"RSA with key_ops verify", rsaJWK("a", &k.rsa1.PublicKey, "key_ops", []string{"verify"}), true},
		{"EC P-256", ecJWK(t, "a", &k.ec1.PublicKey), true},
		{"EC with alg ES256", ecJWK(t, "a", &k.ec1.PublicKey, "alg", "ES256"), true},
		{"RSA 1024", rsaJWK("a", &k.rsaSmall.PublicKey), false},
		{"use enc", rsaJWK("a", &k.rsa1.PublicKey, "use", "enc"), false},
		{"key_ops encrypt", rsaJWK("a", &k.rsa1.PublicKey, "key_ops", []string{"encrypt"}), false},
		{"alg RS384", rsaJWK("a", &k.rsa1.PublicKey, "alg", "RS384"), false},
		{"RSA with alg ES256", rsaJWK("a", &k.rsa1.PublicKey, "alg", "ES256"), false},
		{"even exponent", rsaJWK("a", &k.rsa1.PublicKey, "e", b64([]byte{2})), false},
		{"exponent 1", rsaJWK("a", &k.rsa1.PublicKey, "e", "AQ"), false},
		{"n not base64url", rsaJWK("a", &k.rsa1.PublicKey, "n", "+/+/"), false},
		{"n a number", rsaJWK("a", &k.rsa1.PublicKey, "n", 5), false},
		{"EC P-384", ecJWK(t, "a", &k.ec1.PublicKey, "crv", "P-384"), false},
		{"EC short x", ecJWK(t, "a", &k.ec1.PublicKey, "x", b64(ecPub[2:33])), false},
		{"EC off the curve", ecJWK(t, "a", &k.ec1.PublicKey, "y", b64(offCurve[33:])), false},
		{"symmetric", map[string]any{"kty": "oct", "k": b64([]byte("secret"))}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A good key beside it shows that a bad key is skipped, not fatal.
			doc, _ := json.Marshal(map[string]any{"keys": []any{c.key, ecJWK(t, "good", &k.ec2.PublicKey)}})
			ks, err := parseKeySet(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ks.keys) == 2; got != c.ok {
				t.Fatalf("usable %v, want %v", got, c.ok)
			}
		})
	}
}

// fuzzKey is the fixed ES256 key the seed corpus is signed with.
func fuzzKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	d := sha256.Sum256([]byte("switchyard FuzzJWKSVerify key"))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzJWKSVerify checks that arbitrary tokens never panic the verifier,
// that every accepted token yields a principal, and that every refusal is
// one of the sentinel errors. The key set is fixed and in memory; the seed
// corpus in testdata holds tokens signed with fuzzKey.
func FuzzJWKSVerify(f *testing.F) {
	k := keys(f)
	ec := fuzzKey(f)
	doc, _ := json.Marshal(map[string]any{"keys": []any{
		ecJWK(f, "fuzz-ec", &ec.PublicKey),
		rsaJWK("fuzz-rsa", &k.rsa1.PublicKey),
	}})
	ks, err := parseKeySet(doc)
	if err != nil {
		f.Fatal(err)
	}
	j := newStaticJWKS(ks, JWKSOptions{Issuer: "https://idp.example.com/"})
	j.now = func() time.Time { return base }
	claims := claimsFor("a", "iss", "https://idp.example.com/", "roles", []string{"admin"})
	for _, s := range []string{
		token(f, "ES256", "fuzz-ec", ec, claims),
		token(f, "RS256", "fuzz-rsa", k.rsa1, claims),
		token(f, "RS256", "", k.rsa1, claims),
		token(f, "HS256", "fuzz-rsa", []byte("x"), claims),
		"", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.",
	} {
		f.Add(s)
	}
	sentinels := []error{ErrMalformed, ErrAlgorithm, ErrSignature, ErrExpired, ErrClaims, ErrKeysUnavailable}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := j.Verify(s)
		if err == nil {
			if p == nil || p.ID == "" {
				t.Fatalf("accepted %q without a principal", s)
			}
			if err := claimTypes(s); err != nil {
				t.Fatalf("accepted %q: %v", s, err)
			}
			return
		}
		for _, e := range sentinels {
			if errors.Is(err, e) {
				return
			}
		}
		t.Fatalf("error %v is none of the sentinels", err)
	})
}

// claimTypes checks, independently of the verifier, that an accepted
// token's claims have their types: sub and tenant_id strings, exp a
// number, nbf and iat numbers when present, roles a list of strings or
// null.
func claimTypes(token string) error {
	parts := strings.Split(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return err
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	for name, want := range map[string]string{"sub": "string", "tenant_id": "string", "exp": "number", "nbf": "number", "iat": "number", "roles": "list"} {
		v, ok := c[name]
		if !ok || (name == "roles" && v == nil) {
			continue
		}
		got := "other"
		switch v := v.(type) {
		case string:
			got = "string"
		case float64:
			got = "number"
		case []any:
			got = "list"
			for _, e := range v {
				if _, ok := e.(string); !ok {
					got = "list with a non-string"
				}
			}
		}
		if got != want {
			return fmt.Errorf("claim %s is a %s, want a %s", name, got, want)
		}
	}
	return nil
}
