package whispertest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
)

// FType is how a model stores its large weight matrices (whisper.cpp's
// ftype hyperparameter).
type FType int32

const (
	// F16: 16-bit floats, as whisper.cpp's converter writes by default.
	F16 FType = 1
	// Q8_0: 8-bit blocks of 32 values sharing a 16-bit scale, as
	// whisper.cpp's quantize tool writes for q8_0.
	Q8_0 FType = 7
)

// String is the name whisper.cpp gives the type.
func (f FType) String() string {
	switch f {
	case F16:
		return "f16"
	case Q8_0:
		return "q8_0"
	}
	return fmt.Sprintf("FType(%d)", int32(f))
}

// Vocabulary sizes whisper.cpp accepts for the two families of models
// that share the 80-band mel front end.
const (
	VocabEnglish      = 51864 // English-only models (tiny.en, base.en, ...)
	VocabMultilingual = 51865 // multilingual models (tiny, base, ...)
)

// fileMagic opens every ggml whisper model ("ggml" read little-endian).
const fileMagic = 0x67676d6c

// Vocabulary tokens stored in the file. whisper.cpp adds the special
// tokens (end of text, languages, timestamps, ...) up to n_vocab itself.
const storedTokens = 50257

// ggml tensor types as stored in the file.
const (
	typeF32  = 0
	typeF16  = 1
	typeQ8_0 = 8
)

// qk8 is the number of values in one q8_0 block.
const qk8 = 32

// qntVersion and qntFactor: quantized files store ftype as
// qntVersion*qntFactor + ftype.
const (
	qntVersion = 2
	qntFactor  = 1000
)

// ModelOptions describe a synthetic model. Every field has a useful zero
// value: the zero ModelOptions is a one-layer English-only model of width
// 64 with two attention heads, full-size context windows, 80 mel bands
// and f16 weights from seed 0.
type ModelOptions struct {
	// AudioCtx is the encoder's number of positions (n_audio_ctx). Zero:
	// 1500, the 30-second window of every released model.
	AudioCtx int
	// AudioState is the encoder's width (n_audio_state). Zero: 64.
	AudioState int
	// AudioHead is the encoder's number of attention heads. Zero: 2.
	AudioHead int
	// AudioLayer is the encoder's number of blocks. Zero: 1.
	AudioLayer int
	// TextCtx is the decoder's number of positions (n_text_ctx). Zero: 448.
	TextCtx int
	// TextState is the decoder's width; whisper.cpp requires it to equal
	// AudioState. Zero: AudioState.
	TextState int
	// TextHead is the decoder's number of attention heads. Zero: AudioHead.
	TextHead int
	// TextLayer is the decoder's number of blocks. Zero: AudioLayer.
	TextLayer int
	// Mels is the number of mel bands. Zero: 80.
	Mels int
	// Multilingual makes a multilingual model (51865 tokens, language
	// detection and SetLanguage work) instead of an English-only one
	// (51864 tokens).
	Multilingual bool
	// FType is how the large matrices are stored. Zero: F16. Convolution
	// weights stay f16 and vectors f32, as in whisper.cpp's own files.
	FType FType
	// Seed picks the random weights; the same options give the same bytes.
	Seed uint64
	// Scale is the standard deviation of the random weights. Zero: 0.05.
	Scale float64
	// Source names a ggml whisper model file (weights or not) whose mel
	// filters and vocabulary are copied. Empty: WriteModel computes them
	// (see the package documentation); ModelFile looks for whisper.cpp's
	// test models first.
	Source string
}

// withDefaults fills the zero fields and checks the result.
func (o ModelOptions) withDefaults() (ModelOptions, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.AudioCtx, 1500)
	def(&o.AudioState, 64)
	def(&o.AudioHead, 2)
	def(&o.AudioLayer, 1)
	def(&o.TextCtx, 448)
	def(&o.TextState, o.AudioState)
	def(&o.TextHead, o.AudioHead)
	def(&o.TextLayer, o.AudioLayer)
	def(&o.Mels, 80)
	if o.FType == 0 {
		o.FType = F16
	}
	if o.Scale == 0 {
		o.Scale = 0.05
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"AudioCtx", o.AudioCtx}, {"AudioState", o.AudioState}, {"AudioHead", o.AudioHead},
		{"AudioLayer", o.AudioLayer}, {"TextCtx", o.TextCtx}, {"TextState", o.TextState},
		{"TextHead", o.TextHead}, {"TextLayer", o.TextLayer}, {"Mels", o.Mels},
	} {
		if f.v < 0 {
			return o, fmt.Errorf("model options: %s = %d, want a positive number: %w", f.name, f.v, ErrOptions)
		}
	}
	switch {
	case o.TextState != o.AudioState:
		return o, fmt.Errorf("model options: TextState %d differs from AudioState %d: %w", o.TextState, o.AudioState, ErrOptions)
	case o.AudioState%o.AudioHead != 0:
		return o, fmt.Errorf("model options: AudioState %d is not a multiple of AudioHead %d: %w", o.AudioState, o.AudioHead, ErrOptions)
	case o.TextState%o.TextHead != 0:
		return o, fmt.Errorf("model options: TextState %d is not a multiple of TextHead %d: %w", o.TextState, o.TextHead, ErrOptions)
	case o.FType != F16 && o.FType != Q8_0:
		return o, fmt.Errorf("model options: FType %v, want F16 or Q8_0: %w", o.FType, ErrOptions)
	case o.FType == Q8_0 && o.AudioState%qk8 != 0:
		return o, fmt.Errorf("model options: AudioState %d is not a multiple of %d, as q8_0 rows must be: %w", o.AudioState, qk8, ErrOptions)
	case math.IsNaN(o.Scale) || math.IsInf(o.Scale, 0) || o.Scale < 0:
		return o, fmt.Errorf("model options: Scale %v, want a positive number: %w", o.Scale, ErrOptions)
	}
	return o, nil
}

// vocabSize is n_vocab for the options.
func (o ModelOptions) vocabSize() int {
	if o.Multilingual {
		return VocabMultilingual
	}
	return VocabEnglish
}

// fill says how a tensor's values are made.
type fill int

const (
	fillRandom   fill = iota // normal, standard deviation Scale
	fillOnes                 // layer norm gains
	fillZeros                // biases
	fillSinusoid             // the encoder's positional embedding
)

// tensor is one weight of the model as whisper.cpp's loader declares it.
type tensor struct {
	name string
	ne   []int // dimensions, fastest-varying first (ggml order)
	typ  int32 // ggml type stored in the file
	fill fill
}

// elements is the number of values in t.
func (t tensor) elements() int {
	n := 1
	for _, d := range t.ne {
		n *= d
	}
	return n
}

// tensors lists every weight whisper.cpp's whisper_model_load declares for
// the options, with its name, shape and type, in the loader's order.
func tensors(o ModelOptions) []tensor {
	wtype := int32(typeF16)
	if o.FType == Q8_0 {
		wtype = typeQ8_0
	}
	const vtype = typeF16 // convolution weights: f16 unless the model is f32
	as, ts := o.AudioState, o.TextState
	var out []tensor
	add := func(name string, typ int32, f fill, ne ...int) {
		out = append(out, tensor{name: name, ne: ne, typ: typ, fill: f})
	}
	add("encoder.positional_embedding", typeF32, fillSinusoid, as, o.AudioCtx)
	add("encoder.conv1.weight", vtype, fillRandom, 3, o.Mels, as)
	add("encoder.conv1.bias", typeF32, fillZeros, 1, as)
	add("encoder.conv2.weight", vtype, fillRandom, 3, as, as)
	add("encoder.conv2.bias", typeF32, fillZeros, 1, as)
	add("encoder.ln_post.weight", typeF32, fillOnes, as)
	add("encoder.ln_post.bias", typeF32, fillZeros, as)
	for i := range o.AudioLayer {
		p := fmt.Sprintf("encoder.blocks.%d.", i)
		block(add, p, as, wtype, false)
	}
	add("decoder.positional_embedding", typeF32, fillRandom, ts, o.TextCtx)
	add("decoder.token_embedding.weight", wtype, fillRandom, ts, o.vocabSize())
	add("decoder.ln.weight", typeF32, fillOnes, ts)
	add("decoder.ln.bias", typeF32, fillZeros, ts)
	for i := range o.TextLayer {
		p := fmt.Sprintf("decoder.blocks.%d.", i)
		block(add, p, ts, wtype, true)
	}
	return out
}

// block declares one transformer block: its MLP, its self-attention and,
// in the decoder, its cross-attention, in whisper_model_load's order.
func block(add func(string, int32, fill, ...int), p string, n int, wtype int32, cross bool) {
	add(p+"mlp_ln.weight", typeF32, fillOnes, n)
	add(p+"mlp_ln.bias", typeF32, fillZeros, n)
	add(p+"mlp.0.weight", wtype, fillRandom, n, 4*n)
	add(p+"mlp.0.bias", typeF32, fillZeros, 4*n)
	add(p+"mlp.2.weight", wtype, fillRandom, 4*n, n)
	add(p+"mlp.2.bias", typeF32, fillZeros, n)
	attention := func(a string) {
		add(p+a+"_ln.weight", typeF32, fillOnes, n)
		add(p+a+"_ln.bias", typeF32, fillZeros, n)
		add(p+a+".query.weight", wtype, fillRandom, n, n)
		add(p+a+".query.bias", typeF32, fillZeros, n)
		add(p+a+".key.weight", wtype, fillRandom, n, n)
		add(p+a+".value.weight", wtype, fillRandom, n, n)
		add(p+a+".value.bias", typeF32, fillZeros, n)
		add(p+a+".out.weight", wtype, fillRandom, n, n)
		add(p+a+".out.bias", typeF32, fillZeros, n)
	}
	attention("attn")
	if cross {
		attention("cross_attn")
	}
}

// WriteModel writes a synthetic whisper model in ggml format to w. The
// same options always give the same bytes.
func WriteModel(w io.Writer, opts ModelOptions) error {
	o, err := opts.withDefaults()
	if err != nil {
		return fmt.Errorf("write whisper model: %w", err)
	}
	filters, vocab := melFilters(o.Mels), syntheticVocab(o.Multilingual)
	if o.Source != "" {
		src, err := readSource(o.Source)
		if err != nil {
			return fmt.Errorf("write whisper model: %w", err)
		}
		if src.nMel != o.Mels {
			return fmt.Errorf("write whisper model: source %q has %d mel bands, want %d: %w",
				o.Source, src.nMel, o.Mels, ErrSource)
		}
		filters, vocab = src.filters, src.vocab
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	e := &encoder{w: bw}
	ftype := int32(o.FType)
	if o.FType == Q8_0 {
		ftype += qntVersion * qntFactor
	}
	e.u32(fileMagic)
	for _, v := range []int{o.vocabSize(), o.AudioCtx, o.AudioState, o.AudioHead, o.AudioLayer,
		o.TextCtx, o.TextState, o.TextHead, o.TextLayer, o.Mels} {
		e.i32(int32(v))
	}
	e.i32(ftype)
	e.i32(int32(o.Mels))
	e.i32(int32(nFFTBins))
	e.f32s(filters)
	e.i32(int32(len(vocab)))
	for _, tok := range vocab {
		e.u32(uint32(len(tok)))
		e.bytes(tok)
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x5851f42d4c957f2d))
	for _, t := range tensors(o) {
		e.i32(int32(len(t.ne)))
		e.i32(int32(len(t.name)))
		e.i32(t.typ)
		for _, d := range t.ne {
			e.i32(int32(d))
		}
		e.bytes([]byte(t.name))
		e.values(t, values(t, rng, o.Scale))
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("write whisper model: %w", e.err)
	}
	return nil
}

// values makes the float values of t, row by row.
func values(t tensor, rng *rand.Rand, scale float64) []float32 {
	v := make([]float32, t.elements())
	switch t.fill {
	case fillRandom:
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
	case fillOnes:
		for i := range v {
			v[i] = 1
		}
	case fillSinusoid:
		// Whisper's sinusoids: for position p, channel c < n/2 holds
		// sin(p * exp(-ln(10000) c / (n/2-1))) and channel n/2+c the cosine.
		n, half := t.ne[0], t.ne[0]/2
		step := math.Log(10000) / float64(max(half-1, 1))
		for p := range t.ne[1] {
			for c := range half {
				a := float64(p) * math.Exp(-step*float64(c))
				v[p*n+c] = float32(math.Sin(a))
				v[p*n+half+c] = float32(math.Cos(a))
			}
		}
	}
	return v
}

// encoder writes little-endian values and keeps the first error.
type encoder struct {
	w   *bufio.Writer
	buf [8]byte
	err error
}

func (e *encoder) bytes(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.bytes(e.buf[:4])
}

func (e *encoder) i32(v int32) { e.u32(uint32(v)) }

func (e *encoder) f32s(v []float32) {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	e.bytes(b)
}

// values writes v in t's stored type.
func (e *encoder) values(t tensor, v []float32) {
	switch t.typ {
	case typeF32:
		e.f32s(v)
	case typeF16:
		b := make([]byte, 2*len(v))
		for i, f := range v {
			binary.LittleEndian.PutUint16(b[2*i:], halfBits(f))
		}
		e.bytes(b)
	case typeQ8_0:
		b := make([]byte, 0, len(v)/qk8*(2+qk8))
		for i := 0; i < len(v); i += qk8 {
			b = appendQ8Block(b, v[i:i+qk8])
		}
		e.bytes(b)
	}
}

// appendQ8Block appends one q8_0 block of v to b: the f16 scale, then 32
// signed bytes, as ggml's quantize_row_q8_0_ref makes them.
func appendQ8Block(b []byte, v []float32) []byte {
	var amax float32
	for _, f := range v {
		amax = max(amax, float32(math.Abs(float64(f))))
	}
	d := amax / 127
	var inv float32
	if d != 0 {
		inv = 1 / d
	}
	b = binary.LittleEndian.AppendUint16(b, halfBits(d))
	for _, f := range v {
		b = append(b, byte(int8(math.Round(float64(f*inv)))))
	}
	return b
}
