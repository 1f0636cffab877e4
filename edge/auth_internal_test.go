package edge

import (
	"errors"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

type noDevices struct{ Store }

func (noDevices) Devices() ([]proto.Device, error) { return nil, nil }

func TestTokenLifetime(t *testing.T) {
	a, err := newAuthenticator(AuthConfig{Required: true, TokenSecret: make([]byte, 32), TokenTTL: time.Hour}, noDevices{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tok := a.issue("aa:bb", now)
	if dev, err := a.verify(tok, now.Add(59*time.Minute)); err != nil || dev != "aa:bb" {
		t.Fatalf("fresh token: %q, %v", dev, err)
	}
	if _, err := a.verify(tok, now.Add(61*time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	a.revoke("aa:bb", now.Add(time.Second))
	if _, err := a.verify(tok, now.Add(2*time.Second)); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("revoked token: %v", err)
	}
	if _, err := a.verify(a.issue("aa:bb", now.Add(3*time.Second)), now.Add(4*time.Second)); err != nil {
		t.Errorf("token issued after revocation: %v", err)
	}
	other, _ := newAuthenticator(AuthConfig{Required: true, TokenSecret: []byte("another-secret-of-32-bytes-at-le"), TokenTTL: time.Hour}, noDevices{})
	if _, err := other.verify(tok, now); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("token under another secret: %v", err)
	}
}
