package edge

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Device tokens are "se1.<payload>.<mac>": base64url JSON {d, i, x} (device
// id, issued and expiry in Unix milliseconds) and an HMAC-SHA256 of the first
// two parts under the server's token secret. They verify without a
// database lookup; revocation is a per-device "refuse tokens issued before"
// time, held in memory and persisted on the device record.
const tokenPrefix = "se1"

type tokenClaims struct {
	Device  string `json:"d"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"x"`
}

type authenticator struct {
	cfg   AuthConfig
	store Store

	mu      sync.RWMutex
	revoked map[string]time.Time // device id -> tokens issued before are refused
}

func newAuthenticator(cfg AuthConfig, store Store) (*authenticator, error) {
	a := &authenticator{cfg: cfg, store: store, revoked: make(map[string]time.Time)}
	devs, err := store.Devices()
	if err != nil {
		return nil, fmt.Errorf("load device revocations: %w", err)
	}
	for _, d := range devs {
		if !d.RevokedBefore.IsZero() {
			a.revoked[d.ID] = d.RevokedBefore
		}
	}
	return a, nil
}

// canIssue reports whether tokens can be signed.
func (a *authenticator) canIssue() bool { return len(a.cfg.TokenSecret) >= 32 }

// issue returns a token for device, valid for the configured lifetime.
func (a *authenticator) issue(device string, now time.Time) string {
	c := tokenClaims{Device: device, Issued: now.UnixMilli(), Expires: now.Add(a.cfg.TokenTTL).UnixMilli()}
	payload, _ := json.Marshal(c)
	head := tokenPrefix + "." + base64.RawURLEncoding.EncodeToString(payload)
	return head + "." + base64.RawURLEncoding.EncodeToString(a.sign(head))
}

func (a *authenticator) sign(head string) []byte {
	m := hmac.New(sha256.New, a.cfg.TokenSecret)
	m.Write([]byte(head))
	return m.Sum(nil)
}

// verify checks a token and returns its device id.
func (a *authenticator) verify(tok string, now time.Time) (string, error) {
	if !a.canIssue() || len(tok) > 512 {
		return "", ErrUnauthorized
	}
	i := strings.LastIndexByte(tok, '.')
	if i < 0 || !strings.HasPrefix(tok, tokenPrefix+".") {
		return "", ErrUnauthorized
	}
	head, sig := tok[:i], tok[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.sign(head)) {
		return "", ErrUnauthorized
	}
	raw, err := base64.RawURLEncoding.DecodeString(head[len(tokenPrefix)+1:])
	if err != nil {
		return "", ErrUnauthorized
	}
	var c tokenClaims
	if err := json.Unmarshal(raw, &c); err != nil || c.Device == "" {
		return "", ErrUnauthorized
	}
	if now.UnixMilli() > c.Expires {
		return "", ErrTokenExpired
	}
	a.mu.RLock()
	rb, ok := a.revoked[c.Device]
	a.mu.RUnlock()
	if ok && c.Issued <= rb.UnixMilli() {
		return "", ErrTokenRevoked
	}
	return c.Device, nil
}

// revoke refuses every token of device issued up to now.
func (a *authenticator) revoke(device string, at time.Time) {
	a.mu.Lock()
	a.revoked[device] = at
	a.mu.Unlock()
}

func (a *authenticator) isAPIKey(k string) bool {
	if k == "" {
		return false
	}
	ok := 0
	for _, key := range a.cfg.APIKeys {
		ok |= subtle.ConstantTimeCompare([]byte(k), []byte(key))
	}
	return ok == 1
}

// credentials are what a WebSocket upgrade request carries, from headers
// (firmware) or query parameters (browser pages cannot set headers).
type credentials struct {
	Bearer   string
	APIKey   string
	DeviceID string
	ClientID string
	Protocol int
}

func requestCredentials(r *http.Request) credentials {
	q := r.URL.Query()
	pick := func(header, query string) string {
		if v := strings.TrimSpace(r.Header.Get(header)); v != "" {
			return v
		}
		return strings.TrimSpace(q.Get(query))
	}
	c := credentials{
		APIKey:   pick("X-Api-Key", "x-api-key"),
		DeviceID: proto.NormalizeDeviceID(pick("Device-Id", "device-id")),
		ClientID: pick("Client-Id", "client-id"),
	}
	authz := pick("Authorization", "authorization")
	if len(authz) > 7 && strings.EqualFold(authz[:7], "bearer ") {
		c.Bearer = strings.TrimSpace(authz[7:])
	} else if authz != "" {
		c.Bearer = authz
	}
	switch strings.TrimSpace(r.Header.Get("Protocol-Version")) {
	case "2":
		c.Protocol = 2
	case "3":
		c.Protocol = 3
	case "1":
		c.Protocol = 1
	}
	return c
}

// check authenticates an upgrade request. With authentication off every
// request passes. Otherwise a configured API key (as x-api-key or Bearer)
// or a valid token for the same device is needed.
func (a *authenticator) check(c credentials, now time.Time) error {
	if !a.cfg.Required {
		return nil
	}
	if a.isAPIKey(c.APIKey) || a.isAPIKey(c.Bearer) {
		return nil
	}
	if c.Bearer == "" {
		return ErrUnauthorized
	}
	dev, err := a.verify(c.Bearer, now)
	if err != nil {
		return err
	}
	if c.DeviceID != "" && c.DeviceID != dev {
		return fmt.Errorf("token of %s presented by %s: %w", dev, c.DeviceID, ErrUnauthorized)
	}
	return nil
}
