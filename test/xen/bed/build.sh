#!/bin/bash
# Build a Xen-under-QEMU(TCG) test bed from Debian bookworm packages (adapted from the CEO's
# shared xen-testbed recipe; the guest's 5001 stream length is read from /tmp/zero.blocks).
# Everything goes into <repo>/.cache/xen-testbed (git-ignored; XEN_TESTBED_CACHE overrides). Idempotent: each step is skipped
# when its output already exists; delete cache/<thing> to redo a step.
#
# Outputs:
#   cache/xen.elf              Xen 4.17 hypervisor (multiboot ELF) built from Debian's source package
#                              with shadow paging (xen.elf.source says which version)
#   cache/vmlinuz              Debian 6.1 kernel (PV dom0 and PV domU)
#   cache/dom0-base.cpio       dom0 root filesystem as an (uncompressed) initramfs
#   cache/domU.cpio.gz         tiny busybox initramfs for the PV domU (with xen-netfront.ko)
#
# Host needs (installed if missing): debootstrap busybox-static cpio qemu-system-x86
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
C="${XEN_TESTBED_CACHE:-$(cd "$HERE/../../.." && pwd)/.cache/xen-testbed}"
# Mirrors: whatever this machine's apt is already set up with (first two URIs in its deb822 sources).
apt_uri() { awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n "${1}p"; }
MIRROR="${MIRROR:-$(apt_uri 1)}"
SECMIRROR="${SECMIRROR:-$(apt_uri 2)}"
[ -n "$MIRROR" ] || { echo "no apt mirror found; set MIRROR" >&2; exit 1; }
mkdir -p "$C/debs"
t0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - t0 ))s] $*"; }

need=""
for p in debootstrap:debootstrap busybox:busybox-static cpio:cpio qemu-system-x86_64:qemu-system-x86 zstd:zstd \
         gcc:gcc make:make flex:flex bison:bison python3:python3 dpkg-source:dpkg-dev; do
  command -v "${p%%:*}" >/dev/null || need="$need ${p#*:}"
done
if [ -n "$need" ]; then
  step "apt-get install$need (host tools)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi

# ---------------------------------------------------------------- packages
KPKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
if [ -z "$KPKG" ]; then apt-get update -qq; KPKG="$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"; fi
KVER="${KPKG#linux-image-}"
XENPKG="$(apt-cache search --names-only '^xen-hypervisor-4\.[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -1)"
XENVER="${XENPKG#xen-hypervisor-}"; XENVER="${XENVER%-amd64}"
step "kernel package $KPKG, Xen tools $XENVER"
cd "$C/debs"
ls ${KPKG}_*.deb >/dev/null 2>&1 || apt-get download "$KPKG"
cd "$C"

# The hypervisor is built from Debian's own source package, Debian's configuration plus shadow
# paging: Debian's binary xen-hypervisor-4.17 has CONFIG_SHADOW_PAGING unset, and without it a PV
# guest cannot enter log-dirty mode, so `xl migrate` of a PV guest fails ('Failed to enable
# logdirty: 95'). The tools stay Debian's binaries (the same 4.17 interfaces). The source comes from
# the release's main suite (its security pool serves binaries only here); apt checks it against
# the signed Sources index. A cache from before (Debian's binary, no xen.elf.source) is rebuilt.
if [ ! -s "$C/xen.elf" ] || [ ! -s "$C/xen.elf.source" ]; then
  CODENAME="$(. /etc/os-release && echo "$VERSION_CODENAME")"
  step "build hypervisor from Debian's xen source ($CODENAME), with shadow paging"
  A="$C/x/apt-src"; rm -rf "$A" "$C/x/xensrc"; mkdir -p "$A/lists/partial" "$C/x/xensrc"
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $CODENAME main" > "$A/sources.list"
  APT_SRC=(-o Dir::Etc::SourceList="$A/sources.list" -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists="$A/lists")
  apt-get "${APT_SRC[@]}" update -qq
  (cd "$C/x/xensrc" && apt-get "${APT_SRC[@]}" source --download-only -qq xen > /dev/null 2>&1 && dpkg-source -x --no-check xen_*.dsc src > /dev/null)
  X="$C/x/xensrc/src"
  cp "$X/debian/xen-kconfig" "$X/xen/.config"; echo CONFIG_SHADOW_PAGING=y >> "$X/xen/.config"
  make -C "$X/xen" olddefconfig > "$C/xen-build.log" 2>&1
  grep -q '^CONFIG_SHADOW_PAGING=y' "$X/xen/.config" || { echo "the hypervisor's config has no shadow paging" >&2; exit 1; }
  make -C "$X/xen" -j"$(nproc)" >> "$C/xen-build.log" 2>&1 || { tail -20 "$C/xen-build.log"; exit 1; }
  cp "$X/xen/xen" "$C/xen.elf.tmp" && mv "$C/xen.elf.tmp" "$C/xen.elf"
  ls "$C/x/xensrc"/xen_*.dsc | xargs -n1 basename > "$C/xen.elf.source"
  rm -rf "$C/x/xensrc"
fi
if [ ! -s "$C/vmlinuz" ]; then
  step "extract kernel"
  rm -rf "$C/x/kernel"; mkdir -p "$C/x/kernel"
  dpkg -x "$C"/debs/${KPKG}_*.deb "$C/x/kernel"
  cp "$C/x/kernel/boot/vmlinuz-$KVER" "$C/vmlinuz"
fi
echo "$KVER" > "$C/kver"

# ---------------------------------------------------------------- dom0 rootfs
R="$C/dom0root"
# (also redone for a cache from before vif-openvswitch and vif-route were scenarios: OVS, ifconfig)
if [ ! -e "$R/.done" ] || [ ! -x "$R/usr/bin/ovs-vsctl" ] || [ ! -x "$R/sbin/ifconfig" ]; then
  step "debootstrap dom0 rootfs (minbase bookworm)"
  rm -rf "$R"
  debootstrap --variant=minbase --include=ca-certificates "${DEBOOTSTRAP_SUITE:-bookworm}" "$R" "$MIRROR" > "$C/debootstrap.log" 2>&1 \
    || { tail -30 "$C/debootstrap.log"; exit 1; }
  cat > "$R/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECMIRROR bookworm-security main
EOF
  # no services may start inside the chroot
  printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
  mount -t proc proc "$R/proc"; trap 'umount "$R/proc" 2>/dev/null || true' EXIT
  step "chroot apt-get install xen-utils-$XENVER etc."
  chroot "$R" apt-get update -qq
  chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "xen-utils-$XENVER" xen-utils-common xenstore-utils iproute2 kmod busybox procps \
      iputils-ping bridge-utils tcpdump strace openvswitch-switch net-tools > "$C/chroot-apt.log" 2>&1 || { tail -30 "$C/chroot-apt.log"; exit 1; }
  umount "$R/proc"; trap - EXIT
  step "add kernel modules $KVER"
  rm -rf "$R/lib/modules"; mkdir -p "$R/lib/modules"
  cp -a "$C/x/kernel/lib/modules/$KVER" "$R/lib/modules/"
  # keep only what a netback test bed can use (net, xen, virtio, block, 9p...): shrinks the initramfs a lot
  M="$R/lib/modules/$KVER/kernel"
  find "$M" -name '*.ko' | grep -Ev "/kernel/(net|lib|crypto|arch|drivers/(xen|net|block|virtio|char|pci|base)|fs/(9p|netfs|fscache|overlayfs|fuse|ext4|jbd2|mbcache))/" | xargs rm -f
  rm -rf "$M/drivers/net/wireless" "$M/drivers/net/ethernet" "$M/drivers/net/can" "$M/drivers/net/usb" \
         "$M/drivers/net/wwan" "$M/drivers/net/ieee802154" "$M/drivers/net/hamradio" "$M/drivers/net/wan" \
         "$M/net/bluetooth" "$M/net/wireless" "$M/net/mac80211" "$M/net/can"
  find "$M" -type d -empty -delete
  chroot "$R" depmod -a "$KVER"
  step "trim rootfs"
  rm -rf "$R"/usr/share/doc/* "$R"/usr/share/man/* "$R"/usr/share/info/* "$R"/usr/share/locale/* \
         "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/*_Packages \
         "$R"/usr/share/i18n "$R"/usr/share/zoneinfo "$R"/usr/lib/udev/hwdb.bin "$R"/var/lib/apt/lists/*
  touch "$R/.done"
fi

# dom0 runs the Node.js of the package it installs (npm run test:xen): a cache from before that has
# the host's node in /usr/local/bin, which goes (the initramfs is repacked once)
if [ -e "$R/usr/local/bin/node" ]; then rm -f "$R/usr/local/bin/node"; touch "$R/.done"; fi

# dom0 /init: mounts, then runs /scenario.sh (supplied by boot.sh in an appended cpio), then powers off.
# (written only when it changed: a newer /init repacks the 330 MB initramfs, ~10 s a run)
cat > "$C/init.new" <<'EOF'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /var/run /var/log/xen /var/lib/xen /var/lib/xenstored /run/xen /run/xenstored
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mkdir -p /run/xen /run/xenstored /run/lock
hostname dom0
ip link set lo up
echo "INIT: dom0 userspace up at $(cut -d' ' -f1 /proc/uptime)s uptime"
if [ -x /scenario.sh ]; then
  /scenario.sh
  echo "INIT: scenario exited rc=$?"
else
  echo "INIT: no /scenario.sh"; /bin/bash
fi
sync
echo o > /proc/sysrq-trigger 2>/dev/null
poweroff -f
EOF
cmp -s "$C/init.new" "$R/init" || cp "$C/init.new" "$R/init"; rm -f "$C/init.new"
chmod +x "$R/init"

if [ ! -s "$C/dom0-base.cpio" ] || [ "$R/init" -nt "$C/dom0-base.cpio" ] || [ "$R/.done" -nt "$C/dom0-base.cpio" ]; then
  step "pack dom0 initramfs"
  (cd "$R" && find . -path ./proc -prune -o -print | cpio -o -H newc --quiet) > "$C/dom0-base.cpio.tmp"
  mv "$C/dom0-base.cpio.tmp" "$C/dom0-base.cpio"
fi

# ---------------------------------------------------------------- domU initramfs
# (rebuilt when the cached init predates guest_ip=, so a second guest can take another address)
if [ ! -s "$C/domU.cpio.gz" ] || ! grep -q guest_ip= "$C/domUroot/init" 2>/dev/null; then
  step "build domU busybox initramfs"
  rm -f "$C/domU.cpio.gz"
  U="$C/domUroot"; rm -rf "$U"; mkdir -p "$U"/{bin,sbin,etc,dev,proc,sys,tmp,lib/modules}
  cp "$(command -v busybox)" "$U/bin/busybox"
  for a in $("$U/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$U/bin/$a"; done
  KM="$C/x/kernel/lib/modules/$KVER/kernel"
  cp "$KM/drivers/net/xen-netfront.ko" "$U/lib/modules/"
  cat > "$U/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "DOMU: up"
insmod /lib/modules/xen-netfront.ko
ip link set lo up
# test services, reached from dom0 through the vif under test:
#   7000 a shell (commands on stdin), 5001 streams 100 MiB of zeros,
#   5002 swallows what it gets and leaves the byte count in /tmp/rx.count
printf '#!/bin/sh\ndd if=/dev/zero bs=65536 count=$(cat /tmp/zero.blocks 2>/dev/null || echo 1600) 2>/dev/null\n' > /bin/zerosrc
printf '#!/bin/sh\nwc -c > /tmp/rx.count\n' > /bin/sinksrv
chmod +x /bin/zerosrc /bin/sinksrv
nc -ll -p 7000 -e /bin/sh &
nc -ll -p 5001 -e /bin/zerosrc &
nc -ll -p 5002 -e /bin/sinksrv &
echo "DOMU: services up"
# the address: guest_ip= on the kernel command line (xl `extra`), else 169.254.99.2
IP=$(sed -n 's/.*guest_ip=\([0-9.]*\).*/\1/p' /proc/cmdline); IP=${IP:-169.254.99.2}
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done
# keep eth0 configured, also after `xl network-detach` / `network-attach` brings a new device
( while true; do
    if [ -e /sys/class/net/eth0 ] && ! ip addr show eth0 2>/dev/null | grep -q "$IP/"; then
      ip link set eth0 up; ip addr add $IP/16 dev eth0; echo "DOMU: eth0 configured as $IP"
    fi
    sleep 1
  done ) &
while true; do sleep 3600; done
EOF
  chmod +x "$U/init"
  (cd "$U" && find . | cpio -o -H newc --quiet | gzip -9) > "$C/domU.cpio.gz"
fi
ls -la "$C"/xen.elf "$C"/vmlinuz "$C"/dom0-base.cpio "$C"/domU.cpio.gz
step "build done"
