package httpfront

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/switchyard-mcp/switchyard/auth"
)

// es256Token signs claims with key as an ES256 compact JWS (r||s form).
func es256Token(t *testing.T, kid string, key *ecdsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	h, err := json.Marshal(map[string]any{"alg": "ES256", "kid": kid, "typ": "JWT"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := enc(h) + "." + enc(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc(sig)
}

// TestJWKSBearer serves a key set holding one P-256 key and checks that the
// gateway accepts an ES256 token signed with it on a protected route, next
// to an HS256 secret in the same chain, and refuses forged tokens.
func TestJWKSBearer(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := key.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	set, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
		"x": enc(pub[1:33]), "y": enc(pub[33:]),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(set)
	}))
	t.Cleanup(idp.Close)

	jwks, err := auth.NewJWKS(auth.JWKSOptions{URL: idp.URL, Audience: "switchyard", HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := auth.NewHS256("jwt-secret")
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, Options{JWT: auth.Chain{hs, jwks}}, spec("p"))

	exp := time.Now().Add(time.Hour).Unix()
	claims := map[string]any{"sub": "u", "tenant_id": "acme", "exp": exp, "aud": "switchyard", "roles": []string{auth.RoleViewer}}
	hsTok, err := auth.SignHS256("jwt-secret", map[string]any{"sub": "u", "exp": exp, "roles": []string{auth.RoleViewer}})
	if err != nil {
		t.Fatal(err)
	}
	wrongAud := map[string]any{"sub": "u", "exp": exp, "aud": "elsewhere", "roles": []string{auth.RoleViewer}}
	hs256 := func(c map[string]any) string {
		tok, err := auth.SignHS256("jwt-secret", c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, c := range []struct {
		name   string
		token  string
		status int
	}{
		{"ES256 from the key set", es256Token(t, "k1", key, claims), 200},
		{"HS256 beside it", hsTok, 200},
		{"ES256 signed by another key", es256Token(t, "k1", other, claims), 401},
		{"ES256 with an unknown kid", es256Token(t, "k2", other, claims), 401},
		{"ES256 for another audience", es256Token(t, "k1", key, wrongAud), 401},
		{"HS256 with exp as a string", hs256(map[string]any{"sub": "u", "exp": "9999999999", "roles": []string{auth.RoleViewer}}), 401},
		{"HS256 with roles as a string", hs256(map[string]any{"sub": "u", "exp": exp, "roles": auth.RoleViewer}), 401},
		{"ES256 with exp as a string", es256Token(t, "k1", key, map[string]any{"sub": "u", "exp": "9999999999", "aud": "switchyard", "roles": []string{auth.RoleViewer}}), 401},
		{"ES256 with roles as a string", es256Token(t, "k1", key, map[string]any{"sub": "u", "exp": exp, "aud": "switchyard", "roles": auth.RoleViewer}), 401},
		{"HS256 signed with the wrong secret", func() string {
			tok, err := auth.SignHS256("other-secret", map[string]any{"sub": "u", "exp": exp, "roles": []string{auth.RoleAdmin}})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}(), 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			expect(t, g.do(t, "GET", "/api/providers", "", "Authorization", "Bearer "+c.token), c.status, c.name)
		})
	}
	expect(t, g.do(t, "GET", "/api/providers", ""), 401, "no token")
}
