#!/bin/bash
# A Debian base system for the package test, as a dom0 has it before wasm-netback: debootstrap
# (minbase) of SUITE, then systemd, procps and xen-utils-common (Debian's Xen init scripts and,
# on trixie, its xen.service and xendomains.service) from the same archive, apt lists kept so
# `apt install ./x.deb` can resolve Depends. Built once into <repo>/.cache/debian-chroot/SUITE
# (git-ignored; DEBIAN_CHROOT_CACHE overrides) and rebuilt when this recipe changes; tests mount an
# overlay on it and never change it. Prints the directory.
#   usage: debian-chroot.sh bookworm|trixie
set -euo pipefail
SUITE="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${DEBIAN_CHROOT_CACHE:-$(cd "$HERE/../.." && pwd)/.cache/debian-chroot}"
# Debian's mirror as this machine's apt has it (first URI of its deb822 sources), else deb.debian.org
MIRROR="${MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
R="$CACHE/$SUITE"
recipe="$(sha256sum "$0" | cut -d' ' -f1) $MIRROR"
if [ -f "$R/.recipe" ] && [ "$(cat "$R/.recipe")" = "$recipe" ]; then echo "$R"; exit 0; fi

command -v debootstrap >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
T="$R.tmp"
rm -rf "$T"; mkdir -p "$CACHE"
t0=$(date +%s)
debootstrap --variant=minbase "$SUITE" "$T" "$MIRROR" > "$CACHE/$SUITE-debootstrap.log" 2>&1 \
  || { tail -30 "$CACHE/$SUITE-debootstrap.log" >&2; exit 1; }
t1=$(date +%s)
# no service may start inside the chroot
printf '#!/bin/sh\nexit 101\n' > "$T/usr/sbin/policy-rc.d"; chmod +x "$T/usr/sbin/policy-rc.d"
mount -t proc proc "$T/proc"; trap 'umount "$T/proc" 2>/dev/null || true' EXIT
chroot "$T" apt-get update -qq >&2
chroot "$T" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd procps xen-utils-common \
  > "$CACHE/$SUITE-apt.log" 2>&1 || { tail -30 "$CACHE/$SUITE-apt.log" >&2; exit 1; }
chroot "$T" apt-get clean
umount "$T/proc"; trap - EXIT
echo "$recipe" > "$T/.recipe"
rm -rf "$R"; mv "$T" "$R"
echo "debian-chroot: $SUITE built in $(( $(date +%s) - t0 )) s (debootstrap $(( t1 - t0 )) s)" >&2
echo "$R"
