package models

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// DefaultBaseURL is where whisper.cpp's ggml models are published: the
// Hugging Face repository ggerganov/whisper.cpp. A model is fetched from
// DefaultBaseURL + "/" + Model.File.
const DefaultBaseURL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main"

// Model is one ggml model file of whisper.cpp.
type Model struct {
	// Name is whisper.cpp's name for the model, as its
	// download-ggml-model.sh takes it: "base.en", "small-q5_1"...
	Name string
	// File is the published file name, "ggml-" + Name + ".bin".
	File string
	// Size is the file's exact size in bytes.
	Size int64
	// SHA256 is the file's SHA-256 sum, 64 lower-case hex digits.
	SHA256 string
	// Multilingual is false for the English-only (".en") models, which
	// transcribe English only and take no language setting.
	Multilingual bool
	// VAD marks a voice activity model (Silero) rather than a speech
	// recognition one.
	VAD bool
	// Home, if set, is where the file is published when no mirror is
	// configured, instead of DefaultBaseURL.
	Home string
}

// String describes the model for people: name, file, size, languages.
func (m Model) String() string {
	if m.VAD {
		return fmt.Sprintf("%s (%s, %s, voice activity detection)", m.Name, m.File, formatBytes(m.Size))
	}
	lang := "English only"
	if m.Multilingual {
		lang = "multilingual"
	}
	return fmt.Sprintf("%s (%s, %s, %s)", m.Name, m.File, formatBytes(m.Size), lang)
}

// catalogue lists the models, smallest family first. Sizes and sums are
// the Git LFS object ids and sizes of the files in the Hugging Face
// repository ggerganov/whisper.cpp at revision
// 5359861c739e955e79d9a303bcbc70fb988958b1 (the files have not changed
// since they were published: 2023 for the full and q5_1 files, 2024 for
// the q8_0 ones).
var whisperCatalogue = []Model{
	whisperModel("tiny", 77691713, "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21", true),
	whisperModel("tiny-q5_1", 32152673, "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7", true),
	whisperModel("tiny-q8_0", 43537433, "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca", true),
	whisperModel("tiny.en", 77704715, "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f", false),
	whisperModel("tiny.en-q5_1", 32166155, "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b", false),
	whisperModel("tiny.en-q8_0", 43550795, "5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94", false),
	whisperModel("base", 147951465, "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe", true),
	whisperModel("base-q5_1", 59707625, "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898", true),
	whisperModel("base-q8_0", 81768585, "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9", true),
	whisperModel("base.en", 147964211, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002", false),
	whisperModel("base.en-q5_1", 59721011, "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f", false),
	whisperModel("base.en-q8_0", 81781811, "a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e", false),
	whisperModel("small", 487601967, "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b", true),
	whisperModel("small-q5_1", 190085487, "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb", true),
	whisperModel("small-q8_0", 264464607, "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f", true),
	whisperModel("small.en", 487614201, "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d", false),
	whisperModel("small.en-q5_1", 190098681, "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30", false),
	whisperModel("small.en-q8_0", 264477561, "67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067", false),
}

// whisperModel is a speech recognition model of the Hugging Face
// repository ggerganov/whisper.cpp.
func whisperModel(name string, size int64, sum string, multilingual bool) Model {
	return Model{Name: name, File: "ggml-" + name + ".bin", Size: size, SHA256: sum, Multilingual: multilingual}
}

// SileroHome is where whisper.cpp's project publishes its Silero VAD
// models in ggml form: the Hugging Face repository ggml-org/whisper-vad.
const SileroHome = "https://huggingface.co/ggml-org/whisper-vad/resolve/main"

// vadCatalogue lists the voice activity models: Silero VAD 6.2.0 (MIT
// licence), as whisper.cpp's models/download-vad-model.sh fetches it.
var vadCatalogue = []Model{
	{Name: "silero-v6.2.0", File: "ggml-silero-v6.2.0.bin", Size: 885098,
		SHA256: "2aa269b785eeb53a82983a20501ddf7c1d9c48e33ab63a41391ac6c9f7fb6987", VAD: true, Home: SileroHome},
}

// catalogue is every model: speech recognition, then voice activity.
var catalogue = slices.Concat(whisperCatalogue, vadCatalogue)

// Catalogue returns every model this build knows, smallest family first.
// The slice is a copy.
func Catalogue() []Model { return slices.Clone(catalogue) }

// Lookup finds a model by name ("base.en") or by file name
// ("ggml-base.en.bin").
func Lookup(name string) (Model, bool) {
	name = strings.TrimSpace(name)
	for _, m := range catalogue {
		if m.Name == name || m.File == name {
			return m, true
		}
	}
	return Model{}, false
}

// Find is Lookup with an error wrapping ErrUnknownModel that lists the
// names there are.
func Find(name string) (Model, error) {
	if m, ok := Lookup(name); ok {
		return m, nil
	}
	names := make([]string, len(catalogue))
	for i, m := range catalogue {
		names[i] = m.Name
	}
	return Model{}, fmt.Errorf("find model %q: known models are %s: %w", name, strings.Join(names, ", "), ErrUnknownModel)
}

var (
	fileRE = regexp.MustCompile(`^ggml-[A-Za-z0-9][A-Za-z0-9._-]*\.bin$`)
	sumRE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// check reports whether m can be downloaded: a plain ggml-*.bin file name
// (never a path), a positive size and a 64-hex sum.
func (m Model) check() error {
	switch {
	case !fileRE.MatchString(m.File) || strings.Contains(m.File, ".."):
		return fmt.Errorf("model %q: file name %q is not a ggml-*.bin name: %w", m.Name, m.File, ErrInvalid)
	case m.Size <= 0:
		return fmt.Errorf("model %q: size %d: %w", m.Name, m.Size, ErrInvalid)
	case !sumRE.MatchString(strings.ToLower(m.SHA256)):
		return fmt.Errorf("model %q: SHA-256 %q is not 64 hex digits: %w", m.Name, m.SHA256, ErrInvalid)
	}
	return nil
}

// formatBytes writes a size in MiB (or KiB, or bytes) with one decimal.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
