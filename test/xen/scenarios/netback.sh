#!/bin/bash
# Runs inside dom0 of the test bed (as /scenario.sh; /scenario-common.sh is the bed's helpers).
# 0 package-install: `dpkg -i` of this tree's Debian package (/pkg, npm run package), as an operator
#   installs it; every step below runs what it installed (/usr/bin/wasm-netback, its bundled node).
# 1 ping: wasm-netback daemon serves guest1's vif; stock vif-bridge enslaves vif<D>.0; pings both ways.
# 2 bulk: BULK_MB each way over TCP, byte counts checked; guest /proc/net/dev vs TAP counters.
# 3 detach-attach: `xl network-detach`/`network-attach` 10 times, then traffic flows;
#   destroy: `xl destroy` in the middle of a transfer, the vif goes away, a new guest works;
# 4 two-queues: that new guest has 2 vCPUs and negotiates 2 queues, traffic flows;
#   two-guests: a second guest at once, the two talk through the bridge;
# 5 rate: `rate=` in the vif spec limits guest TX, measured;
# 6 crash-restart: the daemon killed (SIGKILL) mid-transfer and restarted: the guest carries on
#   (persistent TAP still on the bridge, rings resumed), no TAP left over;
#   restart: the daemon stopped (SIGTERM) and restarted under a running guest: the vif reconnects or
#   is closed cleanly (then a re-attach works), never wedged.
# 7 ipv6: ping6 and bulk TCP over IPv6 both ways, GSO and checksum offload negotiated (scenarios/ipv6.sh)
# 8 save-restore: `xl save` mid-transfer, `xl restore` (new domid): reconnects, the transfer
#   completes, nothing of the old domid left in the daemon, dom0 or Xen (scenarios/domid-change.sh)
# 9 vif-route, vif-openvswitch: the stock scripts attach the TAP, traffic flows (scenarios/hotplug.sh);
#   jumbo: mtu=9000, 9014-byte frames cross unsegmented both ways (scenarios/jumbo.sh);
#   driver-domain: the daemon in a driver domain serves a second guest's vif, `xl devd` runs
#   vif-bridge there; ping and TCP both ways, stopping it closes the device (scenarios/driver-domain.sh);
#   migrate: `xl migrate` of a PV guest to this host, pings counted across it (scenarios/domid-change.sh)
# (scenarios 3-9 run when EXTRA_SCENARIOS=1, the default; XEN_SCENARIOS picks among them)
# shutdown: SIGTERM closes the vif (backend Closed, TAP gone) within seconds.
# baseline: the kernel's xen-netback on the same workload in the same boot; both throughputs (guest TX, guest RX, and guest to guest).
# Every check prints `RESULT <name> PASS|FAIL ...`.
. /scenario-common.sh
BULK_MB=${BULK_MB:-32}
[ "${PROFILE:-0}" = 1 ] && DAEMON_NODE_FLAGS="${DAEMON_NODE_FLAGS:-} --cpu-prof --cpu-prof-dir=/tmp/prof"
echo "daemon node flags: ${DAEMON_NODE_FLAGS:-none}"
# the installed package: its Node.js runs the `$NODE -e` checks below and DAEMON_NODE_FLAGS' daemon
NB=/usr/lib/wasm-netback; NODE=$NB/bin/node
result() { echo "RESULT $*"; }
# the extra scenarios to run (run.sh's XEN_SCENARIOS)
want() { case " ${XEN_SCENARIOS:-lifecycle ipv6 save-restore vif-route vif-openvswitch jumbo driver-domain migrate} " in *" $1 "*) return 0;; esac; return 1; }
# counters of an interface in dom0 / eth0 in the guest
ifc() { cat /sys/class/net/$1/statistics/$2 2>/dev/null || echo -1; }
guest_dev() { gsh "cat /proc/net/dev" | awk -v f=$1 '/eth0:/{sub(/.*eth0:/,""); split($0,a," "); print a[f]}'; }
within() { # a b tolerance-bytes: |a-b| <= tol
  awk -v a=$1 -v b=$2 -v t=$3 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=t && a>0)}'; }
# CPU seconds so far: dom0's and the guest's vCPUs (Xen's accounting), and the daemon's user/system
# time when $2 is its pid. Printed per bulk direction, so a ratio comes with where the time went.
cpu_mark() { # guest-domid [daemon-pid]
  local x; x=$(xl list 2>/dev/null | awk -v d=$1 '$2==0{z=$6} $2==d{g=$6} END{print z+0, g+0}')
  # the whole process's user/system seconds, then its main thread's (the rest is V8's and libuv's threads)
  local p="0 0 0 0"; [ -n "${2:-}" ] && [ -r /proc/$2/stat ] &&
    p="$(sed 's/^.*) //' /proc/$2/stat | awk '{print $12/100, $13/100}') $(sed 's/^.*) //' /proc/$2/task/$2/stat | awk '{print $12/100, $13/100}')"
  echo "$x $p"; }
cpu_report() { # label direction wall-seconds "before" "after"
  awk -v l="$1" -v d="$2" -v w="$3" -v a="$4" -v b="$5" 'BEGIN{split(a,x," "); split(b,y," ");
    printf "cpu %s %s: wall %.1fs, dom0 %.1fs, guest %.1fs, daemon user %.2fs sys %.2fs (main thread %.2fs %.2fs)\n", l, d, w, y[1]-x[1], y[2]-x[2], y[3]-x[3], y[4]-x[4], y[5]-x[5], y[6]-x[6]}'; }
bulk() { # label [daemon-pid] -> sets TX_MBIT RX_MBIT TX_OK RX_OK
  local want=$((BULK_MB*1048576)) dom; dom=$(xl domid ${GUESTNAME:-guest1} 2>/dev/null || echo -1)
  gsh "echo $((BULK_MB*16)) > /tmp/zero.blocks" >/dev/null
  local c0 c1 f0; c0=$(cpu_mark $dom ${2:-}); f0=$(ifc vif$dom.0 rx_packets)
  local t0=$(now) n=$(timeout 150 busybox nc $GUEST 5001 | wc -c) t1=$(now)
  c1=$(cpu_mark $dom ${2:-})
  echo "frames $1 guest-tx: $(( $(ifc vif$dom.0 rx_packets) - f0 )) from the guest"
  TX_MBIT=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  TX_OK=$([ "$n" = "$want" ] && echo PASS || echo FAIL)
  echo "$1 guest-tx bytes=$n want=$want Mbit/s=$TX_MBIT"
  cpu_report $1 guest-tx $(awk -v a=$t0 -v b=$t1 'BEGIN{print b-a}') "$c0" "$c1"
  c0=$(cpu_mark $dom ${2:-}); f0=$(ifc vif$dom.0 tx_packets)
  t0=$(now); dd if=/dev/zero bs=65536 count=$((BULK_MB*16)) 2>/dev/null | timeout 150 busybox nc -w 5 $GUEST 5002; t1=$(now)
  c1=$(cpu_mark $dom ${2:-})
  echo "frames $1 guest-rx: $(( $(ifc vif$dom.0 tx_packets) - f0 )) to the guest"
  sleep 1; n=$(gsh "cat /tmp/rx.count" | tr -d ' \n')
  RX_MBIT=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  RX_OK=$([ "$n" = "$want" ] && echo PASS || echo FAIL)
  echo "$1 guest-rx bytes=$n want=$want Mbit/s=$RX_MBIT"
  cpu_report $1 guest-rx $(awk -v a=$t0 -v b=$t1 'BEGIN{print b-a}') "$c0" "$c1"
}


diag_run() { # guest-tx|guest-rx: the diagnostics' smaller run (8 MiB) one way
  if [ $1 = guest-tx ]; then guest_tx 8 120 > /dev/null
  else dd if=/dev/zero bs=65536 count=128 2>/dev/null | timeout 120 busybox nc -w 5 $GUEST 5002; fi; }
during_diag_run() { # direction stdout-file tool...: the tool runs in the background across diag_run
  # (its stdout to the file, stderr dropped), then SIGINT ends it
  "${@:3}" > $2 2>/dev/null & local tool=$!; sleep 1
  diag_run $1
  kill -INT $tool 2>/dev/null; wait $tool 2>/dev/null || true; }
strace_counts() { # pid: system calls per direction (STRACE=1), with the frames each run moved
  [ "${STRACE:-0}" = 1 ] || return 0
  local dir from to
  for dir in guest-tx guest-rx; do
    from=$(ifc $VIF rx_packets); to=$(ifc $VIF tx_packets)
    during_diag_run $dir /dev/null strace -c -f -p $1 -o /tmp/strace.$dir
    echo "STRACE $dir frames from/to the guest $(( $(ifc $VIF rx_packets) - from ))/$(( $(ifc $VIF tx_packets) - to ))"
    sed "s/^/STRACE $dir /" /tmp/strace.$dir | head -n 25
  done; }
frame_sizes() { # label: sizes of the TCP data frames on the vif in a smaller run per direction
  # (FRAMES=1): a GSO frame crosses the vif as one long frame, so this shows how much the senders
  # batch per frame with each backend
  [ "${FRAMES:-0}" = 1 ] || return 0
  local v dir; v=vif$(xl domid ${GUESTNAME:-guest1}).0
  for dir in guest-tx guest-rx; do
    during_diag_run $dir /tmp/tcpdump.$dir tcpdump -i $v -nn -q -s 96 -c 6000 tcp
    awk -v l="$1" -v d=$dir '$NF ~ /^[0-9]+$/ && $NF > 0 {n++; b+=$NF; if ($NF > 1448) big++}
      END {printf "FRAMES %s %s: %d data frames, mean payload %.0f B, %.0f%% longer than one MSS\n", l, d, n, n ? b/n : 0, n ? 100*big/n : 0}' /tmp/tcpdump.$dir
  done; }
guest_to_guest() { # label [daemon-pid]: a guest sending to a second guest through the bridge, both vifs on the
  # backend under test (on unless G2G=0). The sender is then a guest's TCP, not a dom0 socket, whose small-queue
  # limits see the kernel backend's queue but not a TAP's (tun orphans each frame it queues).
  G2G_MBIT=none; [ "${G2G:-1}" = 1 ] || return 0
  local peer=169.254.99.3 t0 t1 n c0 c1 dom
  guest_cfg $1peer 1 3
  xl create /tmp/$1peer.cfg >/dev/null 2>&1
  if wait_ping $peer 90 >/dev/null && GUEST=$peer wait_guest 60 >/dev/null; then
    dom=$(xl domid ${GUESTNAME:-guest1} 2>/dev/null || echo -1); c0=$(cpu_mark $dom ${2:-})
    t0=$(now); gsh "dd if=/dev/zero bs=65536 count=$((BULK_MB*16)) 2>/dev/null | nc -w 5 $peer 5002" >/dev/null; t1=$(now)
    c1=$(cpu_mark $dom ${2:-})
    sleep 1; n=$(GUEST=$peer gsh "cat /tmp/rx.count" | tr -d ' \n')
    [ "$n" = $((BULK_MB*1048576)) ] && G2G_MBIT=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
    echo "G2G $1 guest-to-guest: bytes=$n want=$((BULK_MB*1048576)) Mbit/s=$G2G_MBIT"
    cpu_report $1 guest-to-guest $(awk -v a=$t0 -v b=$t1 'BEGIN{print b-a}') "$c0" "$c1"  # "guest": the sender
  else echo "G2G $1: the peer guest did not come up"; fi
  timeout 30 xl destroy $1peer >/dev/null 2>&1; }
perf_profile() { # label: where dom0's CPU goes (PERF=1; perf is not in the default test bed): one
  # smaller run per direction under a system-wide cpu-clock profile, by command/object and by symbol
  [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null || return 0
  for dir in guest-tx guest-rx; do
    during_diag_run $dir /dev/null perf record -a -e cpu-clock -F 499 -o /tmp/perf.$dir.data
    perf report -i /tmp/perf.$dir.data --stdio --no-children -g none --sort comm,dso 2>/dev/null | grep -E '^ +[0-9]' | head -n 15 | sed "s/^/PERF $1 $dir /"
    perf report -i /tmp/perf.$dir.data --stdio --no-children -g none --comm node --sort sym 2>/dev/null | grep -E '^ +[0-9]' | head -n 30 | sed "s/^/PERF $1 $dir node /"
  done; }
bstate() { xenstore-read /local/domain/0/backend/vif/$1/$2/state 2>/dev/null || echo gone; }
wait_bstate() { # domid devid want secs
  for i in $(seq 1 $(( $4 * 2 ))); do [ "$(bstate $1 $2)" = "$3" ] && return 0; sleep 0.5; done; return 1; }
first_vif_devid() { xenstore-list /local/domain/0/backend/vif/$1 2>/dev/null | head -n1; }
diag() { # what a failed vif step left behind
  echo "DIAG $1: backend $(xenstore-ls /local/domain/0/backend/vif/$D 2>&1 | grep -E '^ *[0-9]+ |state|online|hotplug' | tr -s ' ' | tr '\n' ';')"
  echo "DIAG $1: frontend $(xenstore-ls /local/domain/$D/device/vif 2>&1 | grep -E '^ *[0-9]+ |state' | tr -s ' ' | tr '\n' ';')"
  echo "DIAG $1: xl $(tr '\n' ' ' < /tmp/xl.out 2>/dev/null)"
  tail -n 12 /tmp/daemon.log | sed "s/^/DIAG $1: daemon /"; }
daemon_start() { # ready-lines [main.js of another build]: the installed command, or the package's
  # node with DAEMON_NODE_FLAGS when there are any (or for the baseline's build)
  if [ -z "${DAEMON_NODE_FLAGS:-}" ] && [ -z "${2:-}" ]; then
    wasm-netback daemon --log-format json --viz 7041 >> /tmp/daemon.log 2>&1 &
  else $NODE ${DAEMON_NODE_FLAGS:-} ${2:-$NB/dist/src/cli/main.js} daemon --log-format json --viz 7041 >> /tmp/daemon.log 2>&1 &
  fi
  DPID=$!
  for i in $(seq 1 60); do [ "$(grep -c '"msg":"ready"' /tmp/daemon.log)" -ge "$1" ] && return 0; kill -0 $DPID 2>/dev/null || return 1; sleep 0.5; done; return 1; }

echo "=== package install"
pkg=$(ls /pkg/wasm-netback_*.deb); t0=$(now)
dpkg -i $pkg > /tmp/dpkg.log 2>&1; drc=$?; t1=$(now)
tail -n 3 /tmp/dpkg.log | sed 's/^/package: dpkg: /'
pst=$(dpkg-query -W -f='${Status} ${Version}' wasm-netback 2>&1)
pcmd=$(command -v wasm-netback); pver=$(wasm-netback --version 2>&1)
punit=$(grep -x 'ExecStart=/usr/bin/wasm-netback daemon' /usr/lib/systemd/system/wasm-netback.service 2>&1)
pconf=$(dpkg-query -W -f='${Conffiles}' wasm-netback 2>&1 | awk '{print $1}')
# nothing else that could run: no checkout, no node of the host's
pother=$(ls -d /opt/wasm-netback /usr/local/bin/node 2>/dev/null | tr '\n' ' ')
if [ $drc = 0 ] && [ "$pst" = "install ok installed $PKG_VERSION" ] && [ "$pcmd" = /usr/bin/wasm-netback ] && [ "$pver" = "$PKG_VERSION" ] \
   && [ -n "$punit" ] && [ "$pconf" = /etc/default/wasm-netback ] && [ -f /etc/default/wasm-netback ] && [ -x $NODE ] && [ -z "$pother" ]; then
  result package-install PASS "dpkg -i $(basename $pkg) in $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')s: $pst; $pcmd --version $pver; unit $punit; conffile $pconf; $(du -sm $NB | cut -f1) MB in $NB; no other node or checkout in dom0"
else
  result package-install FAIL "dpkg rc=$drc status='$pst' command=$pcmd version=$pver (want $PKG_VERSION) unit='$punit' conffiles='$pconf' other:${pother:-none}"
  tail -n 20 /tmp/dpkg.log | sed 's/^/DIAG package: /'
fi
echo "dom0 memory: $(free -m | awk '/Mem:/{print "total="$2" used="$3" free="$4" avail="$7}') overcommit=$(cat /proc/sys/vm/overcommit_memory) max_map_count=$(cat /proc/sys/vm/max_map_count)"
memwatch() { while kill -0 $1 2>/dev/null; do echo "MEM: $(free -m | awk '/Mem:/{print "avail="$7}') daemon $(awk '/^(VmRSS|VmSize|Threads)/{printf "%s%s ", $1, $2}' /proc/$1/status 2>/dev/null) maps=$(wc -l < /proc/$1/maps 2>/dev/null)"; sleep ${2:-3}; done; }
echo "=== preflight"; wasm-netback check; echo "check rc=$?"
: > /tmp/daemon.log
# the daemon that runs is the package's: /usr/bin/wasm-netback execs its bundled node
if daemon_start 1 && { [ -n "${DAEMON_NODE_FLAGS:-}" ] || [ "$(readlink /proc/$DPID/exe)" = $NODE ]; }; then result daemon-ready PASS "after ${i} polls, $(readlink /proc/$DPID/exe) $(tr '\0' ' ' < /proc/$DPID/cmdline | cut -d' ' -f2-3)"
else result daemon-ready FAIL "exe $(readlink /proc/$DPID/exe)"; cat /tmp/daemon.log; fi

guest_cfg guest1 1
xl create /tmp/guest1.cfg > /tmp/xl-create.log 2>&1; echo "xl create rc=$?"; cat /tmp/xl-create.log | tail -5
D=$(xl domid guest1 2>/dev/null); VIF=vif$D.0
echo "guest1 is domain $D"
ok=1
wait_ping $GUEST 90 || ok=0
[ $ok = 1 ] && { wait_guest 60 || ok=0; }
enslaved=$(ip -o link show master xenbr0 2>/dev/null | grep -c "$VIF")
back=$(gsh "ping -c 3 -W 2 169.254.99.1" 2>/dev/null | grep -o '[0-9]* packets received' | cut -d' ' -f1)
echo "bridge members: $(ip -o link show master xenbr0 | awk -F': ' '{print $2}' | tr '\n' ' ')  guest->dom0 received=$back"
echo "backend: $(xenstore-ls /local/domain/0/backend/vif/$D/0 2>/dev/null | grep -E '^(state|hotplug-status|feature-sg|feature-gso-tcpv4) ' | tr -s ' ' | tr '\n' ';')"
if [ $ok = 1 ] && [ "$enslaved" = 1 ] && [ "$back" = 3 ]; then result ping PASS "$VIF on xenbr0, dom0->guest and guest->dom0"; else result ping FAIL "reach=$ok enslaved=$enslaved guest->dom0=$back"; fi

# the visualizer's read-only snapshot of the live daemon: the vif, its state and its real ring indices,
# at the URL with the per-start token the daemon logged (the port refuses any other)
vizurl=$(grep '"event":"viz"' /tmp/daemon.log | tail -n1 | grep -o '"url":"[^"]*"' | cut -d'"' -f4)
snap=$($NODE -e "fetch('${vizurl}snapshot').then(r=>r.json()).then(s=>{const v=s.vifs.find(x=>x.name==='$VIF');console.log(v?[v.state,v.queues.length,v.queues[0].tx.reqProd,v.queues[0].rx.reqProd].join(' '):'absent')}).catch(e=>console.log('error '+e.message))")
case "$snap" in Connected\ *) result viz-snapshot PASS "$VIF: state queues tx.req_prod rx.req_prod = $snap";; *) result viz-snapshot FAIL "$snap";; esac

# `list` / `stats --json` over the live daemon's control socket (root-only, /run/wasm-netback)
lst=$(wasm-netback list --json 2>&1); lrc=$?
lv=$(echo "$lst" | $NODE -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const a=JSON.parse(t);const v=a.vifs.find(x=>x.name==='$VIF');console.log(v?[v.state,v.queues,v.carrier].join(' '):'absent')})" 2>&1)
sts=$(wasm-netback stats --json 2>&1 | $NODE -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const a=JSON.parse(t);const v=a.vifs.find(x=>x.name==='$VIF');console.log(v?Object.keys(v.counters).length+' counters, rx_ring_packets='+v.counters.rx_ring_packets:'absent')})" 2>&1)
sockmode=$(stat -c %a /run/wasm-netback/control.sock 2>/dev/null)
case "$lrc $lv $sts" in "0 Connected 1 true "*counters*) result list-stats PASS "list: $VIF $lv; stats: $sts; socket mode $sockmode";; *) result list-stats FAIL "rc=$lrc list=$lv stats=$sts out=$(echo "$lst" | head -c 200)";; esac

if [ $ok = 1 ]; then
  memwatch $DPID 3 & MW=$!
  bulk wasm $DPID
  kill $MW 2>/dev/null
  W_TX=$TX_MBIT; W_RX=$RX_MBIT
  sleep 1
  g_tx=$(guest_dev 9); g_rx=$(guest_dev 1); t_rx=$(ifc $VIF rx_bytes); t_tx=$(ifc $VIF tx_bytes)
  echo "counters: guest eth0 tx=$g_tx rx=$g_rx  TAP $VIF rx=$t_rx tx=$t_tx packets(rx/tx)=$(ifc $VIF rx_packets)/$(ifc $VIF tx_packets) drops(tx/rx)=$(ifc $VIF tx_dropped)/$(ifc $VIF rx_dropped)"
  # the daemon's own view of the bulk run (frames, GSO, events and notifies per direction)
  echo "counters: daemon $(wasm-netback stats --json 2>&1 | $NODE -e "let t='';process.stdin.on('data',d=>t+=d).on('end',()=>{const v=JSON.parse(t).vifs.find(x=>x.name==='$VIF');console.log(v?Object.entries(v.counters).filter(([k,n])=>n!==0).map(([k,n])=>k+'='+n).join(' '):'absent')})" 2>&1)"
  strace_counts $DPID
  frame_sizes wasm
  guest_to_guest wasm $DPID; W_G2G=$G2G_MBIT
  perf_profile wasm
  tol=$((1048576))
  if [ $TX_OK = PASS ] && [ $RX_OK = PASS ] && within $g_tx $t_rx $tol && within $t_tx $g_rx $tol; then
    result bulk PASS "guest-tx ${W_TX} Mbit/s, guest-rx ${W_RX} Mbit/s, ${BULK_MB} MiB each way, counters agree (guest tx $g_tx ~ TAP rx $t_rx, TAP tx $t_tx ~ guest rx $g_rx)"
  else
    result bulk FAIL "tx=$TX_OK rx=$RX_OK guest tx $g_tx TAP rx $t_rx TAP tx $t_tx guest rx $g_rx"
  fi
else
  result bulk FAIL "no connectivity"
fi


if [ "${EXTRA_SCENARIOS:-1}" != 0 ] && [ $ok = 1 ] && want lifecycle; then
  # 3 detach/attach x10 on the running guest, then traffic
  good=0; why=""
  for k in $(seq 1 10); do
    dev=$(first_vif_devid $D)
    timeout 30 xl network-detach guest1 $dev > /tmp/xl.out 2>&1 || why="$why detach$k-rc"
    for i in $(seq 1 20); do [ -z "$(first_vif_devid $D)" ] && break; sleep 0.5; done
    [ -z "$(first_vif_devid $D)" ] || why="$why detach$k-left-$(bstate $D $dev)"
    [ -z "$why" ] || { diag detach$k; break; }
    timeout 30 xl network-attach guest1 bridge=xenbr0 mac=00:16:3e:00:00:02 > /tmp/xl.out 2>&1 || why="$why attach$k-rc"
    dev=$(first_vif_devid $D)
    if wait_bstate $D "$dev" 4 30 && wait_ping $GUEST 30 >/dev/null; then good=$((good+1)); else why="$why attach$k-state-$(bstate $D "$dev")"; fi
    [ -z "$why" ] || { diag attach$k; break; }
  done
  n=$( [ $good = 10 ] && guest_tx 4 120 || echo 0)
  alive=$(kill -0 $DPID 2>/dev/null && echo yes || echo no)
  if [ $good = 10 ] && [ "$n" = $((4*1048576)) ] && [ $alive = yes ]; then result detach-attach PASS "10 cycles, then 4 MiB guest-tx ok (vif devid $dev)"
  else result detach-attach FAIL "cycles ok=$good guest-tx=$n daemon=$alive$why"; fi

  # 3 destroy in the middle of a guest-tx transfer
  VIFNOW=vif$D.$(first_vif_devid $D)
  gsh "echo 100000 > /tmp/zero.blocks" >/dev/null
  (timeout 12 busybox nc $GUEST 5001 | wc -c > /tmp/mid.count) & MP=$!
  sleep 4; timeout 30 xl destroy guest1; wait $MP
  gone=no; for i in $(seq 1 20); do [ ! -e /sys/class/net/$VIFNOW ] && [ -z "$(first_vif_devid $D)" ] && { gone=yes; break; }; sleep 0.5; done
  alive=$(kill -0 $DPID 2>/dev/null && echo yes || echo no)
  mid=$(cat /tmp/mid.count 2>/dev/null)

  # 4 a new guest with 2 vCPUs: two queues, traffic
  guest_cfg guest3 2
  xl create /tmp/guest3.cfg >/dev/null 2>&1; D=$(xl domid guest3 2>/dev/null); VIF=vif$D.0
  up=0; wait_ping $GUEST 90 >/dev/null && wait_guest 60 >/dev/null && up=1
  if [ $gone = yes ] && [ $alive = yes ] && [ $up = 1 ]; then result destroy PASS "destroyed after ${mid:-?} bytes: $VIFNOW gone, backend removed; new guest (domain $D) up"
  else result destroy FAIL "tap-gone/backend-gone=$gone daemon=$alive mid=$mid new-guest-up=$up"; fi
  nq=$(xenstore-read /local/domain/$D/device/vif/0/multi-queue-num-queues 2>/dev/null)
  qr=$(xenstore-list /local/domain/$D/device/vif/0 2>/dev/null | grep -c '^queue-')
  n=$( [ $up = 1 ] && guest_tx 4 120 || echo 0)
  if [ "$nq" = 2 ] && [ "$qr" = 2 ] && [ "$n" = $((4*1048576)) ]; then result two-queues PASS "2 vCPUs: multi-queue-num-queues=2, queue-0/1 in xenstore, 4 MiB guest-tx ok"
  else result two-queues FAIL "num-queues=$nq queue dirs=$qr guest-tx=$n"; fi

  # 5 rate= limits guest TX (netback credit): re-attach with 2 Mb/s
  GUESTNAME=guest3
  [ $good = 10 ] || { result rate FAIL "not run: detach/attach does not work"; result restart FAIL "not run: detach/attach does not work"; }
  fi
  if [ "${EXTRA_SCENARIOS:-1}" != 0 ] && [ $ok = 1 ] && want lifecycle && [ "$good" = 10 ]; then
  dev=$(first_vif_devid $D)
  timeout 40 xl network-detach guest3 $dev >/dev/null 2>&1
  for i in $(seq 1 40); do [ -z "$(first_vif_devid $D)" ] && break; sleep 0.5; done
  timeout 60 xl network-attach guest3 bridge=xenbr0 mac=00:16:3e:00:00:02 rate=2Mb/s > /tmp/xl.out 2>&1
  dev=$(first_vif_devid $D); VIF=vif$D.$dev
  rate_up=0; wait_bstate $D "$dev" 4 40 && wait_ping $GUEST 40 >/dev/null && wait_guest 30 >/dev/null && rate_up=1
  [ $rate_up = 1 ] || diag rate-attach
  t0=$(now); n=$( [ $rate_up = 1 ] && guest_tx 2 120 || echo 0); t1=$(now)
  mbit=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", n*8/(b-a)/1e6}')
  if [ "$n" = $((2*1048576)) ] && awk -v m=$mbit 'BEGIN{exit !(m <= 2.4 && m > 0.5)}'; then result rate PASS "rate=2Mb/s: 2 MiB guest-tx at $mbit Mbit/s (unlimited: ${W_TX:-?})"
  else result rate FAIL "rate=2Mb/s: bytes=$n at $mbit Mbit/s up=$rate_up"; fi

  # 6 the daemon killed (SIGKILL) in the middle of a guest transfer and started again: its TAP is
  #   persistent, so it stays on xenbr0, and the new process carries on with the guest's rings
  #   (the frontend never leaves Connected); no TAP is left over or duplicated
  gsh "echo 100000 > /tmp/zero.blocks" >/dev/null
  (timeout 6 busybox nc $GUEST 5001 | wc -c > /tmp/mid.count) & MP=$!
  sleep 3; kill -KILL $DPID; wait $DPID 2>/dev/null; wait $MP
  kept=$(ip -o link show master xenbr0 2>/dev/null | grep -c "$VIF[:@]")
  alias=$(cat /sys/class/net/$VIF/ifalias 2>/dev/null)
  t0=$(now); daemon_start 2 && started=yes || started=no
  re=no; for i in $(seq 1 30); do ping -c1 -W1 $GUEST >/dev/null 2>&1 && { re=yes; break; }; sleep 1; done; t1=$(now)
  back=$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')
  fs=$(xenstore-read /local/domain/$D/device/vif/$dev/state 2>/dev/null); bs=$(bstate $D $dev)
  n=$( [ $re = yes ] && wait_guest 30 >/dev/null && guest_tx 1 60 || echo 0)
  taps=$(ls /sys/class/net | grep -c '^vif')
  if [ "$kept" = 1 ] && [ $started = yes ] && [ $re = yes ] && [ "$fs" = 4 ] && [ "$bs" = 4 ] && [ "$n" = 1048576 ] && [ "$taps" = 1 ] \
     && grep -q 'carrying on with' /tmp/daemon.log; then
    result crash-restart PASS "kill -9 after $(cat /tmp/mid.count) bytes of a transfer: $VIF stayed on xenbr0 ($alias); restarted, guest reachable ${back}s later without re-attach (frontend $fs backend $bs); 1 MiB guest-tx ok; $taps vif TAP"
  else
    result crash-restart FAIL "kept-on-bridge=$kept alias=$alias started=$started back=$re frontend=$fs backend=$bs guest-tx=$n vif-taps=$taps"
    diag crash-restart
  fi

  # 6 the daemon stopped and restarted under the running guest
  kill -TERM $DPID; for i in $(seq 1 100); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
  kill -0 $DPID 2>/dev/null && kill -KILL $DPID; wait $DPID; src=$?
  st_stop=$(bstate $D $dev)
  daemon_start 3 && started=yes || started=no
  re=no; for i in $(seq 1 30); do ping -c1 -W1 $GUEST >/dev/null 2>&1 && { re=yes; break; }; sleep 1; done
  how=reconnected
  if [ $re = no ]; then
    # not reconnected: it must be closed cleanly, and a re-attach must work
    fs=$(xenstore-read /local/domain/$D/device/vif/$dev/state 2>/dev/null); bs=$(bstate $D $dev)
    how="closed (frontend $fs backend $bs), re-attached"
    timeout 40 xl network-detach guest3 $dev >/dev/null 2>&1
    for i in $(seq 1 40); do [ -z "$(first_vif_devid $D)" ] && break; sleep 0.5; done
    timeout 40 xl network-attach guest3 bridge=xenbr0 mac=00:16:3e:00:00:02 >/dev/null 2>&1
    dev=$(first_vif_devid $D); VIF=vif$D.$dev
    wait_bstate $D "$dev" 4 40 && wait_ping $GUEST 40 >/dev/null && re=yes
  fi
  n=$( [ $re = yes ] && wait_guest 30 >/dev/null && guest_tx 2 120 || echo 0)
  if [ "$src" = 0 ] && [ "$st_stop" = 6 ] && [ $started = yes ] && [ $re = yes ] && [ "$n" = $((2*1048576)) ]; then
    result restart PASS "stop rc=0 backend Closed; restarted; $how; 2 MiB guest-tx ok"
  else result restart FAIL "stop rc=$src state-after-stop=$st_stop started=$started back=$re how=$how guest-tx=$n"; fi

  # 4 two guests at once (guest_ip= gives the second one 169.254.99.3), talking through the bridge
  guest_cfg guest4 1 3
  xl create /tmp/guest4.cfg >/dev/null 2>&1; D4=$(xl domid guest4 2>/dev/null)
  up4=0; wait_ping 169.254.99.3 90 >/dev/null && GUEST=169.254.99.3 wait_guest 60 >/dev/null && up4=1
  got=$(gsh "ping -c 3 -W 2 169.254.99.3" 2>/dev/null | grep -o '[0-9]* packets received' | cut -d' ' -f1)
  GUEST=169.254.99.3 gsh "echo 16 > /tmp/zero.blocks" >/dev/null
  n=$(gsh "timeout 60 nc 169.254.99.3 5001 | wc -c" 2>/dev/null | tr -d ' \n')
  members=$(ip -o link show master xenbr0 | awk -F': ' '{print $2}' | tr '\n' ' ')
  if [ $up4 = 1 ] && [ "$got" = 3 ] && [ "$n" = 1048576 ]; then result two-guests PASS "domains $D and $D4 on xenbr0 ($members): guest->guest ping 3/3, 1 MiB guest->guest"
  else result two-guests FAIL "second guest up=$up4 ping=$got bytes=$n bridge: $members"; fi
  timeout 30 xl destroy guest4 >/dev/null 2>&1

fi
if [ "${EXTRA_SCENARIOS:-1}" != 0 ] && [ $ok = 1 ]; then
  # the scenarios this file sources are staged in /scenarios
  for f in /scenarios/*.sh; do . $f; done
  # 7 IPv6 on a guest of its own
  if want ipv6; then
    GUEST_MEM=128 guest_cfg guest6 1 7
    xl create /tmp/guest6.cfg >/dev/null 2>&1
    if wait_ping 169.254.99.7 90 >/dev/null && GUEST=169.254.99.7 wait_guest 60 >/dev/null; then
      GUEST=169.254.99.7 ipv6_scenario $(xl domid guest6) fd00:99::7
    else result ipv6 FAIL "guest6 did not come up"; fi
    timeout 30 xl destroy guest6 >/dev/null 2>&1
  fi
  # 8 save/restore in the middle of a transfer, live migration (scenarios/domid-change.sh)
  want save-restore && save_restore_scenario
  # 9 the stock vif-route and vif-openvswitch scripts (scenarios/hotplug.sh), jumbo frames (scenarios/jumbo.sh)
  want vif-route && vif_route_scenario
  want vif-openvswitch && vif_openvswitch_scenario
  want jumbo && jumbo_scenario
  # 10 a driver domain: the daemon in a PV guest serving another guest's vif (scenarios/driver-domain.sh)
  want driver-domain && driver_domain_scenario
  # 11 live migration to this host (scenarios/domid-change.sh)
  want migrate && migrate_scenario
fi

echo "kernel traps: $(dmesg | grep -E 'segfault|traps:|general protection' | tail -n 3 | tr '\n' ';')"
echo "=== daemon log (tail)"; tail -n 40 /tmp/daemon.log
SDEV=$(first_vif_devid $D); SDEV=${SDEV:-0}
t0=$(now); kill -TERM $DPID
for i in $(seq 1 100); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
wait $DPID; rc=$?; t1=$(now)
st=$(bstate $D $SDEV)
gone=$([ -e /sys/class/net/$VIF ] && echo no || echo yes)
secs=$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')
tail -n 5 /tmp/daemon.log
[ "${PROFILE:-0}" = 1 ] && $NODE /scenarios/profile-summary.mjs /tmp/prof 40
if [ "$rc" = 0 ] && [ "$st" = 6 ] && [ $gone = yes ] && grep -q '"msg":"stopped"' /tmp/daemon.log; then result shutdown PASS "exit 0 in ${secs}s, backend state 6 (Closed), $VIF removed"; else result shutdown FAIL "rc=$rc state=$st tap-gone=$gone secs=$secs"; fi
timeout 30 xl destroy ${GUESTNAME:-guest1} >/dev/null 2>&1

if [ -d /opt/wasm-netback-baseline ]; then
  # BASELINE: an earlier build's daemon on the same workload in the same boot (before/after of a change)
  echo "=== baseline build"
  : > /tmp/daemon.log
  daemon_start 1 /opt/wasm-netback-baseline/dist/src/cli/main.js; BPID=$DPID
  guest_cfg guest5 1
  xl create /tmp/guest5.cfg >/dev/null 2>&1; GUESTNAME=guest5
  if wait_ping $GUEST 90 >/dev/null && wait_guest 60 >/dev/null; then
    bulk baseline $BPID
    B_TX=$TX_MBIT; B_RX=$RX_MBIT
    VIF=vif$(xl domid guest5).0 strace_counts $BPID
    echo "baseline compare: guest-tx this=${W_TX:-none} baseline=$B_TX Mbit/s; guest-rx this=${W_RX:-none} baseline=$B_RX Mbit/s (same boot)"
  else echo "baseline compare: the baseline daemon's guest did not come up"; fi
  timeout 30 xl destroy guest5 >/dev/null 2>&1
  kill -TERM $BPID; for i in $(seq 1 100); do kill -0 $BPID 2>/dev/null || break; sleep 0.1; done
fi

echo "=== kernel xen-netback baseline"
modprobe xen-netback
guest_cfg guest2 1
xl create /tmp/guest2.cfg >/dev/null 2>&1; GUESTNAME=guest2
if wait_ping $GUEST 90 && wait_guest 60; then
  bulk kernel
  frame_sizes kernel
  guest_to_guest kernel
  perf_profile kernel
  echo "RESULT compare INFO guest-tx wasm=${W_TX:-none} kernel=$TX_MBIT Mbit/s; guest-rx wasm=${W_RX:-none} kernel=$RX_MBIT Mbit/s; guest-to-guest wasm=${W_G2G:-none} kernel=$G2G_MBIT Mbit/s (TCG, same boot)"
  if [ "${FPU_PROBE:-0}" != 0 ]; then
    # The platform check: SIMD/float results in a dom0 process while guest traffic (kernel netback)
    # interrupts dom0, with no device of ours open. Mismatches mean FPU state is lost on vCPU
    # switches (see bed/boot.sh, eager FPU): then a daemon crash says nothing about our code.
    fpu=$(xl dmesg | grep -a 'Support for PV VMs' | grep -q EAGER_FPU && echo eager || echo lazy)
    $NODE /scenarios/fpu-probe.mjs "$FPU_PROBE" > /tmp/probe.out 2>&1 & PP=$!
    gsh "echo $((BULK_MB*16)) > /tmp/zero.blocks" >/dev/null
    timeout $((FPU_PROBE+5)) busybox nc $GUEST 5001 | wc -c > /dev/null
    wait $PP; probe=$(tr '\n' ' ' < /tmp/probe.out)
    if echo "$probe" | grep -q 'FPU-PROBE mismatches=0 '; then result fpu-probe PASS "Xen FPU switching $fpu: $probe"
    else result fpu-probe FAIL "Xen FPU switching $fpu: $probe"; dmesg | tail -n 8 | sed 's/^/DIAG dmesg /'; fi
  fi
else
  echo "RESULT compare INFO kernel netback guest did not come up"
fi
echo SCENARIO-DONE
