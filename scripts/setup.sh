#!/usr/bin/env bash
# Prepares a Debian or Raspberry Pi OS machine to build and test
# stikadoo-edge: checks the Go toolchain and installs the C libraries the
# build needs. Safe to run again; silent when everything is in place.
#
# Debian packages are installed only when allowed:
#   - when running as root, or through sudo when it works without a
#     password prompt;
#   - STIKADOO_APT=1 allows sudo even when it asks for a password;
#   - STIKADOO_APT=0 never installs: the apt-get command is printed instead.
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages: Opus decoding (cgo) needs libopus-dev and pkg-config,
# and cgo needs a C compiler and the C library headers.
packages=(libopus-dev pkg-config gcc libc6-dev)

say() { printf 'setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

# --- Go ---------------------------------------------------------------

# The version go.mod asks for ("go 1.26.8").
need_go=$(awk '$1 == "go" { print $2; exit }' go.mod)
need_go=${need_go:-1.26}

go_bin=$(command -v go || true)
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
	go_bin=/usr/local/go/bin/go
fi

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
case "$arch" in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
armhf | armv7l | armv6l) arch=armv6l ;;
esac
go_howto="Install Go ${need_go} or newer from https://go.dev/dl/ (Debian's golang package is too old), for example:
    curl -LO https://go.dev/dl/go${need_go}.linux-${arch}.tar.gz
    sudo rm -rf /usr/local/go && sudo tar -C /usr/local -xzf go${need_go}.linux-${arch}.tar.gz
  then add /usr/local/go/bin to PATH (or leave it there: the Makefile looks in /usr/local/go/bin)."

if [[ -z "$go_bin" ]]; then
	fail "Go is not installed (no 'go' on PATH or in /usr/local/go/bin).
  $go_howto"
fi

# The toolchain itself, not one it would download.
have_go=$(GOTOOLCHAIN=local "$go_bin" env GOVERSION 2>/dev/null || true)
have_go=${have_go#go}
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }
if [[ -z "$have_go" ]] || ! version_ge "$have_go" 1.26; then
	fail "Go ${have_go:-of unknown version} at $go_bin is too old: stikadoo-edge needs Go ${need_go}.
  $go_howto"
fi
if ! version_ge "$have_go" "$need_go"; then
	toolchain=$("$go_bin" env GOTOOLCHAIN 2>/dev/null || echo auto)
	if [[ "$toolchain" == local* ]]; then
		fail "Go $have_go is older than the go $need_go that go.mod asks for, and GOTOOLCHAIN=$toolchain forbids fetching it.
  $go_howto"
	fi
	say "note: Go $have_go will fetch the go$need_go toolchain on the first build (this needs the internet once)."
fi

# --- Debian packages ----------------------------------------------------

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${packages[@]}"; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
		[[ "$status" == installed ]] || missing+=("$p")
	done
else
	# Not Debian: check for what the packages provide.
	pkg-config --exists opus 2>/dev/null || missing+=("libopus development files (opus.pc)")
	command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
	command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=("a C compiler")
	if ((${#missing[@]})); then
		fail "missing: ${missing[*]}. Install them with your system's package manager."
	fi
fi

if ((${#missing[@]} == 0)); then
	exit 0
fi

apt_cmd=(apt-get install -y --no-install-recommends "${missing[@]}")
sudo=()
allowed=no
if [[ "${STIKADOO_APT:-}" == 0 ]]; then
	allowed=no
elif [[ $(id -u) == 0 ]]; then
	allowed=yes
elif command -v sudo >/dev/null 2>&1; then
	if sudo -n true 2>/dev/null; then
		sudo=(sudo -n)
		allowed=yes
	elif [[ "${STIKADOO_APT:-}" == 1 ]]; then
		sudo=(sudo)
		allowed=yes
	fi
fi

if [[ $allowed != yes ]]; then
	fail "missing Debian packages: ${missing[*]}. Install them with:
    sudo apt-get update && sudo ${apt_cmd[*]}
  (or run 'STIKADOO_APT=1 make setup' to let this script use sudo)."
fi

say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt_cmd[@]}"
