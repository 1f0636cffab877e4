package whispertest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parsedTensor is one tensor read back from a model file.
type parsedTensor struct {
	ne   []int
	typ  int32
	data []byte
}

// parsedModel is a model file read back the way whisper_model_load reads it.
type parsedModel struct {
	hparams [11]int32
	src     *source
	tensors map[string]parsedTensor
	order   []string
}

// parseModel reads a whole model file and fails the test if any byte is
// left over or missing.
func parseModel(t *testing.T, b []byte) *parsedModel {
	t.Helper()
	r := bytes.NewReader(b)
	var hp [11]int32
	if err := binary.Read(io.NewSectionReader(r, 4, 44), binary.LittleEndian, &hp); err != nil {
		t.Fatalf("read hparams: %v", err)
	}
	src, err := parseSource(r)
	if err != nil {
		t.Fatalf("parseSource: %v", err)
	}
	m := &parsedModel{hparams: hp, src: src, tensors: map[string]parsedTensor{}}
	for r.Len() > 0 {
		var head [3]int32
		if err := binary.Read(r, binary.LittleEndian, &head); err != nil {
			t.Fatalf("tensor %d header: %v", len(m.order), err)
		}
		ne := make([]int32, head[0])
		if err := binary.Read(r, binary.LittleEndian, ne); err != nil {
			t.Fatalf("tensor %d dims: %v", len(m.order), err)
		}
		name := make([]byte, head[1])
		if _, err := io.ReadFull(r, name); err != nil {
			t.Fatalf("tensor %d name: %v", len(m.order), err)
		}
		n := 1
		pt := parsedTensor{typ: head[2]}
		for _, d := range ne {
			n *= int(d)
			pt.ne = append(pt.ne, int(d))
		}
		var size int
		switch head[2] {
		case typeF32:
			size = 4 * n
		case typeF16:
			size = 2 * n
		case typeQ8_0:
			if n%qk8 != 0 {
				t.Fatalf("tensor %s: %d values are not whole q8_0 blocks", name, n)
			}
			size = n / qk8 * (2 + qk8)
		default:
			t.Fatalf("tensor %s has type %d", name, head[2])
		}
		pt.data = make([]byte, size)
		if _, err := io.ReadFull(r, pt.data); err != nil {
			t.Fatalf("tensor %s data: %v", name, err)
		}
		if _, dup := m.tensors[string(name)]; dup {
			t.Fatalf("tensor %s appears twice", name)
		}
		m.tensors[string(name)] = pt
		m.order = append(m.order, string(name))
	}
	return m
}

// writeModel writes opts to memory or fails the test.
func writeModel(t *testing.T, opts ModelOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := WriteModel(&b, opts); err != nil {
		t.Fatalf("WriteModel(%+v): %v", opts, err)
	}
	return b.Bytes()
}

// floats decodes a tensor's values.
func (p parsedTensor) floats(t *testing.T) []float32 {
	t.Helper()
	var out []float32
	switch p.typ {
	case typeF32:
		out = make([]float32, len(p.data)/4)
		binary.Read(bytes.NewReader(p.data), binary.LittleEndian, out)
	case typeF16:
		for i := 0; i < len(p.data); i += 2 {
			out = append(out, halfFloat(binary.LittleEndian.Uint16(p.data[i:])))
		}
	case typeQ8_0:
		for b := 0; b < len(p.data); b += 2 + qk8 {
			d := halfFloat(binary.LittleEndian.Uint16(p.data[b:]))
			for _, q := range p.data[b+2 : b+2+qk8] {
				out = append(out, d*float32(int8(q)))
			}
		}
	}
	return out
}

func TestWriteModelLayout(t *testing.T) {
	tests := []struct {
		name     string
		opts     ModelOptions
		hparams  [11]int32
		wtype    int32
		ntensors int
	}{
		{"defaults", ModelOptions{},
			[11]int32{51864, 1500, 64, 2, 1, 448, 64, 2, 1, 80, 1}, typeF16, 7 + 15 + 4 + 24},
		{"multilingual q8_0 two layers", ModelOptions{Multilingual: true, FType: Q8_0, AudioLayer: 2, TextLayer: 3, AudioState: 96, AudioHead: 3},
			[11]int32{51865, 1500, 96, 3, 2, 448, 96, 3, 3, 80, 2007}, typeQ8_0, 7 + 2*15 + 4 + 3*24},
		{"short windows", ModelOptions{AudioCtx: 200, TextCtx: 64, Mels: 128},
			[11]int32{51864, 200, 64, 2, 1, 64, 64, 2, 1, 128, 1}, typeF16, 7 + 15 + 4 + 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseModel(t, writeModel(t, tt.opts))
			if m.hparams != tt.hparams {
				t.Errorf("hparams = %v, want %v", m.hparams, tt.hparams)
			}
			if len(m.order) != tt.ntensors {
				t.Errorf("%d tensors, want %d", len(m.order), tt.ntensors)
			}
			n := int(tt.hparams[2])
			layer := int(tt.hparams[4]) - 1
			want := map[string]struct {
				ne  []int
				typ int32
			}{
				"encoder.positional_embedding":                                          {[]int{n, int(tt.hparams[1])}, typeF32},
				"encoder.conv1.weight":                                                  {[]int{3, int(tt.hparams[9]), n}, typeF16},
				"encoder.conv1.bias":                                                    {[]int{1, n}, typeF32},
				"encoder.conv2.weight":                                                  {[]int{3, n, n}, typeF16},
				"encoder.ln_post.weight":                                                {[]int{n}, typeF32},
				fmt.Sprintf("encoder.blocks.%d.mlp.0.weight", layer):                    {[]int{n, 4 * n}, tt.wtype},
				fmt.Sprintf("encoder.blocks.%d.mlp.2.weight", layer):                    {[]int{4 * n, n}, tt.wtype},
				fmt.Sprintf("encoder.blocks.%d.attn.key.weight", layer):                 {[]int{n, n}, tt.wtype},
				"decoder.positional_embedding":                                          {[]int{n, int(tt.hparams[5])}, typeF32},
				"decoder.token_embedding.weight":                                        {[]int{n, int(tt.hparams[0])}, tt.wtype},
				"decoder.ln.bias":                                                       {[]int{n}, typeF32},
				fmt.Sprintf("decoder.blocks.%d.cross_attn.out.weight", tt.hparams[8]-1): {[]int{n, n}, tt.wtype},
				fmt.Sprintf("decoder.blocks.%d.cross_attn_ln.bias", tt.hparams[8]-1):    {[]int{n}, typeF32},
			}
			for name, w := range want {
				got, ok := m.tensors[name]
				if !ok {
					t.Errorf("no tensor %s", name)
					continue
				}
				if fmt.Sprint(got.ne) != fmt.Sprint(w.ne) || got.typ != w.typ {
					t.Errorf("%s: shape %v type %d, want %v type %d", name, got.ne, got.typ, w.ne, w.typ)
				}
			}
			for _, name := range m.order {
				switch {
				case strings.Contains(name, "key.bias"):
					t.Errorf("tensor %s: whisper's key projections have no bias", name)
				case strings.HasSuffix(name, "ln.weight") || strings.HasSuffix(name, "ln_post.weight"):
					for _, v := range m.tensors[name].floats(t) {
						if v != 1 {
							t.Fatalf("%s holds %v, want 1", name, v)
						}
					}
				case strings.HasSuffix(name, ".bias"):
					for _, v := range m.tensors[name].floats(t) {
						if v != 0 {
							t.Fatalf("%s holds %v, want 0", name, v)
						}
					}
				}
			}
		})
	}
}

func TestWriteModelWeights(t *testing.T) {
	a := writeModel(t, ModelOptions{Seed: 7})
	if b := writeModel(t, ModelOptions{Seed: 7}); !bytes.Equal(a, b) {
		t.Error("the same options wrote different bytes")
	}
	if c := writeModel(t, ModelOptions{Seed: 8}); bytes.Equal(a, c) {
		t.Error("different seeds wrote the same bytes")
	}
	tests := []struct {
		name string
		opts ModelOptions
		tol  float64 // relative error of the standard deviation
	}{
		{"f16", ModelOptions{Scale: 0.1}, 0.02},
		{"q8_0", ModelOptions{Scale: 0.1, FType: Q8_0}, 0.02},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := parseModel(t, writeModel(t, tt.opts))
			v := m.tensors["decoder.token_embedding.weight"].floats(t)
			var sum, sq float64
			for _, f := range v {
				sum += float64(f)
				sq += float64(f) * float64(f)
			}
			mean := sum / float64(len(v))
			sd := math.Sqrt(sq/float64(len(v)) - mean*mean)
			if math.Abs(mean) > 0.001 || math.Abs(sd-tt.opts.Scale)/tt.opts.Scale > tt.tol {
				t.Errorf("token embedding mean %.5f sd %.5f, want 0 and %.3f", mean, sd, tt.opts.Scale)
			}
			pe := m.tensors["encoder.positional_embedding"].floats(t)
			n := m.tensors["encoder.positional_embedding"].ne[0]
			// Position 0: sin 0 = 0 in the first half, cos 0 = 1 in the second.
			if pe[0] != 0 || pe[n/2] != 1 || pe[n-1] != 1 {
				t.Errorf("positional embedding row 0 starts %v, ends %v", pe[:2], pe[n-2:n])
			}
		})
	}
}

func TestWriteModelOptions(t *testing.T) {
	tests := []struct {
		name string
		opts ModelOptions
	}{
		{"widths differ", ModelOptions{AudioState: 64, TextState: 128}},
		{"heads do not divide", ModelOptions{AudioState: 64, AudioHead: 3}},
		{"text heads do not divide", ModelOptions{TextHead: 5}},
		{"q8_0 rows not whole blocks", ModelOptions{AudioState: 48, AudioHead: 2, FType: Q8_0}},
		{"unknown ftype", ModelOptions{FType: 2}},
		{"negative layers", ModelOptions{AudioLayer: -1}},
		{"negative scale", ModelOptions{Scale: -1}},
		{"NaN scale", ModelOptions{Scale: math.NaN()}},
		{"missing source", ModelOptions{Source: filepath.Join(t.TempDir(), "none.bin")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteModel(&b, tt.opts)
			if err == nil {
				t.Fatalf("WriteModel(%+v) succeeded", tt.opts)
			}
			if tt.opts.Source == "" && !errors.Is(err, ErrOptions) {
				t.Errorf("error %v does not wrap ErrOptions", err)
			}
		})
	}
}

func TestSourceErrors(t *testing.T) {
	good := writeModel(t, ModelOptions{})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"bad magic", append([]byte("GGUF"), good[4:]...)},
		{"truncated filters", good[:500]},
		{"truncated vocabulary", good[:4+44+8+80*201*4+4+1000]},
		{"absurd vocabulary", func() []byte {
			b := bytes.Clone(good[:4+44+8+80*201*4+4])
			binary.LittleEndian.PutUint32(b[len(b)-4:], 1<<30)
			return b
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "src.bin")
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			err := WriteModel(io.Discard, ModelOptions{Source: path})
			if !errors.Is(err, ErrSource) {
				t.Errorf("WriteModel from %s: %v, want ErrSource", tt.name, err)
			}
		})
	}
	t.Run("mel bands differ", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "src.bin")
		if err := os.WriteFile(path, good, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteModel(io.Discard, ModelOptions{Source: path, Mels: 128}); !errors.Is(err, ErrSource) {
			t.Errorf("WriteModel with 128 bands from an 80-band source: %v, want ErrSource", err)
		}
	})
}

func TestSyntheticVocab(t *testing.T) {
	for _, multi := range []bool{false, true} {
		v := syntheticVocab(multi)
		if len(v) != storedTokens {
			t.Fatalf("multilingual=%v: %d tokens, want %d", multi, len(v), storedTokens)
		}
		if string(v[220]) != " " || string(v[0]) != "!" {
			t.Errorf("tokens 0 and 220 are %q and %q, want \"!\" and \" \"", v[0], v[220])
		}
		seen := map[string]int{}
		for i, tok := range v {
			if j, dup := seen[string(tok)]; dup {
				t.Fatalf("tokens %d and %d are both %q", j, i, tok)
			}
			seen[string(tok)] = i
		}
		last := string(v[len(v)-1])
		if want := map[bool]string{false: "<|endoftext|>", true: ""}[multi]; last != want {
			t.Errorf("multilingual=%v: last token %q, want %q", multi, last, want)
		}
	}
}

// TestAgainstRealModel compares what WriteModel computes with what
// whisper.cpp's own test models hold.
func TestAgainstRealModel(t *testing.T) {
	path := Shared(sharedEnglish)
	if path == "" {
		t.Skipf("%s not found beside the checkout", sharedEnglish)
	}
	real, err := readSource(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("mel filters", func(t *testing.T) {
		got := melFilters(80)
		if len(got) != len(real.filters) {
			t.Fatalf("%d values, want %d", len(got), len(real.filters))
		}
		for i, w := range real.filters {
			if d := math.Abs(float64(got[i] - w)); d > 1e-6+1e-4*math.Abs(float64(w)) {
				t.Fatalf("filter %d bin %d = %g, want %g", i/nFFTBins, i%nFFTBins, got[i], w)
			}
		}
	})
	t.Run("byte tokens", func(t *testing.T) {
		synth := syntheticVocab(false)
		if len(real.vocab) != len(synth) {
			t.Fatalf("real vocabulary stores %d tokens, synthetic %d", len(real.vocab), len(synth))
		}
		// whisper.cpp's test models store the lone bytes 0x80 and up,
		// which are not UTF-8 by themselves, as U+FFFD; its converter
		// writes them as they are, as WriteModel does.
		for i := range 256 {
			if len(real.vocab[i]) == 1 && !bytes.Equal(real.vocab[i], synth[i]) {
				t.Fatalf("token %d = %q, want %q", i, synth[i], real.vocab[i])
			}
		}
		if last := len(synth) - 1; !bytes.Equal(real.vocab[last], synth[last]) {
			t.Errorf("last token %q, want %q", synth[last], real.vocab[last])
		}
	})
	t.Run("copied", func(t *testing.T) {
		m := parseModel(t, writeModel(t, ModelOptions{Source: path}))
		if fmt.Sprint(m.src.vocab) != fmt.Sprint(real.vocab) || fmt.Sprint(m.src.filters) != fmt.Sprint(real.filters) {
			t.Error("the written model does not hold the source's filters and vocabulary")
		}
	})
}

func TestHalfBits(t *testing.T) {
	tests := []struct {
		f    float32
		want uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{0.1, 0x2e66},
		{65504, 0x7bff},
		{65520, 0x7c00}, // rounds up to infinity
		{1e6, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{6.103515625e-05, 0x0400},  // smallest normal
		{5.960464477539063e-08, 1}, // smallest subnormal
		{2.98e-08, 0},              // just under half of it
		{1.0009765625, 0x3c01},
		{1.00048828125, 0x3c00}, // tie, rounds to even
		{1.00146484375, 0x3c02}, // tie, rounds to even
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.f), func(t *testing.T) {
			if got := halfBits(tt.f); got != tt.want {
				t.Errorf("halfBits(%g) = %#04x, want %#04x", tt.f, got, tt.want)
			}
		})
	}
	if h := halfBits(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("halfBits(NaN) = %#04x, not a NaN", h)
	}
	// Every finite half survives a round trip through float32.
	for h := range 1 << 16 {
		if h&0x7c00 == 0x7c00 {
			continue
		}
		if got := halfBits(halfFloat(uint16(h))); got != uint16(h) {
			t.Fatalf("halfBits(halfFloat(%#04x)) = %#04x", h, got)
		}
	}
}

func TestModelFile(t *testing.T) {
	path := ModelFile(t, ModelOptions{Seed: 3})
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	m := parseModel(t, b)
	if len(m.src.vocab) != storedTokens || m.hparams[0] != VocabEnglish {
		t.Errorf("model file holds %d tokens of %d, want %d of %d", len(m.src.vocab), m.hparams[0], storedTokens, VocabEnglish)
	}
}
