# stikadoo-edge: build, run and test. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Go from PATH, or from the official tarball's place.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go

# Opus decoding is cgo; nolibopusfile drops the libopusfile dependency.
# Set in GOFLAGS so that plain go commands (go test ./..., go vet) agree
# with the Makefile; flags already in GOFLAGS are kept.
TAGS := nolibopusfile
export GOFLAGS := -tags=$(TAGS) $(filter-out -tags=%,$(GOFLAGS))
export CGO_ENABLED := 1

BUILD := build
BIN := $(BUILD)/stikadoo-edge
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Each fuzz target runs this long in `make fuzz` and `make test`.
FUZZTIME ?= 5s
# Passed to -benchtime by `make bench`.
BENCHTIME ?= 1s
# The race detector exists on 64-bit ARM and x86, not on 32-bit Raspberry Pi OS.
RACE := $(if $(filter amd64 arm64,$(shell $(GO) env GOARCH 2>/dev/null)),-race,)
# Pinned: staticcheck 2026.2.2.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help setup build run test vet fuzz bench lint clean load

help: ## list the targets
	@echo "usage: make TARGET"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-8s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "variables: FUZZTIME=$(FUZZTIME) BENCHTIME=$(BENCHTIME)"

setup: $(BUILD)/.setup ## check Go, install missing Debian packages (once)

$(BUILD)/.setup: scripts/setup.sh go.mod
	@scripts/setup.sh
	@mkdir -p $(BUILD)
	@touch $@

build: setup ## build ./build/stikadoo-edge
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stikadoo-edge

run: build ## build and serve on :8000 with state in ./var (config: ./var/stikadoo-edge.toml if present)
	./$(BIN) serve --state-dir ./var $(if $(wildcard var/stikadoo-edge.toml),--config ./var/stikadoo-edge.toml)

vet: setup ## go vet
	$(GO) vet ./...

test: vet ## vet, run every test (with -race where supported), then short fuzz runs
	$(GO) test -count=1 $(RACE) ./...
	@$(MAKE) fuzz

fuzz: setup ## run every Fuzz target in the module for FUZZTIME each
	@pkgs=$$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u); \
	for dir in $$pkgs; do \
		for f in $$($(GO) test -list '^Fuzz' "$$dir" | grep '^Fuzz' || true); do \
			echo "fuzz $$dir $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) "$$dir"; \
		done; \
	done

bench: setup ## run every benchmark for BENCHTIME each
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Simulated devices per dialect in `make load`.
LOAD ?= 200

load: setup ## measure LOAD simulated devices per dialect against a gateway (LOAD=200)
	@mkdir -p $(BUILD)
	@hard=$$(ulimit -Hn); ulimit -n $$hard 2>/dev/null || true; \
	STIKADOO_LOAD_REPORT=$(CURDIR)/$(BUILD)/load.md $(GO) test -count=1 -v -run '^TestLoad$$' -timeout 10m ./edge -args -load $(LOAD)
	@echo; cat $(BUILD)/load.md

lint: setup ## gofmt, go vet and staticcheck
	@out=$$(find . \( -path ./.git -o -path ./.cache -o -path ./build -o -path ./var \) -prune -o -name '*.go' -print | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean: ## remove ./build (leaves ./var, the local record, alone)
	rm -rf $(BUILD)
