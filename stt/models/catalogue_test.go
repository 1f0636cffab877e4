package models_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stikadoo/stikadoo-edge/stt/models"
)

func TestCatalogueEntries(t *testing.T) {
	cat := models.Catalogue()
	if len(cat) == 0 {
		t.Fatal("empty catalogue")
	}
	sumRE := regexp.MustCompile(`^[0-9a-f]{64}$`)
	fileRE := regexp.MustCompile(`^ggml-[a-z0-9._-]+\.bin$`)
	names, files, sums := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, m := range cat {
		t.Run(m.Name, func(t *testing.T) {
			if !sumRE.MatchString(m.SHA256) {
				t.Errorf("SHA256 %q is not 64 lower-case hex digits", m.SHA256)
			}
			if m.Size <= 0 {
				t.Errorf("size %d", m.Size)
			}
			if !fileRE.MatchString(m.File) || m.File != "ggml-"+m.Name+".bin" {
				t.Errorf("file %q is not ggml-%s.bin", m.File, m.Name)
			}
			if english := strings.Contains(m.Name, ".en"); !m.VAD && m.Multilingual == english {
				t.Errorf("Multilingual = %v for %s", m.Multilingual, m.Name)
			}
			if names[m.Name] || files[m.File] || sums[m.SHA256] {
				t.Errorf("duplicate name, file or sum")
			}
			names[m.Name], files[m.File], sums[m.SHA256] = true, true, true
			for _, key := range []string{m.Name, m.File} {
				if got, ok := models.Lookup(key); !ok || got != m {
					t.Errorf("Lookup(%q) = %v, %v", key, got, ok)
				}
			}
		})
	}
	if m, ok := models.Lookup("silero-v6.2.0"); !ok || !m.VAD {
		t.Errorf("catalogue lacks the Silero VAD model: %v", m)
	}
	// The families the issue asks for, each with its quantized forms.
	for _, family := range []string{"tiny", "tiny.en", "base", "base.en", "small", "small.en"} {
		for _, suffix := range []string{"", "-q5_1", "-q8_0"} {
			if _, ok := models.Lookup(family + suffix); !ok {
				t.Errorf("catalogue lacks %s%s", family, suffix)
			}
		}
	}
}

// TestSileroMatchesShared checks the catalogue's size and sum of the
// Silero VAD model against the copy in the test data.
func TestSileroMatchesShared(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "models", "ggml-silero-v6.2.0.bin")
	m, err := models.Verify(path)
	if err != nil {
		t.Fatalf("Verify(%s): %v", path, err)
	}
	if m.Name != "silero-v6.2.0" || !m.VAD {
		t.Errorf("Verify = %v, want the Silero VAD model", m)
	}
}

func TestCatalogueIsACopy(t *testing.T) {
	cat := models.Catalogue()
	cat[0].SHA256 = "changed"
	if models.Catalogue()[0].SHA256 == "changed" {
		t.Error("Catalogue returns the package's own slice")
	}
}

func TestFind(t *testing.T) {
	if m, err := models.Find("base.en"); err != nil || m.File != "ggml-base.en.bin" {
		t.Errorf("Find(base.en) = %v, %v", m, err)
	}
	_, err := models.Find("huge")
	if !errors.Is(err, models.ErrUnknownModel) || !strings.Contains(err.Error(), "tiny.en") {
		t.Errorf("Find(huge) = %v, want ErrUnknownModel listing the names", err)
	}
	if _, ok := models.Lookup("huge"); ok {
		t.Error("Lookup(huge) found something")
	}
}

func TestVerifyUnknownAndDamaged(t *testing.T) {
	dir := t.TempDir()
	data := []byte("not a whisper model")
	unknown := filepath.Join(dir, "something.bin")
	named := filepath.Join(dir, "ggml-base.en.bin")
	for _, p := range []string{unknown, named} {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := models.Verify(unknown)
	if !errors.Is(err, models.ErrUnknownModel) {
		t.Fatalf("Verify(unknown) = %v, want ErrUnknownModel", err)
	}
	if !strings.Contains(err.Error(), sha256Hex(data)) || !strings.Contains(err.Error(), "19 bytes") {
		t.Errorf("error should give the file's size and sum: %v", err)
	}
	_, err = models.Verify(named)
	if !errors.Is(err, models.ErrChecksum) {
		t.Fatalf("Verify(damaged ggml-base.en.bin) = %v, want ErrChecksum", err)
	}
	base, _ := models.Lookup("base.en")
	if !strings.Contains(err.Error(), base.SHA256) || !strings.Contains(err.Error(), sha256Hex(data)) {
		t.Errorf("error should give both sums: %v", err)
	}
	if _, err := models.Verify(filepath.Join(dir, "missing.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Verify(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestWriteList(t *testing.T) {
	dir := t.TempDir()
	tiny, _ := models.Lookup("tiny.en-q5_1")
	base, _ := models.Lookup("base.en")
	// A sparse file of the right size stands for a downloaded model.
	f, err := os.Create(filepath.Join(dir, tiny.File))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(tiny.Size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.WriteFile(filepath.Join(dir, base.File+".part"), make([]byte, base.Size/4), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := models.WriteList(&out, dir); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(models.Catalogue())+1 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("list:\n%s", out.String())
	}
	find := func(name string) string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return l
			}
		}
		t.Fatalf("no line for %s:\n%s", name, out.String())
		return ""
	}
	want := map[string]string{"tiny.en-q5_1": "downloaded", "base.en": "partial 25%", "small": "-"}
	for name, status := range want {
		if l := find(name); !strings.HasSuffix(l, status) {
			t.Errorf("line %q should end in %q", l, status)
		}
	}
	if l := find("base.en"); !strings.Contains(l, "141.1 MiB") || !strings.Contains(l, "English") {
		t.Errorf("line %q lacks size or languages", l)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
