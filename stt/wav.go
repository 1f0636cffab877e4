package stt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// MaxWAVDuration is the longest audio ReadWAV accepts.
const MaxWAVDuration = 10 * time.Minute

// Limits on WAV headers. They keep a hostile header from making ReadWAV
// allocate or loop on sizes it names.
const (
	minWAVRate   = 1000   // Hz
	maxWAVRate   = 384000 // Hz
	maxFmtChunk  = 1024   // bytes; a real fmt chunk holds 16, 18 or 40
	wavReadBlock = 32 << 10
)

// WAV format tags.
const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatExtensible = 0xFFFE
)

// wavSubformatTail is bytes 2..15 of the KSDATAFORMAT_SUBTYPE GUIDs that
// WAVE_FORMAT_EXTENSIBLE uses; bytes 0..1 hold the plain format tag.
var wavSubformatTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is what ReadWAV needs from a fmt chunk.
type wavFormat struct {
	tag      uint16 // wavFormatPCM or wavFormatFloat
	channels int
	rate     int
	bits     int
	block    int // bytes per frame
}

// ReadWAV reads a RIFF/WAVE file and returns its audio as mono float32
// samples in [-1, 1] at the file's own sample rate (see Resample). It reads
// 16-bit PCM and 32-bit IEEE float, plain or wrapped in
// WAVE_FORMAT_EXTENSIBLE, mono or stereo (stereo is averaged to mono). It
// skips chunks it does not know, and reads a data chunk whose size is 0 or
// 0xFFFFFFFF (a WAV written as a stream) to the end of r.
//
// Errors wrap ErrNotWAV, ErrWAVFormat (also for a truncated file) or
// ErrTooLong (more than MaxWAVDuration of audio). ReadWAV allocates in
// proportion to the audio actually read, never to sizes a header claims.
func ReadWAV(r io.Reader) (samples []float32, sampleRate int, err error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("read WAV header: %w: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("read WAV header: %w: magic %q %q", ErrNotWAV, hdr[0:4], hdr[8:12])
	}
	var f *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, 0, fmt.Errorf("read WAV: %w: no data chunk", ErrWAVFormat)
			}
			return nil, 0, fmt.Errorf("read WAV chunk header: %w: %w", ErrWAVFormat, err)
		}
		id := string(ch[0:4])
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if f != nil {
				return nil, 0, fmt.Errorf("read WAV: %w: two fmt chunks", ErrWAVFormat)
			}
			if f, err = readWAVFormat(r, size); err != nil {
				return nil, 0, err
			}
		case "data":
			if f == nil {
				return nil, 0, fmt.Errorf("read WAV: %w: data chunk before fmt chunk", ErrWAVFormat)
			}
			samples, err := readWAVData(r, f, size)
			if err != nil {
				return nil, 0, err
			}
			return samples, f.rate, nil
		default:
			// Unknown chunks (LIST, fact, cue, JUNK...) are skipped without
			// buffering; RIFF pads odd-sized chunks to an even length.
			skip := int64(size) + int64(size&1)
			if n, err := io.CopyN(io.Discard, r, skip); err != nil {
				return nil, 0, fmt.Errorf("skip WAV chunk %q (%d of %d bytes): %w: %w", id, n, skip, ErrWAVFormat, err)
			}
		}
	}
}

// readWAVFormat reads and checks a fmt chunk of size bytes.
func readWAVFormat(r io.Reader, size uint32) (*wavFormat, error) {
	if size < 16 || size > maxFmtChunk {
		return nil, fmt.Errorf("read WAV fmt chunk: %w: size %d", ErrWAVFormat, size)
	}
	buf := make([]byte, size+size&1)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("read WAV fmt chunk: %w: %w", ErrWAVFormat, err)
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:      le.Uint16(buf[0:2]),
		channels: int(le.Uint16(buf[2:4])),
		rate:     int(le.Uint32(buf[4:8])),
		block:    int(le.Uint16(buf[12:14])),
		bits:     int(le.Uint16(buf[14:16])),
	}
	if f.tag == wavFormatExtensible {
		// cbSize(2) validBits(2) channelMask(4) subformat GUID(16).
		if size < 40 || le.Uint16(buf[16:18]) < 22 {
			return nil, fmt.Errorf("read WAV fmt chunk: %w: short WAVE_FORMAT_EXTENSIBLE", ErrWAVFormat)
		}
		if [14]byte(buf[26:40]) != wavSubformatTail {
			return nil, fmt.Errorf("read WAV fmt chunk: %w: unknown WAVE_FORMAT_EXTENSIBLE subformat % x", ErrWAVFormat, buf[24:40])
		}
		f.tag = le.Uint16(buf[24:26])
	}
	switch {
	case f.tag == wavFormatPCM && f.bits == 16:
	case f.tag == wavFormatFloat && f.bits == 32:
	case f.tag == wavFormatPCM || f.tag == wavFormatFloat:
		return nil, fmt.Errorf("read WAV fmt chunk: %w: %d-bit samples of format %d (want 16-bit PCM or 32-bit float)", ErrWAVFormat, f.bits, f.tag)
	default:
		return nil, fmt.Errorf("read WAV fmt chunk: %w: format tag %#x (want PCM or IEEE float)", ErrWAVFormat, f.tag)
	}
	if f.channels != 1 && f.channels != 2 {
		return nil, fmt.Errorf("read WAV fmt chunk: %w: %d channels (want mono or stereo)", ErrWAVFormat, f.channels)
	}
	if f.rate < minWAVRate || f.rate > maxWAVRate {
		return nil, fmt.Errorf("read WAV fmt chunk: %w: sample rate %d Hz", ErrWAVFormat, f.rate)
	}
	if want := f.channels * f.bits / 8; f.block != want {
		return nil, fmt.Errorf("read WAV fmt chunk: %w: block align %d, want %d", ErrWAVFormat, f.block, want)
	}
	return f, nil
}

// readWAVData reads a data chunk of size bytes (to EOF when size is 0 or
// 0xFFFFFFFF) and converts it to mono float32.
func readWAVData(r io.Reader, f *wavFormat, size uint32) ([]float32, error) {
	maxFrames := int64(MaxWAVDuration/time.Second) * int64(f.rate)
	streamed := size == 0 || size == math.MaxUint32
	if !streamed {
		if frames := int64(size) / int64(f.block); frames > maxFrames {
			return nil, fmt.Errorf("read WAV data: %w: %.1f s of audio (limit %v)", ErrTooLong, float64(frames)/float64(f.rate), MaxWAVDuration)
		}
		r = io.LimitReader(r, int64(size))
	}
	buf := make([]byte, wavReadBlock-wavReadBlock%f.block)
	var out []float32
	var frames int64
	for {
		n, err := io.ReadFull(r, buf)
		n -= n % f.block // a trailing partial frame is dropped
		frames += int64(n / f.block)
		if frames > maxFrames {
			return nil, fmt.Errorf("read WAV data: %w: more than %v of audio", ErrTooLong, MaxWAVDuration)
		}
		out = appendWAVFrames(out, buf[:n], f)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		return nil, fmt.Errorf("read WAV data: %w", err)
	}
	if !streamed && frames < int64(size)/int64(f.block) {
		return nil, fmt.Errorf("read WAV data: %w: truncated: %d of %d bytes: %w", ErrWAVFormat, frames*int64(f.block), size, io.ErrUnexpectedEOF)
	}
	return out, nil
}

// appendWAVFrames converts whole frames in b to mono float32.
func appendWAVFrames(dst []float32, b []byte, f *wavFormat) []float32 {
	le := binary.LittleEndian
	switch {
	case f.tag == wavFormatPCM && f.channels == 1:
		for i := 0; i+2 <= len(b); i += 2 {
			dst = append(dst, float32(int16(le.Uint16(b[i:])))/32768)
		}
	case f.tag == wavFormatPCM:
		for i := 0; i+4 <= len(b); i += 4 {
			l := float32(int16(le.Uint16(b[i:])))
			r := float32(int16(le.Uint16(b[i+2:])))
			dst = append(dst, (l+r)/65536)
		}
	case f.channels == 1:
		for i := 0; i+4 <= len(b); i += 4 {
			dst = append(dst, cleanFloat(math.Float32frombits(le.Uint32(b[i:]))))
		}
	default:
		for i := 0; i+8 <= len(b); i += 8 {
			l := cleanFloat(math.Float32frombits(le.Uint32(b[i:])))
			r := cleanFloat(math.Float32frombits(le.Uint32(b[i+4:])))
			dst = append(dst, (l+r)/2)
		}
	}
	return dst
}

// cleanFloat clamps a float sample to [-1, 1] and turns NaN into 0, so
// that a damaged float WAV cannot poison later arithmetic.
func cleanFloat(s float32) float32 {
	switch {
	case s > 1:
		return 1
	case s < -1:
		return -1
	case s != s: // NaN
		return 0
	}
	return s
}

// WriteWAV writes samples as a 16-bit PCM mono WAV file at sampleRate Hz.
// Samples outside [-1, 1] are clamped.
func WriteWAV(w io.Writer, samples []float32, sampleRate int) error {
	if sampleRate <= 0 || sampleRate > math.MaxInt32 {
		return fmt.Errorf("write WAV: sample rate %d Hz out of range", sampleRate)
	}
	dataSize := int64(len(samples)) * 2
	if dataSize > math.MaxUint32-36 {
		return fmt.Errorf("write WAV: %d samples do not fit in a WAV file", len(samples))
	}
	le := binary.LittleEndian
	var h [44]byte
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], uint32(36+dataSize))
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavFormatPCM)
	le.PutUint16(h[22:], 1)
	le.PutUint32(h[24:], uint32(sampleRate))
	le.PutUint32(h[28:], uint32(sampleRate)*2)
	le.PutUint16(h[32:], 2)
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], uint32(dataSize))
	if _, err := w.Write(h[:]); err != nil {
		return fmt.Errorf("write WAV header: %w", err)
	}
	buf := make([]byte, 0, min(wavReadBlock, dataSize))
	for len(samples) > 0 {
		n := min(len(samples), cap(buf)/2)
		buf = buf[:0]
		for _, s := range samples[:n] {
			buf = le.AppendUint16(buf, uint16(floatToInt16(s)))
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write WAV data: %w", err)
		}
		samples = samples[n:]
	}
	return nil
}
