#!/usr/bin/env bash
# npm run build:prebuilds [ARCH...]: the addon for linux-x64 and linux-arm64 (or the ARCHs named)
# into prebuilds/<platform>-<arch>/, named as node-gyp-build looks them up (prebuildify --napi
# --tag-libc: the glibc builds; musl and other platforms build from source at install). N-API is
# ABI-stable, so one binary per architecture serves every Node >= 20. The other architecture is
# cross-compiled with Debian's gcc cross compiler against this Node's headers (the N-API headers
# are the same on every architecture). It builds in a scratch copy of the sources: node-gyp
# rebuild starts by deleting build/, which holds the built kernels too.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREBUILDIFY="$ROOT/node_modules/.bin/prebuildify"
declare -A GNU=([x64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu)
host=$(node -p process.arch)
archs=("$@"); [ $# -gt 0 ] || archs=(x64 arm64)
S="$(mktemp -d)"; trap 'rm -rf "$S"' EXIT
cp -a "$ROOT/package.json" "$ROOT/binding.gyp" "$ROOT/native" "$S/"
cd "$S"
for arch in "${archs[@]}"; do
  [ -n "${GNU[$arch]:-}" ] || { echo "build:prebuilds: no recipe for $arch" >&2; exit 1; }
  if [ "$arch" = "$host" ]; then "$PREBUILDIFY" --napi --strip --tag-libc; continue; fi
  cc="${GNU[$arch]}-gcc"
  command -v "$cc" >/dev/null || { echo "build:prebuilds: $cc not found (apt-get install gcc-${GNU[$arch]//_/-})" >&2; exit 1; }
  CC="$cc" LINK="$cc" PREBUILD_STRIP_BIN="${GNU[$arch]}-strip" "$PREBUILDIFY" --napi --strip --tag-libc --arch "$arch"
done
mkdir -p "$ROOT/prebuilds"
for dir in prebuilds/*; do rm -rf "${ROOT:?}/$dir"; cp -a "$dir" "$ROOT/prebuilds/"; done
