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
}

// String describes the model for people: name, file, size, languages.
func (m Model) String() string {
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
var catalogue = []Model{
	{"tiny", "ggml-tiny.bin", 77691713, "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21", true},
	{"tiny-q5_1", "ggml-tiny-q5_1.bin", 32152673, "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7", true},
	{"tiny-q8_0", "ggml-tiny-q8_0.bin", 43537433, "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca", true},
	{"tiny.en", "ggml-tiny.en.bin", 77704715, "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f", false},
	{"tiny.en-q5_1", "ggml-tiny.en-q5_1.bin", 32166155, "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b", false},
	{"tiny.en-q8_0", "ggml-tiny.en-q8_0.bin", 43550795, "5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94", false},
	{"base", "ggml-base.bin", 147951465, "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe", true},
	{"base-q5_1", "ggml-base-q5_1.bin", 59707625, "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898", true},
	{"base-q8_0", "ggml-base-q8_0.bin", 81768585, "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9", true},
	{"base.en", "ggml-base.en.bin", 147964211, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002", false},
	{"base.en-q5_1", "ggml-base.en-q5_1.bin", 59721011, "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f", false},
	{"base.en-q8_0", "ggml-base.en-q8_0.bin", 81781811, "a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e", false},
	{"small", "ggml-small.bin", 487601967, "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b", true},
	{"small-q5_1", "ggml-small-q5_1.bin", 190085487, "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb", true},
	{"small-q8_0", "ggml-small-q8_0.bin", 264464607, "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f", true},
	{"small.en", "ggml-small.en.bin", 487614201, "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d", false},
	{"small.en-q5_1", "ggml-small.en-q5_1.bin", 190098681, "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30", false},
	{"small.en-q8_0", "ggml-small.en-q8_0.bin", 264477561, "67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067", false},
}

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
