#!/usr/bin/env bash
# Builds the native half of Jazzer.js (@jazzer.js/fuzzer's addon) against Debian's libFuzzer and puts it
# where @jazzer.js/fuzzer 4.0.0 loads it from (node_modules/@jazzer.js/fuzzer/prebuilds/fuzzer-linux-x64.node).
#
# Why: the prebuilt addon in @jazzer.js/fuzzer 4.0.0 needs glibc 2.38 (__isoc23_strtol; Debian 12 has 2.36),
# and its CMake build downloads a libFuzzer fork from GitHub. This builds the addon's C++ sources (the last
# npm release that ships them, @jazzer.js/fuzzer 2.1.0, whose native interface 4.0.0 keeps, plus the one
# function 4.0.0 added) and links them with the static libFuzzer of Debian's libclang-rt-16-dev;
# upstream-libfuzzer.cpp provides what only the fork had (see there). Inputs come from the npm registry
# (checked against a pinned hash) and Debian. The result is cached under ~/.cache/skiff; `npm ci` replaces
# node_modules, so this runs again (in well under a second when cached) before every fuzzing run.
set -euo pipefail
cd "$(dirname "$0")"
native_dir="$PWD"
repo_root="$(cd ../../.. && pwd)"

sources_version=2.1.0
sources_integrity='sha512-WroUAGH1+AFoI+5kRGOjvh9+1GsYEmCinvEt9yF0E0pBTeadssCG6Y8adeYh6W0rum2LjPsjVfLEWMunRLt/Ew=='
libfuzzer="${SKIFF_LIBFUZZER_ARCHIVE:-/usr/lib/llvm-16/lib/clang/16/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a}"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "jazzer native build: only Linux x86-64 is supported (this is $(uname -s)-$(uname -m))" >&2
  exit 1
fi
if [ ! -f "$libfuzzer" ]; then
  echo "jazzer native build: libFuzzer archive $libfuzzer not found; install Debian's libclang-rt-16-dev" \
    "(apt-get install libclang-rt-16-dev) or point SKIFF_LIBFUZZER_ARCHIVE at a libclang_rt.fuzzer_no_main archive" >&2
  exit 1
fi
fuzzer_package="$repo_root/node_modules/@jazzer.js/fuzzer"
installed_version="$(node -p "require('$fuzzer_package/package.json').version" 2>/dev/null || true)"
if [ "$installed_version" != "4.0.0" ]; then
  echo "jazzer native build: expected @jazzer.js/fuzzer 4.0.0 in $fuzzer_package, found '${installed_version:-nothing}' (run npm ci)" >&2
  exit 1
fi
headers="$repo_root/node_modules/node-api-headers/include"
addon_api="$repo_root/node_modules/node-addon-api"
for dir in "$headers" "$addon_api"; do
  if [ ! -d "$dir" ]; then
    echo "jazzer native build: $dir missing (run npm ci)" >&2
    exit 1
  fi
done

# The cache key covers everything the binary is built from.
key="$( (cat build.sh jazzer-fuzzer-2.1.0.patch upstream-libfuzzer.cpp include/fuzzer/FuzzerDefs.h "$libfuzzer" \
  "$headers/node_api.h" "$addon_api/package.json"; echo "$sources_integrity"; c++ --version) | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/skiff/jazzer-fuzzer-$key"
built="$cache/fuzzer-linux-x64.node"
target="$fuzzer_package/prebuilds/fuzzer-linux-x64.node"

if [ ! -f "$built" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "@jazzer.js/fuzzer@$sources_version" >/dev/null)
  tarball="$work/jazzer.js-fuzzer-$sources_version.tgz"
  actual="sha512-$(node -e "process.stdout.write(require('crypto').createHash('sha512').update(require('fs').readFileSync(process.argv[1])).digest('base64'))" "$tarball")"
  if [ "$actual" != "$sources_integrity" ]; then
    echo "jazzer native build: @jazzer.js/fuzzer@$sources_version tarball hash $actual, expected $sources_integrity" >&2
    exit 1
  fi
  tar -xzf "$tarball" -C "$work"
  patch -s -p1 -d "$work/package" < jazzer-fuzzer-2.1.0.patch
  mkdir -p "$cache"
  # NAPI_VERSION=4 as the package's CMakeLists sets it; the whole archive goes in, as there, so that
  # libFuzzer's hooks are all present for the instrumented JavaScript to reach.
  c++ -std=c++17 -O2 -fPIC -shared -fvisibility=hidden -DNAPI_VERSION=4 -DNODE_ADDON_API_DISABLE_DEPRECATED \
    -I"$headers" -I"$addon_api" -I"$native_dir/include" -I"$work/package" \
    "$work/package"/*.cpp "$work/package"/shared/*.cpp "$native_dir/upstream-libfuzzer.cpp" \
    -Wl,--whole-archive "$libfuzzer" -Wl,--no-whole-archive -lpthread \
    -o "$built.tmp"
  mv "$built.tmp" "$built"
fi

if ! cmp -s "$built" "$target"; then
  cp "$built" "$target"
fi
