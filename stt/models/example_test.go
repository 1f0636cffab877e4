package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/stikadoo/stikadoo-edge/stt/models"
)

func ExampleLookup() {
	m, ok := models.Lookup("base.en")
	fmt.Println(ok, m)
	// Output: true base.en (ggml-base.en.bin, 141.1 MiB, English only)
}

func ExampleDownload() {
	// A mirror on the LAN serving one small file; a real model comes from
	// models.Lookup and models.DefaultBaseURL.
	data := []byte("stand-in for a model file")
	sum := sha256.Sum256(data)
	m := models.Model{Name: "demo", File: "ggml-demo.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer mirror.Close()

	dir, err := os.MkdirTemp("", "models")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path, err := models.Download(context.Background(), m, mirror.URL, dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(path))
	// Output: ggml-demo.bin
}

func ExampleVerify() {
	dir, err := os.MkdirTemp("", "models")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ggml-tiny.en.bin")
	if err := os.WriteFile(path, []byte("truncated"), 0o644); err != nil {
		log.Fatal(err)
	}
	if _, err := models.Verify(path); err != nil {
		fmt.Println("damaged:", errors.Is(err, models.ErrChecksum))
	}
	// Output: damaged: true
}
