package edge

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// Activation: the OTA answer offers a code and a challenge; the device
// proves it knows the firmware secret (Stikadoo: SHA-256 of secret then
// challenge) or its per-device key (upstream: HMAC-SHA256 of the
// challenge), and, when approval is required, waits with 202 until an
// operator approves it.

var (
	errActivationProof   = errors.New("activation proof does not match")
	errActivationUnknown = errors.New("device has no activation in progress")
)

// offerActivation gives d a code (kept until activation) and a fresh
// challenge for this boot.
func (s *Server) offerActivation(d *proto.Device, now time.Time) {
	if d.Activation.Code == "" {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		d.Activation.Code = fmt.Sprintf("%06d", n.Int64())
	}
	if !d.Activation.Verified || d.Activation.Challenge == "" {
		d.Activation.Challenge = randomHex(16)
	}
}

type activateRequest struct {
	Algorithm    string `json:"algorithm"`
	SerialNumber string `json:"serial_number"`
	Challenge    string `json:"challenge"`
	Hash         string `json:"hash"`
	HMAC         string `json:"hmac"`
}

// verifyProof checks the device's answer to its challenge.
func (s *Server) verifyProof(req activateRequest, challenge string) error {
	if req.Challenge == "" || subtle.ConstantTimeCompare([]byte(req.Challenge), []byte(challenge)) != 1 {
		return fmt.Errorf("stale or unknown challenge: %w", errActivationProof)
	}
	var want []byte
	var got string
	switch strings.ToLower(req.Algorithm) {
	case "sha256":
		if s.cfg.Activation.Secret == "" {
			return fmt.Errorf("algorithm sha256 needs activation.secret: %w", errActivationProof)
		}
		sum := sha256.Sum256([]byte(s.cfg.Activation.Secret + challenge))
		want, got = sum[:], req.Hash
	case "hmac-sha256":
		keyHex, ok := s.cfg.Activation.DeviceKeys[req.SerialNumber]
		if !ok {
			return fmt.Errorf("no key for serial %q: %w", req.SerialNumber, errActivationProof)
		}
		key, err := hex.DecodeString(keyHex)
		if err != nil {
			return fmt.Errorf("key for serial %q is not hex: %w", req.SerialNumber, errActivationProof)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(challenge))
		want, got = m.Sum(nil), req.HMAC
	default:
		return fmt.Errorf("algorithm %q: %w", req.Algorithm, errActivationProof)
	}
	g, err := hex.DecodeString(strings.TrimSpace(got))
	if err != nil || !hmac.Equal(g, want) {
		return errActivationProof
	}
	return nil
}

// handleActivate verifies an activation proof: 200 when the device is
// activated, 202 while it waits for approval, 403 for a wrong proof.
func (s *Server) handleActivate(w http.ResponseWriter, r *http.Request) {
	setCORS(w)
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	if !s.cfg.Activation.Enabled {
		writeJSON(w, http.StatusOK, map[string]string{"status": "activation is off"})
		return
	}
	id := proto.NormalizeDeviceID(r.Header.Get("Device-Id"))
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	var req activateRequest
	if err := json.Unmarshal(trailingComma.ReplaceAll(body, []byte("$1")), &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "activation body is not JSON"})
		return
	}
	if id == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Device-Id header missing"})
		return
	}
	now := time.Now()
	var proofErr error
	dev, err := s.deps.Store.UpdateDevice(id, func(d *proto.Device) error {
		if d.FirstSeen.IsZero() {
			return errActivationUnknown
		}
		if d.Activation.Activated() {
			return nil
		}
		if !d.Activation.Verified {
			if proofErr = s.verifyProof(req, d.Activation.Challenge); proofErr != nil {
				d.Activation.LastError = proofErr.Error()
				return nil
			}
			d.Activation.Verified = true
			d.Activation.LastError = ""
		}
		if d.Activation.Approved || !s.cfg.Activation.RequireApproval {
			d.Activation.ActivatedAt = now
		}
		return nil
	})
	switch {
	case errors.Is(err, errActivationUnknown) || errors.Is(err, proto.ErrNotFound):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown device: run the version check first"})
	case err != nil:
		s.log.Error("activation", "device", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not record activation"})
	case proofErr != nil:
		s.log.Warn("activation refused", "device", id, "err", proofErr)
		writeJSON(w, http.StatusForbidden, map[string]string{"error": proofErr.Error()})
	case dev.Activation.Activated():
		s.log.Info("device activated", "device", id)
		writeJSON(w, http.StatusOK, map[string]string{"status": "activated"})
	default:
		s.log.Info("device waits for approval", "device", id, "code", dev.Activation.Code)
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "waiting for approval", "code": dev.Activation.Code})
	}
}

// ApproveDevice approves a device's activation; a device that already
// proved itself is activated at once.
func (s *Server) ApproveDevice(id string) (proto.Device, error) {
	id = proto.NormalizeDeviceID(id)
	return s.deps.Store.UpdateDevice(id, func(d *proto.Device) error {
		if d.FirstSeen.IsZero() {
			return fmt.Errorf("device %s: %w", id, proto.ErrNotFound)
		}
		d.Approve(time.Now())
		return nil
	})
}

// RevokeDevice refuses every token the device holds, closes its sessions,
// and blocks it: it gets no new token until an operator approves it again.
func (s *Server) RevokeDevice(id string) (proto.Device, error) {
	id = proto.NormalizeDeviceID(id)
	now := time.Now()
	dev, err := s.deps.Store.UpdateDevice(id, func(d *proto.Device) error {
		if d.FirstSeen.IsZero() {
			return fmt.Errorf("device %s: %w", id, proto.ErrNotFound)
		}
		d.Revoke(now)
		return nil
	})
	if err == nil {
		s.auth.revoke(id, now)
		s.closeDevice(id, proto.ClosePolicy, "device revoked")
	}
	return dev, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
