# Sourced by netback.sh in dom0 (its helpers), and by the driver domain's own /scenario.sh.
# RESULT driver-domain: the daemon runs in a PV guest, "netdd" (driver_domain=1), booted from dom0's
# own root filesystem (Xen tools, the wasm-netback package dom0 installed, the hotplug scripts) packed by dom0 as its
# ramdisk, with a /scenario.sh that plays the driver domain: `wasm-netback check` must say "driver
# domain", `xl devd` runs the hotplug scripts there, its bridge ddbr0 is 10.98.0.1. A second guest,
# "ddguest" (10.98.0.2), gets vif = ['backend=netdd,bridge=ddbr0,...']: its device is served by the
# daemon in netdd (vif-bridge, run by xl devd, puts the TAP on ddbr0), ping 3/3 both ways and 4 MiB TCP
# each way between netdd and the guest; then SIGTERM to netdd's daemon closes the device (backend and
# frontend Closed, the TAP gone, exit 0). The two sides talk through netdd's xenstore data/ directory:
# netdd writes netback-state (ready, then done) and netback-result, dom0 writes netback-guest (the domid).
DD_NAME=netdd
DD_IP=10.98.0.1
DD_GUEST_IP=10.98.0.2
DD_MEM=${DD_MEM:-1536}   # its rootfs, a tmpfs of half the memory, must hold the ~250 MiB ramdisk
dd_key() { echo /local/domain/$1/data/netback-$2; }   # domid key
dd_wait_key() { # domid key want secs: until the key reads want
  local i; for i in $(seq 1 $4); do [ "$(xenstore-read $(dd_key $1 $2) 2>/dev/null)" = "$3" ] && return 0; sleep 1; done; return 1; }

driver_domain_pack() { # file: the driver domain's ramdisk, from this root filesystem, without what only
  # dom0 uses (Python for pygrub, other kernel modules, dom0's xenstored database, the guests' kernel,
  # the .deb dom0 installed from)
  local k; k=$(uname -r)
  (cd / && {
    # the modules common.sh loads, with modprobe's indexes: first, so that a ramdisk the guest's
    # rootfs cannot hold whole (its tmpfs takes half the memory) misses something that says so;
    # their parents before them (the kernel's unpacker makes no missing parent)
    printf './usr\n./usr/lib\n./usr/lib/modules\n'
    find ./usr/lib/modules/$k \( -type d -o \( -type f ! -name '*.ko' \) -o -name xenfs.ko -o -name xen-evtchn.ko \
      -o -name xen-gntdev.ko -o -name xen-gntalloc.ko -o -name xen-privcmd.ko -o -name tun.ko -o -name bridge.ko \
      -o -name stp.ko -o -name llc.ko \) -print
    find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./run -o -path ./tmp -o -path ./boot \
      -o -path './usr/lib/python3*' -o -path ./usr/lib/modules -o -path ./var/log -o -path ./var/lib/xenstored \
      -o -path ./opt/wasm-netback-baseline -o -path ./pkg -o -path ./scenario.sh \) -prune -o -print
  } | busybox cpio -o -H newc 2>/dev/null) > $1
  # a second archive: this /scenario.sh, the driver domain's
  rm -rf /tmp/dd-overlay; mkdir -p /tmp/dd-overlay
  printf '#!/bin/bash\nBED_ROLE=driver-domain . /scenario-common.sh\nfor f in /scenarios/*.sh; do . $f; done\ndriver_domain_serve\n' > /tmp/dd-overlay/scenario.sh
  chmod +x /tmp/dd-overlay/scenario.sh
  (cd /tmp/dd-overlay && echo ./scenario.sh | busybox cpio -o -H newc 2>/dev/null) >> $1; }

driver_domain_scenario() { # in dom0
  local t0 t1 t2 dd g free size verdict be beid left=""
  t0=$(now); free=$(xl info 2>/dev/null | awk '/^free_memory/{print $3}')
  # a tmpfs of its own: dom0's root filesystem (the initramfs) has no room left for a second copy
  mkdir -p /tmp/dd-ramdisk; mount -t tmpfs -o size=400m tmpfs /tmp/dd-ramdisk
  driver_domain_pack /tmp/dd-ramdisk/$DD_NAME.cpio; size=$(du -m /tmp/dd-ramdisk/$DD_NAME.cpio | cut -f1)
  cat > /tmp/$DD_NAME.cfg <<CFG
name = "$DD_NAME"
type = "pv"
kernel = "/boot/vmlinuz"
ramdisk = "/tmp/dd-ramdisk/$DD_NAME.cpio"
extra = "console=hvc0 rdinit=/init"
memory = $DD_MEM
vcpus = 2
driver_domain = 1
on_crash = "destroy"
CFG
  t1=$(now)
  xl create /tmp/$DD_NAME.cfg > /tmp/xl.out 2>&1; umount /tmp/dd-ramdisk
  dd=$(xl domid $DD_NAME 2>/dev/null)
  echo "driver domain: $DD_NAME is domain ${dd:-none}, ramdisk ${size} MiB packed in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')s, free memory before ${free} MiB"
  if [ -n "$dd" ] && dd_wait_key $dd state ready 600; then
    t2=$(now)
    GUEST_NET=10.98.0 GUEST_VIF="backend=$DD_NAME,bridge=ddbr0" GUEST_MEM=128 guest_cfg ddguest 1 2
    # created paused, and unpaused once xl devd's vif-bridge in netdd reported: libxl kills a hotplug
    # script after 40 s (LIBXL_HOTPLUG_TIMEOUT), and under the emulator the script and the guest's
    # boot share two emulated CPUs (one full run saw vif-bridge killed with the TAP on ddbr0, its
    # hotplug-status never written). The daemon in netdd serves the vif either way.
    xl create -p /tmp/ddguest.cfg >> /tmp/xl.out 2>&1; g=$(xl domid ddguest 2>/dev/null)
    local hs_key=/local/domain/$dd/backend/vif/${g:-none}/0/hotplug-status i
    for i in $(seq 1 180); do [ -n "$(xenstore-read $hs_key 2>/dev/null)" ] && break; sleep 0.5; done
    echo "driver domain: ddguest (domain ${g:-none}) created paused; hotplug-status '$(xenstore-read $hs_key 2>/dev/null)' after $(awk -v a=$t2 -v b=$(now) 'BEGIN{printf "%.1f", b-a}')s; unpaused"
    xl unpause ddguest >> /tmp/xl.out 2>&1
    # dom0's view: the guest's vif has its backend in netdd, and dom0 serves nothing of it
    be=$(xenstore-read /local/domain/${g:-none}/device/vif/0/backend 2>/dev/null)
    beid=$(xenstore-read /local/domain/${g:-none}/device/vif/0/backend-id 2>/dev/null)
    [ -n "$(xenstore-list /local/domain/0/backend/vif/${g:-none} 2>/dev/null)" ] && left="dom0-backend"
    xenstore-write $(dd_key $dd guest) "${g:-none}"
    dd_wait_key $dd state done 600
    verdict=$(xenstore-read $(dd_key $dd result) 2>/dev/null)
  fi
  timeout 30 xl destroy ddguest >/dev/null 2>&1
  # what netdd printed (its console, kept by xenconsoled)
  grep -a '^DD ' /var/log/xen/console/guest-$DD_NAME.log 2>/dev/null | tr -d '\r'
  timeout 30 xl destroy $DD_NAME >/dev/null 2>&1
  local up; up=$([ -n "${t2:-}" ] && awk -v a=$t1 -v b=$t2 'BEGIN{printf "%.1f", b-a}' || echo never)
  case "$verdict" in
    PASS\ *)
      if [ "$be" = /local/domain/$dd/backend/vif/$g/0 ] && [ "$beid" = "$dd" ] && [ -z "$left" ]; then
        result driver-domain PASS "domain $dd ($DD_NAME, driver_domain=1, ${size} MiB ramdisk, ready ${up}s after xl create); guest $g's vif backend $be: ${verdict#PASS }"
      else result driver-domain FAIL "guest $g's vif backend=$be backend-id=$beid ${left}; netdd: $verdict"; fi;;
    *)
      result driver-domain FAIL "domain=${dd:-none} ready=${up} guest=${g:-none} netdd: ${verdict:-no verdict}"
      tr '\n' ' ' < /tmp/xl.out | sed 's/^/DIAG driver-domain: xl /'; echo
      tail -n 25 /var/log/xen/console/guest-$DD_NAME.log 2>/dev/null | tr -d '\r' | sed 's/^/DIAG driver-domain: console /';;
  esac
}

driver_domain_serve() { # in netdd: /scenario.sh
  local me g be fs bs hs on xline crc t traffic dpid src gone why=""
  hostname $DD_NAME
  me=$(xenstore-read domid)
  say() { echo "DD $*"; }
  ip link add ddbr0 type bridge; ip addr add $DD_IP/16 dev ddbr0; ip link set ddbr0 up
  wasm-netback check > /tmp/check.out 2>&1; crc=$?
  xline=$(grep -E '^[a-zA-Z]+ +xen: ' /tmp/check.out | tr -s ' ')
  say "check rc=$crc: $(tr -s ' ' < /tmp/check.out | tr '\n' ';')"
  xl devd -F > /tmp/devd.log 2>&1 &
  wasm-netback daemon --log-format json > /tmp/daemon.log 2>&1 & dpid=$!
  for t in $(seq 1 480); do grep -q '"msg":"ready"' /tmp/daemon.log && break; kill -0 $dpid 2>/dev/null || break; sleep 0.5; done
  say "daemon: $(grep -o '"msg":"ready"[^}]*' /tmp/daemon.log | head -c 200)"
  xenstore-write $(dd_key $me state) ready
  for t in $(seq 1 600); do g=$(xenstore-read $(dd_key $me guest) 2>/dev/null) && break; sleep 1; done
  be=/local/domain/$me/backend/vif/$g/0; GUEST=$DD_GUEST_IP
  for t in $(seq 1 240); do [ "$(xenstore-read $be/state 2>/dev/null)" = 4 ] && break; sleep 0.5; done
  wait_ping $GUEST 120 >/dev/null && wait_guest 60 >/dev/null || why="$why guest-unreachable"
  hs=$(xenstore-read $be/hotplug-status 2>/dev/null)
  on=$(ip -o link show master ddbr0 2>/dev/null | grep -c "vif$g\.0")
  traffic=$([ -z "$why" ] && hotplug_traffic $GUEST $DD_IP || echo "not up")
  [ "$traffic" = "3 3 $((4*1048576)) $((4*1048576))" ] || why="$why traffic"
  # the daemon stopped under the running guest: the device closes cleanly
  kill -TERM $dpid; for t in $(seq 1 100); do kill -0 $dpid 2>/dev/null || break; sleep 0.1; done
  kill -0 $dpid 2>/dev/null && kill -KILL $dpid; wait $dpid; src=$?
  for t in $(seq 1 20); do [ "$(xenstore-read /local/domain/$g/device/vif/0/state 2>/dev/null)" = 6 ] && break; sleep 0.5; done
  bs=$(xenstore-read $be/state 2>/dev/null); fs=$(xenstore-read /local/domain/$g/device/vif/0/state 2>/dev/null)
  gone=$([ -e /sys/class/net/vif$g.0 ] && echo no || echo yes)
  echo "$xline" | grep -q 'ok xen: driver domain' || why="$why check"
  [ "$hs" = connected ] && [ "$on" = 1 ] || why="$why hotplug"
  [ "$src" = 0 ] && [ "$bs" = 6 ] && [ "$fs" = 6 ] && [ $gone = yes ] && grep -q '"msg":"stopped"' /tmp/daemon.log || why="$why stop"
  local facts="check '$xline' (rc $crc); xl devd ran vif-bridge (hotplug-status $hs, vif$g.0 on ddbr0: $on); pings out/in, bytes guest-tx/guest-rx: $traffic; daemon stopped (exit $src): backend $bs frontend $fs, TAP gone: $gone"
  if [ -z "$why" ]; then xenstore-write $(dd_key $me result) "PASS $facts"
  else
    xenstore-write $(dd_key $me result) "FAIL$why: $facts"
    tail -n 15 /tmp/daemon.log | sed 's/^/DD daemon /'; tail -n 10 /tmp/devd.log | sed 's/^/DD devd /'
    tail -n 10 /var/log/xen/xen-hotplug.log 2>/dev/null | sed 's/^/DD hotplug /'
  fi
  say "verdict: $(xenstore-read $(dd_key $me result))"
  xenstore-write $(dd_key $me state) done
  while true; do sleep 3600; done   # dom0 destroys this domain
}
