//go:build whispercpp

package whispercpp_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
	"github.com/stikadoo/stikadoo-edge/stt/whispercpp"
)

// threadsEnv sets the benchmarks' whisper threads (default: every CPU).
const threadsEnv = "STIKADOO_WHISPER_THREADS"

// benchThreads is the number of threads the benchmarks run whisper with.
func benchThreads(b *testing.B) int {
	s := os.Getenv(threadsEnv)
	if s == "" {
		return runtime.NumCPU()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q, want a number of threads", threadsEnv, s)
	}
	return n
}

// BenchmarkEndOfUtterance measures the time from the end of an utterance
// to its text: Transcribe on 3 s and 11 s of speech (the start of jfk.wav
// and all of it) with whisper.cpp's weightless tiny.en and base.en test
// models, which cost what the real models cost. Each utterance runs with
// the encoder window sized to it ("auto") and with the full 30-second
// window ("full"); the auto runs also report their time as a percentage
// of the full-window run of the same model and utterance (pct-of-full).
//
//	go test -tags whispercpp -run '^$' -bench EndOfUtterance ./stt/whispercpp
func BenchmarkEndOfUtterance(b *testing.B) {
	jfk := readJFK(b)
	utterances := []struct {
		name    string
		samples []float32
	}{
		{"3s", jfk[:3*whispercpp.SampleRate]},
		{"11s", jfk},
	}
	models := []struct{ name, rel string }{
		{"tiny.en", tinyEnModel},
		{"base.en", baseEnModel},
	}
	threads := benchThreads(b)
	for _, m := range models {
		path := shared(b, m.rel)
		engines := map[string]*whispercpp.Engine{}
		for _, mode := range []string{whispercpp.AudioCtxFull, whispercpp.AudioCtxAuto} {
			e, err := whispercpp.New(whispercpp.Config{ModelPath: path, Threads: threads, AudioCtx: mode}, nil)
			if err != nil {
				b.Fatalf("New(%s, %s): %v", m.name, mode, err)
			}
			defer e.Close()
			engines[mode] = e
		}
		for _, u := range utterances {
			var fullMs float64
			// Full first, so that the auto run can report its share of it.
			for _, mode := range []string{whispercpp.AudioCtxFull, whispercpp.AudioCtxAuto} {
				b.Run(m.name+"/"+u.name+"/"+mode, func(b *testing.B) {
					e := engines[mode]
					var r whispercpp.Result
					var err error
					start := time.Now()
					for b.Loop() {
						r, err = e.TranscribeResult(context.Background(), u.samples)
						// Weightless models hear nothing, which costs the same.
						if err != nil && !errors.Is(err, proto.ErrNoSpeech) {
							b.Fatalf("TranscribeResult: %v", err)
						}
					}
					ms := float64(time.Since(start)) / float64(b.N) / float64(time.Millisecond)
					b.ReportMetric(ms, "ms/op")
					b.ReportMetric(float64(r.AudioCtx), "audio_ctx")
					if mode == whispercpp.AudioCtxFull {
						fullMs = ms
					} else if fullMs > 0 {
						b.ReportMetric(100*ms/fullMs, "pct-of-full")
					}
				})
			}
		}
	}
}

// BenchmarkVAD measures the Silero VAD (one thread) on 3 s and 11 s of
// speech, the cost it adds before transcription.
func BenchmarkVAD(b *testing.B) {
	jfk := readJFK(b)
	v, err := whispercpp.NewVAD(shared(b, sileroModel))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	for _, u := range []struct {
		name    string
		samples []float32
	}{{"3s", jfk[:3*whispercpp.SampleRate]}, {"11s", jfk}} {
		b.Run(u.name, func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				if _, err := v.Segments(u.samples); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start))/float64(b.N)/float64(time.Millisecond), "ms/op")
		})
	}
}
