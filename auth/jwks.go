package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Sentinel errors of JWKS verification, beside those of jwt.go.
var (
	// ErrKeysUnavailable: no key set could be fetched from the JWKS URL (the
	// server is down, answers an error, or serves no usable key), so no
	// RS256/ES256 token can be verified until a fetch succeeds.
	ErrKeysUnavailable = errors.New("JWKS keys unavailable")
	// ErrUnknownKey: the key set holds no key usable for the token's kid and
	// alg, even after the re-fetch the rate limit allowed. It wraps
	// ErrSignature, since the token cannot be shown to be genuine.
	ErrUnknownKey = fmt.Errorf("%w: no matching key in the JWKS", ErrSignature)
)

// Verifier checks a bearer token and returns its principal. *HS256, *JWKS
// and Chain implement it, so the HTTP front takes any of them.
type Verifier interface {
	Verify(token string) (*Principal, error)
}

// AlgorithmFilter is implemented by verifiers that accept only some JWS
// algorithms. Chain routes a token by its header's alg to the first member
// that accepts it, so each alg reaches exactly one verifier and an HS256
// token can never be checked with an RSA or EC public key.
type AlgorithmFilter interface {
	// Accepts reports whether the verifier handles tokens signed with alg.
	Accepts(alg string) bool
}

// Chain dispatches a token to the first member that accepts the alg of its
// header (see AlgorithmFilter): HS256 to an *HS256, RS256 and ES256 to a
// *JWKS. Members that do not implement AlgorithmFilter are never selected,
// so a member cannot silently widen the accepted algorithms. A token whose
// alg no member accepts, alg "none" included, fails with ErrAlgorithm.
type Chain []Verifier

// Verify bounds the token size, reads its header and hands it to the member
// that accepts its alg.
func (c Chain) Verify(token string) (*Principal, error) {
	t, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	return c.verifyJWS(&t)
}

// verifyJWS hands t to the member that accepts its alg; this package's
// verifiers get it as parsed, others the token text.
func (c Chain) verifyJWS(t *jws) (*Principal, error) {
	for _, v := range c {
		if f, ok := v.(AlgorithmFilter); ok && f.Accepts(t.header.Alg) {
			if jv, ok := v.(jwsVerifier); ok {
				return jv.verifyJWS(t)
			}
			return v.Verify(t.token)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrAlgorithm, t.header.Alg)
}

// jwsVerifier is implemented by this package's verifiers, so that a Chain
// parses a token once for whichever member verifies it.
type jwsVerifier interface {
	verifyJWS(t *jws) (*Principal, error)
}

// Accepts reports whether some member accepts alg, so chains can nest.
func (c Chain) Accepts(alg string) bool {
	for _, v := range c {
		if f, ok := v.(AlgorithmFilter); ok && f.Accepts(alg) {
			return true
		}
	}
	return false
}

// Defaults of JWKSOptions.
const (
	DefaultJWKSLeeway          = 30 * time.Second
	DefaultJWKSRefreshInterval = 10 * time.Minute
	DefaultJWKSMinRefetch      = 30 * time.Second
	DefaultJWKSFetchTimeout    = 10 * time.Second
	DefaultJWKSMaxBytes        = 1 << 20
)

// RSA moduli outside these bounds are skipped: short ones are breakable,
// huge ones would make each verification needlessly expensive.
const (
	minRSABits = 2048
	maxRSABits = 16384
)

// JWKSOptions configures a JWKS verifier. Zero durations and sizes take the
// defaults; negative ones are refused by NewJWKS.
type JWKSOptions struct {
	// URL is the absolute http(s) URL of the JSON Web Key Set. Required.
	URL string
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be the token's aud claim or one of its
	// entries.
	Audience string
	// Leeway tolerates clock skew on exp and nbf (default 30s, as HS256).
	Leeway time.Duration
	// RefreshInterval is the age after which the key set is re-fetched
	// (default 10m). Refresh is lazy: the first verification after the key
	// set turned stale fetches it again; nothing runs in the background.
	RefreshInterval time.Duration
	// MinRefetch is the least time between two fetch attempts (default
	// 30s). A token with an unknown kid, a stale key set or a failed fetch
	// triggers at most one fetch per MinRefetch, so garbage tokens or an
	// outage of the key server cannot make the gateway hammer it.
	MinRefetch time.Duration
	// HTTPClient fetches the key set (default: the default transport with a
	// 10s timeout).
	HTTPClient *http.Client
	// MaxBytes bounds the key set document (default 1 MiB).
	MaxBytes int64
}

// JWKS verifies RS256 and ES256 JWTs with the public keys of a JSON Web Key
// Set fetched from a URL.
//
// Keys are fetched lazily: NewJWKS does no network I/O, so the gateway
// starts while the identity provider is briefly down, and the first token
// fetches the set. Concurrent verifications share one fetch in flight. When
// no key set can be had, Verify fails with an error wrapping
// ErrKeysUnavailable; when a refresh fails, the keys already held stay in
// use. The verifier starts no goroutine and needs no Close.
//
// Keys are picked by the token's kid; a token without kid is accepted when
// the set holds exactly one key usable for its alg. Keys whose use is not
// "sig", whose key_ops lack "verify", whose alg differs from the token's,
// RSA keys under 2048 bits and EC keys off P-256 are never used. Header
// fields naming other keys (jku, jwk, x5u, x5c) are ignored.
type JWKS struct {
	issuer, audience string
	leeway           time.Duration
	refresh          time.Duration
	minRefetch       time.Duration
	// fetch gets a fresh key set; nil for a fixed set.
	fetch func() (*keySet, error)
	now   func() time.Time

	mu        sync.Mutex
	keys      *keySet   // nil until a fetch succeeded
	fetched   time.Time // start of the last successful fetch
	attempted time.Time // start of the last fetch attempt
	lastErr   error     // error of the last attempt, nil after a success
	flight    *flight   // the fetch in progress, or nil
}

// flight is a fetch in progress; done is closed when it ends.
type flight struct{ done chan struct{} }

// NewJWKS returns a verifier for the key set at o.URL. It does not fetch
// the keys yet (see JWKS).
func NewJWKS(o JWKSOptions) (*JWKS, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Opaque != "" {
		return nil, fmt.Errorf("JWKS URL %q: must be an absolute http(s) URL", o.URL)
	}
	if o.Leeway < 0 || o.RefreshInterval < 0 || o.MinRefetch < 0 || o.MaxBytes < 0 {
		return nil, errors.New("JWKS options: durations and sizes must not be negative")
	}
	client := o.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultJWKSFetchTimeout}
	}
	maxBytes := o.MaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultJWKSMaxBytes
	}
	j := newJWKS(o)
	target := u.String()
	j.fetch = func() (*keySet, error) { return fetchKeySet(client, target, maxBytes) }
	return j, nil
}

// newJWKS applies the defaults of o; the caller sets fetch or keys.
func newJWKS(o JWKSOptions) *JWKS {
	def := func(d, v time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return v
	}
	return &JWKS{
		issuer:     o.Issuer,
		audience:   o.Audience,
		leeway:     def(o.Leeway, DefaultJWKSLeeway),
		refresh:    def(o.RefreshInterval, DefaultJWKSRefreshInterval),
		minRefetch: def(o.MinRefetch, DefaultJWKSMinRefetch),
		now:        time.Now,
	}
}

// newStaticJWKS returns a verifier over a fixed, already parsed key set
// that never fetches; the fuzz test uses it.
func newStaticJWKS(ks *keySet, o JWKSOptions) *JWKS {
	j := newJWKS(o)
	j.keys = ks
	return j
}

// Accepts reports whether alg is RS256 or ES256, the algorithms j verifies.
// A nil j accepts nothing.
func (j *JWKS) Accepts(alg string) bool {
	return j != nil && (alg == "RS256" || alg == "ES256")
}

// Verify checks a compact JWS signed with a key of the set and returns its
// principal. Claims are read as HS256 reads them (sub, exp, nbf,
// tenant_id, roles); iss and aud are checked when configured.
func (j *JWKS) Verify(token string) (*Principal, error) {
	t, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	return j.verifyJWS(&t)
}

// verifyJWS is Verify for a parsed token.
func (j *JWKS) verifyJWS(t *jws) (*Principal, error) {
	h := &t.header
	if !j.Accepts(h.Alg) {
		return nil, fmt.Errorf("%w: %q", ErrAlgorithm, h.Alg)
	}
	if h.Crit != nil {
		return nil, fmt.Errorf("%w: critical header extensions are not supported", ErrMalformed)
	}
	sig, err := base64.RawURLEncoding.DecodeString(t.sig)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	keys, err := j.candidates(h.Kid, h.Alg)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte(t.signed))
	if !slices.ContainsFunc(keys, func(k *jwk) bool { return k.verify(h.Alg, digest[:], sig) }) {
		return nil, ErrSignature
	}
	c, err := decodeClaims(t.payload)
	if err != nil {
		return nil, err
	}
	p, err := c.principal(j.now(), j.leeway)
	if err != nil {
		return nil, err
	}
	if err := j.checkIssuerAudience(c); err != nil {
		return nil, err
	}
	return p, nil
}

// candidates returns the keys usable for kid and alg, re-fetching the set
// once (within the MinRefetch bound) when it holds none.
func (j *JWKS) candidates(kid, alg string) ([]*jwk, error) {
	ks, err := j.keySet(false)
	if err != nil {
		return nil, err
	}
	if keys := ks.find(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if ks, err = j.keySet(true); err != nil {
		return nil, err
	}
	if keys := ks.find(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	return nil, fmt.Errorf("%w (kid %q, alg %s)", ErrUnknownKey, kid, alg)
}

// keySet returns the key set, fetching it when there is none yet, when it
// is older than the refresh interval, or when force is set, but never
// starting two fetches within MinRefetch. A caller that has no keys, or
// forces a fetch, waits for a fetch already in flight; one that holds stale
// keys uses them meanwhile.
func (j *JWKS) keySet(force bool) (*keySet, error) {
	j.mu.Lock()
	if j.fetch != nil {
		now := j.now()
		if force || j.keys == nil || now.Sub(j.fetched) >= j.refresh {
			switch f := j.flight; {
			case f != nil:
				if force || j.keys == nil {
					j.mu.Unlock()
					<-f.done
					j.mu.Lock()
				}
			case j.attempted.IsZero() || now.Sub(j.attempted) >= j.minRefetch:
				f := &flight{done: make(chan struct{})}
				j.flight, j.attempted = f, now
				j.mu.Unlock()
				j.run(f, now)
				j.mu.Lock()
			}
		}
	}
	ks, lastErr := j.keys, j.lastErr
	j.mu.Unlock()
	if ks == nil {
		if lastErr == nil {
			lastErr = errors.New("no key set fetched yet")
		}
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, lastErr)
	}
	return ks, nil
}

// run performs the fetch of flight f, started at now, and publishes its
// outcome. The deferred part runs even if the fetch panics, so waiters are
// always released.
func (j *JWKS) run(f *flight, now time.Time) {
	var ks *keySet
	err := errors.New("JWKS fetch aborted")
	defer func() {
		j.mu.Lock()
		if err != nil {
			j.lastErr = err
		} else {
			j.keys, j.fetched, j.lastErr = ks, now, nil
		}
		j.flight = nil
		j.mu.Unlock()
		close(f.done)
	}()
	ks, err = j.fetch()
}

// checkIssuerAudience checks the iss and aud claims against the configured
// values.
func (j *JWKS) checkIssuerAudience(c *claims) error {
	if j.issuer != "" {
		var iss string
		if json.Unmarshal(c.Iss, &iss) != nil || iss != j.issuer {
			return fmt.Errorf("%w: iss is not the configured issuer", ErrClaims)
		}
	}
	if j.audience != "" {
		var auds []string
		var one string
		if json.Unmarshal(c.Aud, &one) == nil {
			auds = []string{one}
		} else if json.Unmarshal(c.Aud, &auds) != nil {
			return fmt.Errorf("%w: aud must be a string or a list of strings", ErrClaims)
		}
		if !slices.Contains(auds, j.audience) {
			return fmt.Errorf("%w: aud does not name the configured audience", ErrClaims)
		}
	}
	return nil
}

// jwsHeader holds the JOSE header fields the verifiers read.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// jws is a compact JWS split into its parts, with its header decoded.
type jws struct {
	token   string // the whole token
	header  jwsHeader
	signed  string // header.payload, the signing input
	payload string // the claims part, base64url
	sig     string // the signature part, base64url
}

// parseJWS bounds the token size before any decoding, splits the compact
// form and decodes the header.
func parseJWS(token string) (jws, error) {
	t := jws{token: token}
	if len(token) > maxTokenBytes {
		return t, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenBytes)
	}
	if strings.Count(token, ".") != 2 {
		return t, fmt.Errorf("%w: want three parts", ErrMalformed)
	}
	first, last := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
	t.signed, t.payload, t.sig = token[:last], token[first+1:last], token[last+1:]
	if err := decodePart(token[:first], &t.header); err != nil {
		return t, err
	}
	return t, nil
}

// jwk is one usable public key of a set.
type jwk struct {
	kid string
	alg string // "" when the set does not restrict it
	rsa *rsa.PublicKey
	ec  *ecdsa.PublicKey
}

// usableFor reports whether k may verify a token signed with alg.
func (k *jwk) usableFor(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch alg {
	case "RS256":
		return k.rsa != nil
	case "ES256":
		return k.ec != nil
	}
	return false
}

// verify checks sig over digest, a SHA-256 hash. ES256 signatures must be
// the 64-byte r||s form of JWS; the ASN.1 form is refused.
func (k *jwk) verify(alg string, digest, sig []byte) bool {
	switch {
	case alg == "RS256" && k.rsa != nil:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest, sig) == nil
	case alg == "ES256" && k.ec != nil:
		if len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, digest, r, s)
	}
	return false
}

// keySet is a parsed key set holding only usable keys.
type keySet struct{ keys []*jwk }

// find returns the keys usable for alg with the given kid or, for a token
// without kid, the only key usable for alg (none when several are).
func (s *keySet) find(kid, alg string) []*jwk {
	var out []*jwk
	for _, k := range s.keys {
		if k.usableFor(alg) && (kid == "" || k.kid == kid) {
			out = append(out, k)
		}
	}
	if kid == "" && len(out) != 1 {
		return nil
	}
	return out
}

// fetchKeySet gets and parses the key set at target.
func fetchKeySet(client *http.Client, target string, maxBytes int64) (*keySet, error) {
	ctx := context.Background()
	if client.Timeout == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultJWKSFetchTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("JWKS fetch: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only: nothing to lose
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("JWKS fetch: server answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("JWKS fetch: %w", err)
	}
	if int64(len(data)) > maxBytes {
		return nil, fmt.Errorf("JWKS fetch: key set larger than %d bytes", maxBytes)
	}
	return parseKeySet(data)
}

// parseKeySet parses a JWK Set document, keeping the usable signature keys.
// Keys that cannot be used are skipped one by one; a set with no usable key
// is an error, so that a broken document never replaces good keys.
func parseKeySet(data []byte) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: invalid document: %w", err)
	}
	ks := &keySet{}
	for _, raw := range doc.Keys {
		if k := parseJWK(raw); k != nil {
			ks.keys = append(ks.keys, k)
		}
	}
	if len(ks.keys) == 0 {
		return nil, fmt.Errorf("JWKS: no usable RS256 or ES256 signature key among %d keys", len(doc.Keys))
	}
	return ks, nil
}

// parseJWK returns the key of one JWK, or nil when it is malformed or not
// usable for RS256 or ES256 signatures.
func parseJWK(raw json.RawMessage) *jwk {
	var r struct {
		Kty    string    `json:"kty"`
		Kid    string    `json:"kid"`
		Use    string    `json:"use"`
		Alg    string    `json:"alg"`
		KeyOps *[]string `json:"key_ops"`
		N      string    `json:"n"`
		E      string    `json:"e"`
		Crv    string    `json:"crv"`
		X      string    `json:"x"`
		Y      string    `json:"y"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return nil
	}
	if r.Use != "" && r.Use != "sig" {
		return nil
	}
	if r.KeyOps != nil && !slices.Contains(*r.KeyOps, "verify") {
		return nil
	}
	k := &jwk{kid: r.Kid, alg: r.Alg}
	switch {
	case r.Kty == "RSA" && (r.Alg == "" || r.Alg == "RS256"):
		k.rsa = parseRSA(r.N, r.E)
	case r.Kty == "EC" && (r.Alg == "" || r.Alg == "ES256") && r.Crv == "P-256":
		k.ec = parseP256(r.X, r.Y)
	}
	if k.rsa == nil && k.ec == nil {
		return nil
	}
	return k
}

// parseRSA builds an RSA public key from base64url n and e, or returns nil
// when they are malformed or the modulus is out of bounds.
func parseRSA(n64, e64 string) *rsa.PublicKey {
	nb, err1 := base64.RawURLEncoding.DecodeString(n64)
	eb, err2 := base64.RawURLEncoding.DecodeString(e64)
	if err1 != nil || err2 != nil || len(eb) == 0 || len(eb) > 4 {
		return nil
	}
	n := new(big.Int).SetBytes(nb)
	if n.BitLen() < minRSABits || n.BitLen() > maxRSABits || n.Bit(0) == 0 {
		return nil
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e%2 == 0 || e > 1<<31-1 {
		return nil
	}
	return &rsa.PublicKey{N: n, E: e}
}

// parseP256 builds a P-256 public key from base64url x and y of 32 bytes
// each, or returns nil when they are malformed or not a point of the curve.
func parseP256(x64, y64 string) *ecdsa.PublicKey {
	x, err1 := base64.RawURLEncoding.DecodeString(x64)
	y, err2 := base64.RawURLEncoding.DecodeString(y64)
	if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
		return nil
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil
	}
	return pub
}
