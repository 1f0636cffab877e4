package whispertest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// Limits that keep a damaged source file from asking for absurd memory.
const (
	maxSourceMels   = 512
	maxSourceTokens = 1 << 20
	maxTokenBytes   = 1 << 10
)

// source is what WriteModel copies from a real model file.
type source struct {
	nMel    int
	filters []float32 // nMel rows of nFFTBins
	vocab   [][]byte
}

// readSource reads the mel filters and vocabulary of the ggml whisper
// model at path; the weights after them are not read.
func readSource(path string) (*source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open source model: %w", err)
	}
	defer f.Close()
	s, err := parseSource(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("read source model %q: %w", path, err)
	}
	return s, nil
}

// parseSource reads a model's header, mel filters and vocabulary from r.
func parseSource(r io.Reader) (*source, error) {
	var head struct {
		Magic   uint32
		HParams [11]int32
		NMel    int32
		NFFT    int32
	}
	if err := binary.Read(r, binary.LittleEndian, &head); err != nil {
		return nil, fmt.Errorf("header: %w: %w", err, ErrSource)
	}
	if head.Magic != fileMagic {
		return nil, fmt.Errorf("magic %#x, want %#x: %w", head.Magic, fileMagic, ErrSource)
	}
	if head.NMel <= 0 || head.NMel > maxSourceMels || head.NFFT != nFFTBins {
		return nil, fmt.Errorf("mel filters %d x %d, want n x %d: %w", head.NMel, head.NFFT, nFFTBins, ErrSource)
	}
	s := &source{nMel: int(head.NMel), filters: make([]float32, int(head.NMel)*nFFTBins)}
	if err := binary.Read(r, binary.LittleEndian, s.filters); err != nil {
		return nil, fmt.Errorf("mel filters: %w: %w", err, ErrSource)
	}
	for _, v := range s.filters {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("mel filters hold %v: %w", v, ErrSource)
		}
	}
	var n int32
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("vocabulary size: %w: %w", err, ErrSource)
	}
	if n <= 0 || n > maxSourceTokens {
		return nil, fmt.Errorf("vocabulary of %d tokens: %w", n, ErrSource)
	}
	s.vocab = make([][]byte, n)
	for i := range s.vocab {
		var size uint32
		if err := binary.Read(r, binary.LittleEndian, &size); err != nil {
			return nil, fmt.Errorf("token %d: %w: %w", i, err, ErrSource)
		}
		if size > maxTokenBytes {
			return nil, fmt.Errorf("token %d is %d bytes long: %w", i, size, ErrSource)
		}
		s.vocab[i] = make([]byte, size)
		if _, err := io.ReadFull(r, s.vocab[i]); err != nil {
			return nil, fmt.Errorf("token %d: %w: %w", i, err, ErrSource)
		}
	}
	return s, nil
}
