//go:build !whispercpp

package whispercpp_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

func TestStubEngine(t *testing.T) {
	e, err := whispercpp.New(whispercpp.Config{ModelPath: "model.bin"}, nil)
	if !errors.Is(err, errors.ErrUnsupported) || e != nil {
		t.Errorf("New = %v, %v; want nil and an error wrapping errors.ErrUnsupported", e, err)
	}
	var stub *whispercpp.Engine
	_, err = stub.Transcribe(context.Background(), make([]float32, 16000))
	if !errors.Is(err, errors.ErrUnsupported) || !errors.Is(err, proto.ErrUnavailable) {
		t.Errorf("Transcribe = %v, want errors.ErrUnsupported and proto.ErrUnavailable", err)
	}
	if _, err := whispercpp.NewVAD("silero.bin"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewVAD = %v, want errors.ErrUnsupported", err)
	}
	var vad *whispercpp.VAD
	if _, err := vad.Segments(make([]float32, 16000)); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Segments = %v, want errors.ErrUnsupported", err)
	}
}
