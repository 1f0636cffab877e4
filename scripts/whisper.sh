#!/usr/bin/env bash
# Builds whisper.cpp as static libraries for the Go bindings
# (github.com/ggerganov/whisper.cpp/bindings/go), once per version and
# target, into .cache/whisper/VERSION-TARGET/{include,lib}.
#
# usage: scripts/whisper.sh build  [TARGET]   build unless already built
#        scripts/whisper.sh prefix [TARGET]   print the install folder
#        scripts/whisper.sh libdir [TARGET]   print the folder to link from
#
# TARGET is amd64, arm64 or armhf (32-bit Raspberry Pi OS, with NEON);
# without it, this machine's own. A target other than this machine's is
# cross-compiled with Debian's cross toolchain (scripts/setup.sh TARGET
# installs it).
#
# The sources are whisper.cpp 1.9.1 as published in the npm package
# nodejs-whisper 0.3.1 (under package/cpp/whisper.cpp); the tarball must
# match the pinned integrity hash or nothing is built.
#
# WHISPER_SRC=DIR builds from a local whisper.cpp checkout instead: no
# download and no hash check, into .cache/whisper/local-TARGET, brought up
# to date on every call (cmake rebuilds only what changed).
#
# libdir is lib-ID, a link to lib whose name changes with the libraries'
# contents. Linking from it (CGO_LDFLAGS=-L...) puts the ID into the cgo
# flags that Go's build cache keys on, so a rebuilt library is linked
# again; Go does not look at the library files themselves.
#
# The build log is .cache/whisper/build/KEY/build.log.
set -euo pipefail

readonly version=1.9.1
readonly tarball_url=https://registry.npmjs.org/nodejs-whisper/-/nodejs-whisper-0.3.1.tgz
readonly tarball_sri=sha512-ceoilUVraRuR5FnNyXpGQT2auAR48Oc3AQBEmkXnVpSn9iN6yVRzQBFCqVTGWbk6Wdi95NhvwXNzFvuR7erLWw==
readonly tarball_dir=package/cpp/whisper.cpp
# The static libraries the Go bindings link (-lwhisper -lggml -lggml-base
# -lggml-cpu).
readonly libs=(libwhisper.a libggml.a libggml-base.a libggml-cpu.a)

cd "$(dirname "$0")/.."
readonly cache=$PWD/.cache/whisper

say() { printf 'whisper: %s\n' "$*" >&2; }
fail() {
	say "$*"
	exit 1
}

usage() { fail "usage: scripts/whisper.sh build|prefix|libdir [amd64|arm64|armhf]"; }

host_target() {
	local arch
	arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
	case "$arch" in
	amd64 | x86_64) echo amd64 ;;
	arm64 | aarch64) echo arm64 ;;
	armhf | armv7l) echo armhf ;;
	*) fail "unsupported machine architecture '$arch' (supported: amd64, arm64, armhf)" ;;
	esac
}

(($# >= 1 && $# <= 2)) || usage
cmd=$1
host=$(host_target)
target=${2:-$host}
case "$target" in
amd64 | arm64 | armhf) ;;
*) usage ;;
esac

src=${WHISPER_SRC:-}
if [[ -n "$src" ]]; then
	key=local-$target
else
	key=$version-$target
fi
prefix=$cache/$key
builddir=$cache/build/$key

# The library folder to link from: lib-ID after a build, lib before one.
libdir() {
	local id
	id=$(cat "$prefix/lib.id" 2>/dev/null || true)
	if [[ -n "$id" && -d "$prefix/lib-$id" ]]; then
		echo "$prefix/lib-$id"
	else
		echo "$prefix/lib"
	fi
}

case "$cmd" in
prefix)
	echo "$prefix"
	exit 0
	;;
libdir)
	libdir
	exit 0
	;;
build) ;;
*) usage ;;
esac

# --- cmake flags for the target -------------------------------------------

cmake_flags=(
	-DCMAKE_BUILD_TYPE=Release
	-DBUILD_SHARED_LIBS=OFF
	-DGGML_NATIVE=OFF
	-DGGML_OPENMP=OFF
	-DWHISPER_BUILD_EXAMPLES=OFF
	-DWHISPER_BUILD_TESTS=OFF
	-DWHISPER_BUILD_SERVER=OFF
)
# The cache's path stays out of the libraries (__FILE__ in ggml's
# assertions): the same sources give the same bytes wherever the checkout
# is, so the binaries and packages built from them are reproducible.
cflags="-ffile-prefix-map=$cache=whisper"
# 32-bit Raspberry Pi OS: NEON with VFPv4 (Pi 2 v1.1 and later), hard float.
if [[ "$target" == armhf ]]; then
	cflags+=" -mfpu=neon-vfpv4 -mfloat-abi=hard"
fi
cmake_flags+=("-DCMAKE_C_FLAGS=$cflags" "-DCMAKE_CXX_FLAGS=$cflags")
if [[ "$target" != "$host" ]]; then
	case "$target" in
	amd64) triple=x86_64-linux-gnu processor=x86_64 ;;
	arm64) triple=aarch64-linux-gnu processor=aarch64 ;;
	armhf) triple=arm-linux-gnueabihf processor=armv7l ;;
	esac
	command -v "$triple-g++" >/dev/null 2>&1 ||
		fail "no $triple-g++ to cross-compile for $target: run scripts/setup.sh $target"
	cmake_flags+=(
		-DCMAKE_SYSTEM_NAME=Linux
		"-DCMAKE_SYSTEM_PROCESSOR=$processor"
		"-DCMAKE_C_COMPILER=$triple-gcc"
		"-DCMAKE_CXX_COMPILER=$triple-g++"
		"-DCMAKE_FIND_ROOT_PATH=/usr/$triple"
		-DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER
		-DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY
		-DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY
	)
fi

# What the installed libraries were built from, this script included; a
# different one rebuilds.
recipe=$(sha256sum "$0" | cut -c1-16)
if [[ -n "$src" ]]; then
	config="whisper.cpp from $src for $target (recipe $recipe): ${cmake_flags[*]}"
else
	config="whisper.cpp $version ($tarball_sri) for $target (recipe $recipe): ${cmake_flags[*]}"
fi

if [[ -z "$src" && -f "$prefix/.stamp" && "$(<"$prefix/.stamp")" == "$config" && -d "$(libdir)" ]]; then
	exit 0
fi

command -v cmake >/dev/null 2>&1 || fail "cmake is missing: run scripts/setup.sh"

# One build at a time per cache (make -j, or two make commands at once).
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Another process may have built it while this one waited.
if [[ -z "$src" && -f "$prefix/.stamp" && "$(<"$prefix/.stamp")" == "$config" && -d "$(libdir)" ]]; then
	exit 0
fi

# --- sources --------------------------------------------------------------

# The SRI form of a file's SHA-512: sha512-BASE64.
sri_of() {
	if command -v openssl >/dev/null 2>&1; then
		printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
	else
		local hex
		hex=$(sha512sum "$1" | cut -d' ' -f1)
		# shellcheck disable=SC2059,SC2001 # the hex digits become \x escapes
		printf 'sha512-%s' "$(printf "$(sed 's/../\\x&/g' <<<"$hex")" | base64 -w0)"
	fi
}

fetch() {
	local out=$1 tmp
	tmp=$(mktemp -d "$cache/fetch.XXXXXX")
	# shellcheck disable=SC2064 # expand tmp now
	trap "rm -rf '$tmp'" EXIT
	say "downloading the whisper.cpp $version sources ($tarball_url)"
	if command -v curl >/dev/null 2>&1; then
		curl -fsSL --retry 3 -o "$tmp/sources.tgz" "$tarball_url" ||
			fail "download of $tarball_url failed"
	elif command -v npm >/dev/null 2>&1; then
		(cd "$tmp" && npm pack --silent nodejs-whisper@0.3.1 >/dev/null) ||
			fail "npm pack nodejs-whisper@0.3.1 failed"
		mv "$tmp"/nodejs-whisper-0.3.1.tgz "$tmp/sources.tgz"
	else
		fail "neither curl nor npm is installed to download the whisper.cpp sources (apt-get install curl)"
	fi
	local got
	got=$(sri_of "$tmp/sources.tgz")
	if [[ "$got" != "$tarball_sri" ]]; then
		fail "refusing to build: the downloaded whisper.cpp sources do not match the pinned hash
  url:      $tarball_url
  expected: $tarball_sri
  got:      $got
  (WHISPER_SRC=DIR builds from a local whisper.cpp checkout instead)"
	fi
	mv "$tmp/sources.tgz" "$out"
}

if [[ -n "$src" ]]; then
	[[ -f "$src/CMakeLists.txt" && -f "$src/include/whisper.h" ]] ||
		fail "WHISPER_SRC=$src is not a whisper.cpp checkout (no CMakeLists.txt and include/whisper.h)"
	src=$(cd "$src" && pwd)
	say "bringing whisper.cpp from $src for $target up to date"
else
	tgz=$cache/nodejs-whisper-0.3.1.tgz
	# A kept tarball is checked again: a damaged one is fetched anew.
	if [[ ! -f "$tgz" ]] || [[ "$(sri_of "$tgz")" != "$tarball_sri" ]]; then
		rm -f "$tgz"
		fetch "$tgz"
	fi
	src=$cache/src/whisper.cpp-$version
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xzf "$tgz" -C "$src.tmp" --strip-components=3 "$tarball_dir"
	mv "$src.tmp" "$src"
	# The sources lie inside this repository's work tree: keep its git
	# commit out of ggml's build information, so that the libraries
	# depend on the sources and flags alone.
	export GIT_CEILING_DIRECTORIES=$cache/src
	say "building whisper.cpp $version for $target (about a minute on two cores; log: ${builddir#"$PWD"/}/build.log)"
	# From scratch: nothing of an earlier build is trusted.
	rm -rf "$builddir" "$prefix"
fi

# --- build and install ------------------------------------------------------

start=$SECONDS
mkdir -p "$builddir"
log=$builddir/build.log
run() {
	if ! "$@" >>"$log" 2>&1; then
		tail -n 40 "$log" >&2
		fail "whisper.cpp build failed: $* (full log: $log)"
	fi
}
: >"$log"
rm -f "$prefix/.stamp"
run cmake -S "$src" -B "$builddir" "${cmake_flags[@]}"
run cmake --build "$builddir" --parallel "$(nproc 2>/dev/null || echo 2)"
run cmake --install "$builddir" --prefix "$prefix"

for lib in "${libs[@]}"; do
	[[ -f "$prefix/lib/$lib" ]] || fail "the whisper.cpp build installed no $prefix/lib/$lib (see $log)"
done
[[ -f "$prefix/include/whisper.h" ]] || fail "the whisper.cpp build installed no $prefix/include/whisper.h (see $log)"

id=$(cat "$prefix"/lib/*.a "$prefix"/include/*.h | sha256sum | cut -c1-16)
rm -f "$prefix"/lib-*
ln -s lib "$prefix/lib-$id"
echo "$id" >"$prefix/lib.id"
printf '%s\n' "$config" >"$prefix/.stamp.tmp"
mv "$prefix/.stamp.tmp" "$prefix/.stamp"
say "built in $((SECONDS - start)) s: ${prefix#"$PWD"/}"
