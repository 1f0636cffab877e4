# stikadoo-edge: build, run and test. `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Go from PATH, or from the official tarball's place.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go

# Opus decoding is cgo; nolibopusfile drops the libopusfile dependency.
# whisper.cpp (stt/whispercpp) is cgo behind the whispercpp tag, against
# the static libraries below; WHISPER=0 builds and tests without it (the
# package's stub). Set in GOFLAGS so that plain go commands (go test
# ./..., go vet) agree with the Makefile; flags already in GOFLAGS are kept.
WHISPER ?= 1
comma := ,
TAGS := nolibopusfile$(if $(filter 1,$(WHISPER)),$(comma)whispercpp)
export GOFLAGS := -tags=$(TAGS) $(filter-out -tags=%,$(GOFLAGS))
export CGO_ENABLED := 1

# whisper.cpp 1.9.1, built once by scripts/whisper.sh from pinned,
# hash-checked sources into .cache/whisper/1.9.1-ARCH/{include,lib} as
# static libraries; WHISPER_SRC=DIR builds from a local whisper.cpp
# checkout instead (into .cache/whisper/local-ARCH). Go finds them through
# CGO_CFLAGS and CGO_LDFLAGS, and the Go bindings name the libraries
# (-lwhisper -lggml -lggml-base -lggml-cpu -lm -lstdc++); whisper.cpp's
# pkg-config file is not used: it names /usr/local and leaves out
# libggml-cpu, which a static link needs. WHISPER_LIBDIR is a folder whose
# name follows the libraries' contents: Go's build cache keys on the cgo
# flags, not on the library files, so a rebuilt library changes the flags
# and is linked again without `go build -a`.
WHISPER_SRC ?=
export WHISPER_SRC
whisper_prefix = $(shell WHISPER_SRC='$(WHISPER_SRC)' scripts/whisper.sh prefix $(1))
whisper_libdir = $(shell WHISPER_SRC='$(WHISPER_SRC)' scripts/whisper.sh libdir $(1))
WHISPER_PREFIX := $(call whisper_prefix)
WHISPER_LIBDIR = $(call whisper_libdir)
# Go's defaults for CGO_CFLAGS and CGO_LDFLAGS, or the caller's flags
# (less ours, which a sub-make inherits).
CGO_CFLAGS_BASE := $(or $(filter-out -I$(WHISPER_PREFIX)/include,$(CGO_CFLAGS)),-O2 -g)
CGO_LDFLAGS_BASE := $(or $(filter-out -L$(WHISPER_PREFIX)/%,$(CGO_LDFLAGS)),-O2 -g)
ifeq ($(WHISPER),1)
# Recursive: expanded for each command, after the whisper target built the
# libraries.
export CGO_CFLAGS = -I$(WHISPER_PREFIX)/include $(CGO_CFLAGS_BASE)
export CGO_LDFLAGS = -L$(WHISPER_LIBDIR) $(CGO_LDFLAGS_BASE)
# The Go targets build whisper.cpp first (a no-op once built).
GO_SETUP := setup whisper
else
GO_SETUP := setup
endif

BUILD := build
BIN := $(BUILD)/stikadoo-edge
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

# Each fuzz target runs this many inputs in `make fuzz` and `make test`
# (1–3 s for the protocol decoders, about 7 s for the renderer). A count, not a
# duration: Go 1.26's fuzzer can fail a duration run at its deadline with a
# bare "context deadline exceeded" and no failing input (go.dev/issue/75804).
# A longer hunt: make fuzz FUZZTIME=2000000x.
FUZZTIME ?= 50000x
# Each new input that widens coverage is shrunk for at most this many runs, so
# shrinking does not stall a short fuzz run for up to a minute.
FUZZMINIMIZETIME ?= 1000x
# Passed to -benchtime by `make bench`.
BENCHTIME ?= 1s
# The race detector exists on 64-bit ARM and x86, not on 32-bit Raspberry Pi OS.
RACE := $(if $(filter amd64 arm64,$(shell $(GO) env GOARCH 2>/dev/null)),-race,)
# Pinned: staticcheck 2026.2.2.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help setup whisper whisper-env build run models test vet fuzz bench bench-stt lint clean load
.PHONY: setup-arm64 setup-armhf whisper-arm64 whisper-armhf build-arm64 build-armhf test-cross test-cross-arm64 test-cross-armhf

help: ## list the targets
	@echo "usage: make TARGET"
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z0-9-]*:.*## / { printf "  %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo "variables: FUZZTIME=$(FUZZTIME) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) BENCHTIME=$(BENCHTIME) WHISPER=$(WHISPER) WHISPER_SRC=$(WHISPER_SRC) DEB=$(DEB) DEB_ARCHES=$(DEB_ARCHES) PREFIX=$(PREFIX)"

setup: $(BUILD)/.setup ## check Go, install missing Debian packages (once)

$(BUILD)/.setup: scripts/setup.sh go.mod
	@scripts/setup.sh
	@mkdir -p $(BUILD)
	@touch $@

whisper: setup ## build whisper.cpp into .cache/whisper (once; WHISPER_SRC=DIR: from a local checkout)
	@scripts/whisper.sh build

# For plain go commands in a shell: eval "$(make -s whisper-env)".
whisper-env: whisper ## print GOFLAGS, CGO_CFLAGS and CGO_LDFLAGS as shell exports, for plain go commands
	@echo "export GOFLAGS='$(GOFLAGS)' CGO_CFLAGS='$(CGO_CFLAGS)' CGO_LDFLAGS='$(CGO_LDFLAGS)'"

build: $(GO_SETUP) ## build ./build/stikadoo-edge
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/stikadoo-edge

# The speech model `make run` fetches into ./var/models when it is not
# there yet, with the Silero voice activity model; MODEL= fetches none.
MODEL ?= base.en

run: build ## build, fetch the speech models once (MODEL=base.en), serve on :8000 with state in ./var
	@$(MAKE) models
	./$(BIN) serve --state-dir ./var $(if $(wildcard var/stikadoo-edge.toml),--config ./var/stikadoo-edge.toml)

# Offline, the server starts all the same: without speech until a model
# is there (its status page says so). A download cut short resumes on the
# next run.
models: build ## fetch MODEL and the Silero voice activity model into ./var/models unless there
	@for m in $(MODEL) $(if $(MODEL),silero-v6.2.0); do 		[ -f var/models/ggml-$$m.bin ] && continue; 		echo "fetching the speech model $$m into var/models (once; MODEL= to skip)"; 		./$(BIN) model download --state-dir ./var --retries 1 $$m >/dev/null || { 			echo "could not fetch $$m (offline?): the server starts without it; 'make models' tries again"; break; }; 	done

vet: $(GO_SETUP) ## go vet
	$(GO) vet ./...

test: vet ## vet, run every test (with -race where supported), short fuzz runs, make install into a scratch root, then the packages and the Pi builds under qemu (DEB=1)
	$(GO) test -count=1 $(RACE) ./...
	@$(MAKE) fuzz test-install
	$(if $(filter 1,$(DEB)),@$(MAKE) test-deb test-pi)

fuzz: $(GO_SETUP) ## run every Fuzz target in the module for FUZZTIME inputs each
	@pkgs=$$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u); \
	for dir in $$pkgs; do \
		for f in $$($(GO) test -list '^Fuzz' "$$dir" | grep '^Fuzz' || true); do \
			echo "fuzz $$dir $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) "$$dir"; \
		done; \
	done

bench: $(GO_SETUP) ## run every benchmark for BENCHTIME each
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# Runs of each case in `make bench-stt`; STIKADOO_WHISPER_THREADS sets
# whisper's threads (default: every core).
BENCHTIME_STT ?= 5x

bench-stt: $(GO_SETUP) ## end of utterance -> text, 3 s and 11 s, tiny.en and base.en, beside whisper's full 30 s window
	@if [ "$(WHISPER)" != 1 ]; then echo "bench-stt measures whisper.cpp: run it with WHISPER=1"; exit 2; fi
	$(GO) test -count=1 -run '^$$' -bench 'EndOfUtterance|VAD' -benchtime $(BENCHTIME_STT) ./stt/whispercpp

# Simulated devices per dialect in `make load`.
LOAD ?= 200

load: $(GO_SETUP) ## measure LOAD simulated devices per dialect against a gateway (LOAD=200)
	@mkdir -p $(BUILD)
	@hard=$$(ulimit -Hn); ulimit -n $$hard 2>/dev/null || true; \
	STIKADOO_LOAD_REPORT=$(CURDIR)/$(BUILD)/load.md $(GO) test -count=1 -v -run '^TestLoad$$' -timeout 10m ./edge -args -load $(LOAD)
	@echo; cat $(BUILD)/load.md

lint: $(GO_SETUP) ## gofmt, go vet and staticcheck
	@out=$$(find . \( -path ./.git -o -path ./.cache -o -path ./build -o -path ./var \) -prune -o -name '*.go' -print | xargs -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (gofmt -w):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean: ## remove ./build (leaves ./var, the local record, and .cache, the built whisper.cpp, alone)
	rm -rf $(BUILD)

# Cross-compiling for the Raspberry Pi with Debian's cross toolchains:
# arm64 for 64-bit Raspberry Pi OS (Pi 3, 4, 5), armhf for 32-bit (ARMv7
# with NEON and VFPv4: Pi 2, 3, 4). `scripts/setup.sh TARGET` installs the
# toolchain, the target's libopus (Debian multiarch) and qemu-user;
# whisper.cpp is built for the target beside the native one.
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
TRIPLE_arm64 := aarch64-linux-gnu
TRIPLE_armhf := arm-linux-gnueabihf
TRIPLE_amd64 := x86_64-linux-gnu
GOARCH_arm64 := GOARCH=arm64
GOARCH_armhf := GOARCH=arm GOARM=7
GOARCH_amd64 := GOARCH=amd64
QEMU_arm64 := qemu-aarch64
QEMU_armhf := qemu-arm
QEMU_amd64 := qemu-x86_64
# The go environment for TARGET ($(1)): its architecture, compilers,
# libopus and whisper.cpp.
cross_env = GOOS=linux $(GOARCH_$(1)) \
	$(if $(filter $(1),$(HOST_ARCH)),,CC=$(TRIPLE_$(1))-gcc CXX=$(TRIPLE_$(1))-g++ PKG_CONFIG_LIBDIR=/usr/lib/$(TRIPLE_$(1))/pkgconfig:/usr/share/pkgconfig) \
	CGO_CFLAGS='-I$(call whisper_prefix,$(1))/include $(CGO_CFLAGS_BASE)' \
	CGO_LDFLAGS='-L$(call whisper_libdir,$(1)) $(CGO_LDFLAGS_BASE)'
# Runs a TARGET ($(1)) program on this machine: qemu-user (no binfmt
# needed), or nothing on the target itself. The program loads the target's
# multiarch C library and libopus from /lib/TRIPLE and /usr/lib/TRIPLE;
# not the cross toolchain's copy in /usr/TRIPLE (-L /usr/TRIPLE), whose
# Debian revision can differ from the multiarch libc6 that libopus pulls
# in, and a loader of one with the C library of the other hangs.
cross_exec = $(if $(filter $(1),$(HOST_ARCH)),,$(QEMU_$(1)) -L /)

build-arm64: ## build ./build/stikadoo-edge-linux-arm64 for 64-bit Raspberry Pi OS
build-armhf: ## build ./build/stikadoo-edge-linux-armhf for 32-bit Raspberry Pi OS
setup-amd64 setup-arm64 setup-armhf: setup-%: setup
	@scripts/setup.sh $*

# A prerequisite, not a line of the recipe below: make expands a recipe
# (here, the library folder's name) before running its first line.
whisper-amd64 whisper-arm64 whisper-armhf: whisper-%: setup-%
	@scripts/whisper.sh build $*

build-arm64 build-armhf: build-%: whisper-%
	env $(call cross_env,$*) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/stikadoo-edge-linux-$* ./cmd/stikadoo-edge

test-cross: test-cross-arm64 test-cross-armhf ## cross-build for the Pi, then run the binaries and the whisper.cpp tests under qemu-user

test-cross-arm64 test-cross-armhf: test-cross-%: build-%
	$(call cross_exec,$*) $(BUILD)/stikadoo-edge-linux-$* version
	env $(call cross_env,$*) $(GO) test -count=1 $(if $(call cross_exec,$*),-exec '$(call cross_exec,$*)') ./stt/whispercpp/

# --- The service: source install and Debian packages --------------------
#
# `make install` puts the binary in PREFIX/bin, the unit in UNITDIR (with
# ExecStart pointing at that binary) and, when there is none yet, the
# documented default configuration in /etc/stikadoo-edge; DESTDIR stages
# it all under another root. `make deb` builds the packages for
# DEB_ARCHES into build/deb with nfpm: the binaries are built with
# -trimpath and no build ID, and every file in a package gets the last
# commit's time (SOURCE_DATE_EPOCH), so a commit always gives the same
# packages. `make test-deb` inspects them and installs the one of this
# machine into a throwaway root.
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
SYSCONFDIR ?= /etc
# On a PC all three; on a Pi only its own (cross toolchains for the
# others would be hundreds of megabytes on its SD card).
DEB_ARCHES ?= $(if $(filter amd64,$(HOST_ARCH)),amd64 arm64 armhf,$(HOST_ARCH))
# `make test` builds and checks the packages too, unless DEB=0 (the
# default with WHISPER=0: packages always carry whisper.cpp).
DEB ?= $(WHISPER)
DEB_DIR := $(BUILD)/deb
# Pinned: nfpm 2.48.0, built once into build/tools.
NFPM_VERSION := v2.48.0
NFPM := $(BUILD)/tools/nfpm-$(NFPM_VERSION)
export SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# Debian version: the tag vX.Y.Z as X.Y.Z, or 0.0.0~gitDATE.HASH before the
# first tag ("~" sorts before any release).
DEB_VERSION := $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null) && echo "$${v\#v}" | tr - + || \
	echo "0.0.0~git$$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).$$(git rev-parse --short=8 HEAD 2>/dev/null || echo unknown)")
DEB_LDFLAGS := -s -w -buildid= $(LDFLAGS)

.PHONY: install uninstall test-install deb test-deb $(addprefix deb-,$(DEB_ARCHES))

install: build ## install binary, unit and default configuration (PREFIX=/usr/local, DESTDIR=)
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/stikadoo-edge
	@mkdir -p $(DESTDIR)$(UNITDIR)
	sed 's|^ExecStart=/usr/bin/stikadoo-edge|ExecStart=$(PREFIX)/bin/stikadoo-edge|' systemd/stikadoo-edge.service > $(DESTDIR)$(UNITDIR)/stikadoo-edge.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/stikadoo-edge.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/stikadoo-edge/stikadoo-edge.toml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/stikadoo-edge/stikadoo-edge.toml"; \
	else \
		install -D -m 0644 cmd/stikadoo-edge/stikadoo-edge.toml $(DESTDIR)$(SYSCONFDIR)/stikadoo-edge/stikadoo-edge.toml; \
	fi
	@# The unit joins the gpio group (GPIO light and button); it must exist.
	@if [ -z "$(DESTDIR)" ] && ! getent group gpio >/dev/null; then groupadd --system gpio; fi
	@echo
	@echo "installed; now run: systemctl daemon-reload && systemctl enable --now stikadoo-edge"

uninstall: ## remove what make install installed (keeps the configuration and /var/lib/stikadoo-edge)
	-@[ -n "$(DESTDIR)" ] || systemctl disable --now stikadoo-edge.service 2>/dev/null || true
	rm -f $(DESTDIR)$(PREFIX)/bin/stikadoo-edge $(DESTDIR)$(UNITDIR)/stikadoo-edge.service
	@echo "removed; run: systemctl daemon-reload"
	@echo "kept: $(SYSCONFDIR)/stikadoo-edge (configuration) and /var/lib/stikadoo-edge (the record); delete them by hand to forget everything"

$(NFPM):
	@mkdir -p $(dir $@)
	GOBIN=$(abspath $(BUILD)/tools) GOFLAGS= CGO_ENABLED=0 $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(BUILD)/tools/nfpm $@

deb: $(addprefix deb-,$(DEB_ARCHES)) ## build the Debian packages for DEB_ARCHES (amd64 arm64 armhf) into build/deb
	@ls -l $(DEB_DIR)/*.deb

$(addprefix deb-,$(DEB_ARCHES)): deb-%: whisper-% $(NFPM)
	@mkdir -p $(DEB_DIR)/$*
	env $(call cross_env,$*) $(GO) build -tags=nolibopusfile,whispercpp -trimpath -buildvcs=false -ldflags '$(DEB_LDFLAGS)' -o $(DEB_DIR)/$*/stikadoo-edge ./cmd/stikadoo-edge
	touch -d @$(SOURCE_DATE_EPOCH) $(DEB_DIR)/$*/stikadoo-edge
	rm -f $(DEB_DIR)/stikadoo-edge_*_$*.deb
	DEB_ARCH=$* DEB_VERSION='$(DEB_VERSION)' DEB_BIN=$(DEB_DIR)/$*/stikadoo-edge \
		DEB_LIBC=$$(readelf --version-info $(DEB_DIR)/$*/stikadoo-edge | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1) \
		$(NFPM) package --config systemd/nfpm.yaml --packager deb --target $(DEB_DIR)/

test-install: build ## make install and make uninstall into a throwaway DESTDIR, checking every file
	STIKADOO_MAKE='$(MAKE)' $(GO) test -count=1 -run '^TestMakeInstall$$' -v ./systemd/

test-deb: deb ## build the packages, inspect each and install this machine's into a throwaway root
	STIKADOO_DEB_DIR=$(abspath $(DEB_DIR)) STIKADOO_DEB_ARCHES='$(DEB_ARCHES)' $(GO) test -count=1 -run '^TestDeb' -v ./systemd/

# The Pi packages' binaries start under qemu-user, and whisper.cpp's
# engine, VAD and queue tests pass on the Pi's architectures. The long
# synthetic transcriptions (minutes under emulation) are left to
# `make test-cross`, which runs them all.
PI_ARCHES := $(filter-out $(HOST_ARCH),$(filter arm64 armhf,$(DEB_ARCHES)))
QUICK_CROSS := ^(TestModelLoads|TestTranscribeWithVAD|TestTranscribeShortAudio|TestTranscribeCancelled|TestClose|TestVAD.*|TestVersion|TestQueue.*|TestConfig.*)$$

.PHONY: test-pi $(addprefix test-pi-,$(PI_ARCHES))

test-pi: $(addprefix test-pi-,$(PI_ARCHES)) ## run the Pi packages' binaries and whisper.cpp's quick tests under qemu-user

$(addprefix test-pi-,$(PI_ARCHES)): test-pi-%: deb-%
	$(call cross_exec,$*) $(DEB_DIR)/$*/stikadoo-edge version
	env $(call cross_env,$*) $(GO) test -count=1 -run '$(QUICK_CROSS)' $(if $(call cross_exec,$*),-exec '$(call cross_exec,$*)') ./stt/whispercpp/
