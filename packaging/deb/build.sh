#!/usr/bin/env bash
# npm run package: the Debian package a dom0 installs (Debian 12 bookworm and 13 trixie, the dom0s
# of Xen 4.17 and 4.20), built with dpkg-deb in a temporary directory into deb/ (git-ignored).
#
#   /usr/lib/wasm-netback/          dist/ (the JavaScript and the visualizer page), build/*.wasm,
#                                   prebuilds/linux-<arch>/ (the native addon, prebuilt: a dom0 has
#                                   no compiler), node_modules/ (production dependencies only),
#                                   bin/node (the Node.js runtime this package was built and tested with)
#   /usr/bin/wasm-netback           runs dist/src/cli/main.js with that runtime
#   /usr/lib/systemd/system/wasm-netback.service   packaging/systemd/, ExecStart=/usr/bin/wasm-netback daemon
#   /etc/default/wasm-netback       packaging/systemd/wasm-netback.default (a conffile)
#
# Node.js is bundled rather than depended on: Debian 12's archive has nodejs 18 and the daemon
# needs >= 20, so a Depends: nodejs (>= 20) would send a bookworm dom0 to a third-party archive;
# and the runtime the tests ran is then the runtime the daemon runs (its symbol table stripped, ~86 MB).
# Its shared-library needs (and the addon's) become Depends: through dpkg-shlibdeps.
#
# Compressed with zstd (dpkg reads it since 1.21.18; bookworm has 1.21.22): xz took minutes on the
# ~90 MB runtime, zstd seconds.
#
# Env: DEB_OUT (default <repo>/deb), DEB_NODE (the node binary to bundle, default the one running npm),
# DEB_SKIP_BUILD=1 (package the tree as built, e.g. right after npm test built it).
# A package built from the sources (no DEB_SKIP_BUILD, no DEB_NODE) gets <deb>.inputs beside it: the
# hash packaging/deb/inputs.sh prints for the tree it was built from (npm run test:xen reuses it then).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
OUT="${DEB_OUT:-$ROOT/deb}"
NODE="$(readlink -f "${DEB_NODE:-$(node -p process.execPath)}")"
t0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - t0 ))s] $*"; }
for tool in dpkg-deb dpkg-shlibdeps strip; do
  command -v "$tool" >/dev/null || { echo "npm run package: $tool not found (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

inputs=""; [ "${DEB_SKIP_BUILD:-0}" != 1 ] && [ -z "${DEB_NODE:-}" ] && inputs="$(bash packaging/deb/inputs.sh)"
if [ "${DEB_SKIP_BUILD:-0}" != 1 ]; then
  step "build the kernels, the JavaScript and the page; the prebuilt addon for this machine"
  npm run build:prebuilds -- "$(node -p process.arch)" > /dev/null 2>&1 || { npm run build:prebuilds -- "$(node -p process.arch)"; exit 1; }
  npm run build > /dev/null
fi

version="$(node -p "require('./package.json').version")"
arch="$(dpkg --print-architecture)"
nodearch="$("$NODE" -p process.arch)"
case "$arch/$nodearch" in amd64/x64|arm64/arm64) ;; *) echo "npm run package: dpkg says $arch, $NODE is $nodearch" >&2; exit 1 ;; esac
addon=(prebuilds/linux-"$nodearch"/*.node)
[ -f "${addon[0]}" ] || { echo "npm run package: no prebuilt addon in prebuilds/linux-$nodearch (npm run build:prebuilds)" >&2; exit 1; }
for f in dist/src/cli/main.js build/netback.wasm dist/viz/index.html; do
  [ -f "$f" ] || { echo "npm run package: $f is not built (npm run build)" >&2; exit 1; }
done
grep -qx 'ExecStart=/usr/bin/wasm-netback daemon' packaging/systemd/wasm-netback.service \
  || { echo "npm run package: the unit's ExecStart= is not /usr/bin/wasm-netback daemon" >&2; exit 1; }

T="$(mktemp -d)"; trap 'rm -rf "$T"' EXIT
P="$T/root"; L="$P/usr/lib/wasm-netback"; DOC="$P/usr/share/doc/wasm-netback"
step "stage wasm-netback $version for $arch in $T"
mkdir -p "$L/build" "$L/prebuilds" "$L/bin" "$P/usr/bin" "$P/usr/lib/systemd/system" "$P/etc/default" "$DOC" "$P/DEBIAN"
cp -a dist package.json "$L/"
cp build/netback.wasm build/netback.debug.wasm "$L/build/"
cp -a "prebuilds/linux-$nodearch" "$L/prebuilds/"
# the production dependency tree, as npm resolved it (no registry access at package time)
# (the top-level directories: each carries its own nested node_modules)
npm ls --omit=dev --all --parseable | sed -n "s|^$ROOT/||p" | grep -E '^node_modules/(@[^/]+/)?[^/]+$' | while read -r dir; do
  mkdir -p "$L/$(dirname "$dir")"; cp -a "$dir" "$L/$dir"
done
strip -o "$L/bin/node" "$NODE"
cat > "$P/usr/bin/wasm-netback" <<'EOF'
#!/bin/sh
# wasm-netback with the Node.js runtime it was packaged with (/usr/lib/wasm-netback/bin/node)
exec /usr/lib/wasm-netback/bin/node /usr/lib/wasm-netback/dist/src/cli/main.js "$@"
EOF
chmod 755 "$P/usr/bin/wasm-netback"
install -m 644 packaging/systemd/wasm-netback.service "$P/usr/lib/systemd/system/"
install -m 644 packaging/systemd/wasm-netback.default "$P/etc/default/wasm-netback"
echo /etc/default/wasm-netback > "$P/DEBIAN/conffiles"
{
  echo "wasm-netback is MIT licensed (package.json). It bundles:"
  echo " - Node.js $("$NODE" --version) (/usr/lib/wasm-netback/bin/node), whose license follows;"
  echo " - its npm dependencies under /usr/lib/wasm-netback/node_modules, each with its license file."
  echo
  node_license="$(dirname "$NODE")/../share/doc/nodejs/LICENSE"
  [ -f "$node_license" ] && cat "$node_license" || echo "Node.js: MIT (https://nodejs.org/en/about); its LICENSE was not found next to $NODE"
} > "$DOC/copyright"
[ -f LICENSE ] && cp LICENSE "$DOC/LICENSE"
cp README.md "$DOC/"

step "maintainer scripts"
# The unit is not enabled or started by the package: the kernel's xen-netback must be unloaded
# first (wasm-netback check), and RefuseManualStop= means a package upgrade cannot restart it
# either. On upgrade the running daemon keeps the old code until it is restarted (README).
cat > "$P/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if systemctl is-active --quiet wasm-netback.service; then
    echo "wasm-netback: the running daemon still runs the previous version; 'systemctl kill -s KILL wasm-netback' restarts it into this one and its guests carry on (README: Install on a dom0)"
  fi
fi
EOF
cat > "$P/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
if [ "$1" = purge ]; then rm -f /etc/systemd/system/multi-user.target.wants/wasm-netback.service; fi
EOF
chmod 755 "$P/DEBIAN/postinst" "$P/DEBIAN/postrm"

step "Depends: from dpkg-shlibdeps"
mkdir -p "$T/shlibs/debian"
printf 'Source: wasm-netback\n\nPackage: wasm-netback\nArchitecture: any\n' > "$T/shlibs/debian/control"
shlibs="$(cd "$T/shlibs" && dpkg-shlibdeps -O -e"$L/bin/node" "${addon[@]/#/-e$ROOT/}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "npm run package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
cat > "$P/DEBIAN/control" <<EOF
Package: wasm-netback
Version: $version
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-wasm-netback developers <wasm-netback@localhost>}
Installed-Size: $(du -sk --exclude=DEBIAN "$P" | cut -f1)
Depends: $shlibs, procps
Recommends: xen-utils-common
Section: net
Priority: optional
Description: userspace Xen network backend whose packet code is WebAssembly
 wasm-netback serves the vif devices xl/libxl create for Xen guests in place
 of the kernel's xen-netback: it speaks the netif ring protocol to each
 guest's netfront and joins every vif to a Linux TAP named vif<domid>.<devid>.
 Every piece of code that touches a guest-controlled byte is AssemblyScript
 compiled to WebAssembly.
 .
 The package bundles the Node.js runtime it was built and tested with and a
 prebuilt native addon; it installs wasm-netback.service (not enabled).
EOF
(cd "$P" && find usr -type f -print0 | sort -z | xargs -0 md5sum) > "$P/DEBIAN/md5sums"

step "dpkg-deb"
mkdir -p "$OUT"
deb="$OUT/wasm-netback_${version}_${arch}.deb"
rm -f "$deb.inputs"
dpkg-deb --root-owner-group -Zzstd --build "$P" "$deb" > /dev/null
[ -z "$inputs" ] || echo "$inputs" > "$deb.inputs"
step "$deb ($(du -h "$deb" | cut -f1)): Depends: $shlibs, procps"
