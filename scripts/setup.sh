#!/usr/bin/env bash
# Prepares a Debian or Raspberry Pi OS machine to build and test
# stikadoo-edge: checks the Go toolchain and installs the C libraries and
# tools the build needs. Safe to run again; silent when everything is in
# place.
#
# usage: scripts/setup.sh [amd64|arm64|armhf]...
#
# With no argument it prepares the native build. Each argument also
# prepares cross-compiling for that Raspberry Pi system (make build-arm64,
# make build-armhf): Debian's cross toolchain, libopus for that
# architecture (multiarch: dpkg --add-architecture) and qemu-user to run
# the result.
#
# Debian packages are installed only when allowed:
#   - when running as root, or through sudo when it works without a
#     password prompt;
#   - STIKADOO_APT=1 allows sudo even when it asks for a password;
#   - STIKADOO_APT=0 never installs: the apt-get command is printed instead.
set -euo pipefail

cd "$(dirname "$0")/.."

# Debian packages: Opus decoding (cgo) needs libopus-dev and pkg-config,
# cgo needs a C compiler and the C library headers, and whisper.cpp
# (scripts/whisper.sh) builds with cmake and a C++ compiler.
packages=(libopus-dev pkg-config gcc libc6-dev g++ cmake)
# The service's tests run systemd-analyze verify on the unit (systemd),
# and make deb's tests read and install the packages with dpkg and
# readelf (binutils).
packages+=(systemd binutils)

say() { printf 'setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

# Cross-compiling targets: their Debian architectures, to add to dpkg.
# The target's libopus-dev (to link) and libstdc++6 (to run the result
# under qemu-user) come from Debian multiarch.
# A target that is this machine's own architecture needs nothing more.
native_arch=$(dpkg --print-architecture 2>/dev/null || true)
foreign=()
for target in "$@"; do
	[[ "$target" == "$native_arch" ]] && continue
	case "$target" in
	arm64)
		packages+=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libopus-dev:arm64 libstdc++6:arm64 qemu-user)
		foreign+=(arm64)
		;;
	armhf)
		packages+=(gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libopus-dev:armhf libstdc++6:armhf qemu-user)
		foreign+=(armhf)
		;;
	amd64)
		packages+=(gcc-x86-64-linux-gnu g++-x86-64-linux-gnu libopus-dev:amd64 libstdc++6:amd64 qemu-user)
		foreign+=(amd64)
		;;
	*) fail "unknown target '$target' (known: amd64, arm64, armhf)" ;;
	esac
done

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
add_arch=()
if command -v dpkg-query >/dev/null 2>&1; then
	for a in "${foreign[@]}"; do
		dpkg --print-foreign-architectures | grep -x "$a" >/dev/null || add_arch+=("$a")
	done
	for p in "${packages[@]}"; do
		[[ " ${missing[*]} " == *" $p "* ]] && continue
		# One line per installed architecture of the package; a name
		# without ":ARCH" means this machine's (or "all").
		want=${p#*:}
		[[ "$p" == *:* ]] || want=$native_arch
		dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "${p%%:*}" 2>/dev/null |
			grep -E "^installed ($want|all)\$" >/dev/null || missing+=("$p")
	done
else
	# Not Debian: check for what the packages provide.
	pkg-config --exists opus 2>/dev/null || missing+=("libopus development files (opus.pc)")
	command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
	command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=("a C compiler")
	command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || missing+=("a C++ compiler")
	command -v cmake >/dev/null 2>&1 || missing+=(cmake)
	((${#foreign[@]} == 0)) || missing+=("Debian's cross toolchains (cross-compiling is set up on Debian only)")
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
	add_arch_cmd=
	for a in "${add_arch[@]}"; do
		add_arch_cmd+="sudo dpkg --add-architecture $a && "
	done
	fail "missing Debian packages: ${missing[*]}. Install them with:
    ${add_arch_cmd}sudo apt-get update && sudo ${apt_cmd[*]}
  (or run 'STIKADOO_APT=1 make setup' to let this script use sudo)."
fi

for a in "${add_arch[@]}"; do
	say "adding the Debian architecture $a (for its libopus)"
	"${sudo[@]}" dpkg --add-architecture "$a"
done
say "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A Debian mirror caught mid-sync fails an index now and then ("File has
# unexpected size"); apt-get update is tried again after a pause, and a
# failure of one index (say, a foreign architecture's) does not stop the
# install, which needs only the indexes of the packages it installs.
apt_update() {
	local try
	for try in 1 2 3; do
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq && return 0
		((try < 3)) || break
		say "apt-get update failed (try $try of 3); trying again in $((try * 10)) s"
		sleep $((try * 10))
	done
	say "apt-get update reported errors (above); installing with the indexes it has"
	return 0
}
apt_update
for try in 1 2; do
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive "${apt_cmd[@]}" && exit 0
	((try < 2)) || break
	say "apt-get install failed; refreshing the indexes and trying once more"
	sleep 15
	apt_update
done
fail "could not install ${missing[*]} with apt-get (see its errors above)"
