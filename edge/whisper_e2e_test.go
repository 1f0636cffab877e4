//go:build whispercpp

package edge_test

import (
	"os"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/stikadoo/stikadoo-edge/edge"
	"github.com/stikadoo/stikadoo-edge/edge/edgetest"
	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp/whispertest"
)

// TestWhisperThroughTheGateway runs the whole speech path with a model
// generated for the test: device audio (Opus and base64 PCM) is decoded,
// queued, trimmed by the Silero VAD, transcribed by whisper.cpp and sent
// back as stt. Synthetic weights say nonsense, so only the structure is
// checked: a transcript reached the device and the turn was recorded.
func TestWhisperThroughTheGateway(t *testing.T) {
	model := whispertest.ModelFile(t, whispertest.ModelOptions{TextCtx: 128})
	cfg := whispercpp.Config{ModelPath: model, Threads: 1, TemperatureInc: -1}
	if cfg.VADModelPath = whispertest.Shared("models/ggml-silero-v6.2.0.bin"); cfg.VADModelPath == "" {
		t.Fatal("models/ggml-silero-v6.2.0.bin of the shared test data not found")
	}
	eng, err := whispercpp.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// The Silero model also ends the upstream firmware's auto-mode
	// utterances; count its looks.
	vad, err := whispercpp.NewVAD(cfg.VADModelPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vad.Close() })
	var looks atomic.Int64
	find := func(s []float32) ([]stt.Segment, error) {
		looks.Add(1)
		segs, err := vad.Segments(s)
		out := make([]stt.Segment, len(segs))
		for i, g := range segs {
			out[i] = stt.Segment{Start: g.Start, End: g.End}
		}
		return out, err
	}
	ts := startServer(t, edge.Config{}, edge.Deps{Transcriber: eng, Images: &edgetest.ImageGenerator{}, SpeechFinder: find})

	// Real speech, so that the VAD hears it: the first 3 s of jfk.wav.
	wav := whispertest.Shared("audio/jfk.wav")
	if wav == "" {
		t.Fatal("audio/jfk.wav of the shared test data not found")
	}
	f, err := os.Open(wav)
	if err != nil {
		t.Fatal(err)
	}
	speech, _, err := stt.ReadWAV(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	speech = speech[:3*stt.SampleRate]

	for _, dialect := range []string{proto.DialectStikadoo, proto.DialectOpusV1} {
		t.Run(dialect, func(t *testing.T) {
			dev := connect(t, ts, &edgetest.Device{Dialect: dialect})
			before := looks.Load()
			res, err := dev.RunTurn(turnCtx(t), speech)
			if err != nil {
				t.Fatal(err)
			}
			// Push to talk needs no end-pointer; the upstream firmware's
			// auto mode is ended by the voice activity model.
			if n := looks.Load() - before; dialect == proto.DialectStikadoo && n != 0 {
				t.Errorf("the end-pointer looked %d times at a push-to-talk utterance", n)
			} else if dialect != proto.DialectStikadoo && n < 5 {
				t.Errorf("the voice activity model looked %d times at a 3 s auto-mode utterance, want one per 300 ms", n)
			}
			_, turns := waitTurns(t, ts, dev.SessionID(), 1)
			tr := turns[0]
			switch tr.Outcome {
			case proto.OutcomeOK:
				if res.STT == "" || res.STT != tr.Transcript || !utf8.ValidString(res.STT) || !res.ImageDelivered {
					t.Errorf("device saw %q, recorded %q", res.STT, tr.Transcript)
				}
			case proto.OutcomeNoSpeech:
				// A synthetic model may decode nothing at all; the device
				// must then have been told so in words.
				if len(res.Alerts) != 1 {
					t.Errorf("no speech without an alert: %+v", res)
				}
			default:
				t.Fatalf("turn %+v", tr)
			}
			if tr.TimingsMs["stt"] <= 0 {
				t.Errorf("no stt timing recorded: %v", tr.TimingsMs)
			}
		})
	}
	if st := eng.Stats(); st.Served != 2 {
		t.Errorf("whisper ran %d times, want 2: %+v", st.Served, st)
	}
}
