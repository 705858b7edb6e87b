#!/bin/bash
# Runs inside dom0 of the test bed (as /scenario.sh; /scenario-common.sh is the bed's helpers).
# 1 ping: wasm-netback daemon serves guest1's vif; stock vif-bridge enslaves vif<D>.0; pings both ways.
# 2 bulk: BULK_MB each way over TCP, byte counts checked; guest /proc/net/dev vs TAP counters.
# shutdown: SIGTERM closes the vif (backend Closed, TAP gone) within seconds.
# baseline: the kernel's xen-netback on the same workload in the same boot; both throughputs.
# Every check prints `RESULT <name> PASS|FAIL ...`.
. /scenario-common.sh
BULK_MB=${BULK_MB:-32}
echo "daemon node flags: ${DAEMON_NODE_FLAGS:-none}"
NB=/opt/wasm-netback
result() { echo "RESULT $*"; }
# counters of an interface in dom0 / eth0 in the guest
ifc() { cat /sys/class/net/$1/statistics/$2 2>/dev/null || echo -1; }
guest_dev() { gsh "cat /proc/net/dev" | awk -v f=$1 '/eth0:/{sub(/.*eth0:/,""); split($0,a," "); print a[f]}'; }
within() { # a b tolerance-bytes: |a-b| <= tol
  awk -v a=$1 -v b=$2 -v t=$3 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d<=t && a>0)}'; }
bulk() { # label -> sets TX_MBIT RX_MBIT TX_OK RX_OK
  local want=$((BULK_MB*1048576))
  gsh "echo $((BULK_MB*16)) > /tmp/zero.blocks" >/dev/null
  local t0=$(now) n=$(timeout 150 busybox nc $GUEST 5001 | wc -c) t1=$(now)
  TX_MBIT=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  TX_OK=$([ "$n" = "$want" ] && echo PASS || echo FAIL)
  echo "$1 guest-tx bytes=$n want=$want Mbit/s=$TX_MBIT"
  t0=$(now); dd if=/dev/zero bs=65536 count=$((BULK_MB*16)) 2>/dev/null | timeout 150 busybox nc -w 5 $GUEST 5002; t1=$(now)
  sleep 1; n=$(gsh "cat /tmp/rx.count" | tr -d ' \n')
  RX_MBIT=$(awk -v n=$n -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  RX_OK=$([ "$n" = "$want" ] && echo PASS || echo FAIL)
  echo "$1 guest-rx bytes=$n want=$want Mbit/s=$RX_MBIT"
}

cd $NB
echo "dom0 memory: $(free -m | awk '/Mem:/{print "total="$2" used="$3" free="$4" avail="$7}') overcommit=$(cat /proc/sys/vm/overcommit_memory) max_map_count=$(cat /proc/sys/vm/max_map_count)"
memwatch() { while kill -0 $1 2>/dev/null; do echo "MEM: $(free -m | awk '/Mem:/{print "avail="$7}') daemon $(awk '/^(VmRSS|VmSize|Threads)/{printf "%s%s ", $1, $2}' /proc/$1/status 2>/dev/null) maps=$(wc -l < /proc/$1/maps 2>/dev/null)"; sleep ${2:-3}; done; }
echo "=== preflight"; node dist/src/cli/main.js check; echo "check rc=$?"
node ${DAEMON_NODE_FLAGS:-} dist/src/cli/main.js daemon --log-format json > /tmp/daemon.log 2>&1 &
DPID=$!
for i in $(seq 1 60); do grep -q '"msg":"ready"' /tmp/daemon.log && break; kill -0 $DPID 2>/dev/null || break; sleep 0.5; done
if grep -q '"msg":"ready"' /tmp/daemon.log; then result daemon-ready PASS "after ${i} polls"; else result daemon-ready FAIL; cat /tmp/daemon.log; fi

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

if [ $ok = 1 ]; then
  memwatch $DPID 3 & MW=$!
  bulk wasm
  kill $MW 2>/dev/null
  W_TX=$TX_MBIT; W_RX=$RX_MBIT
  sleep 1
  g_tx=$(guest_dev 9); g_rx=$(guest_dev 1); t_rx=$(ifc $VIF rx_bytes); t_tx=$(ifc $VIF tx_bytes)
  echo "counters: guest eth0 tx=$g_tx rx=$g_rx  TAP $VIF rx=$t_rx tx=$t_tx drops(tx/rx)=$(ifc $VIF tx_dropped)/$(ifc $VIF rx_dropped)"
  tol=$((1048576))
  if [ $TX_OK = PASS ] && [ $RX_OK = PASS ] && within $g_tx $t_rx $tol && within $t_tx $g_rx $tol; then
    result bulk PASS "guest-tx ${W_TX} Mbit/s, guest-rx ${W_RX} Mbit/s, ${BULK_MB} MiB each way, counters agree (guest tx $g_tx ~ TAP rx $t_rx, TAP tx $t_tx ~ guest rx $g_rx)"
  else
    result bulk FAIL "tx=$TX_OK rx=$RX_OK guest tx $g_tx TAP rx $t_rx TAP tx $t_tx guest rx $g_rx"
  fi
else
  result bulk FAIL "no connectivity"
fi

echo "kernel traps: $(dmesg | grep -E 'segfault|traps:|general protection' | tail -n 3 | tr '\n' ';')"
echo "=== daemon log (tail)"; tail -n 40 /tmp/daemon.log
t0=$(now); kill -TERM $DPID
for i in $(seq 1 100); do kill -0 $DPID 2>/dev/null || break; sleep 0.1; done
wait $DPID; rc=$?; t1=$(now)
st=$(xenstore-read /local/domain/0/backend/vif/$D/0/state 2>/dev/null)
gone=$([ -e /sys/class/net/$VIF ] && echo no || echo yes)
secs=$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')
tail -n 5 /tmp/daemon.log
if [ "$rc" = 0 ] && [ "$st" = 6 ] && [ $gone = yes ] && grep -q '"msg":"stopped"' /tmp/daemon.log; then result shutdown PASS "exit 0 in ${secs}s, backend state 6 (Closed), $VIF removed"; else result shutdown FAIL "rc=$rc state=$st tap-gone=$gone secs=$secs"; fi
timeout 30 xl destroy guest1 >/dev/null 2>&1

echo "=== kernel xen-netback baseline"
modprobe xen-netback
guest_cfg guest2 1
xl create /tmp/guest2.cfg >/dev/null 2>&1
if wait_ping $GUEST 90 && wait_guest 60; then
  bulk kernel
  echo "RESULT compare INFO guest-tx wasm=${W_TX:-none} kernel=$TX_MBIT Mbit/s; guest-rx wasm=${W_RX:-none} kernel=$RX_MBIT Mbit/s (TCG, same boot)"
  if [ "${FPU_PROBE:-0}" != 0 ]; then
    # The platform check: SIMD/float results in a dom0 process while guest traffic (kernel netback)
    # interrupts dom0, with no device of ours open. Mismatches mean FPU state is lost on vCPU
    # switches (see bed/boot.sh, eager FPU): then a daemon crash says nothing about our code.
    fpu=$(xl dmesg | grep -a 'Support for PV VMs' | grep -q EAGER_FPU && echo eager || echo lazy)
    (cd $NB && node fpu-probe.mjs "$FPU_PROBE" > /tmp/probe.out 2>&1) & PP=$!
    gsh "echo $((BULK_MB*16)) > /tmp/zero.blocks" >/dev/null
    timeout $((FPU_PROBE+5)) busybox nc $GUEST 5001 | wc -c > /dev/null
    wait $PP; probe=$(tr '\n' ' ' < /tmp/probe.out)
    if echo "$probe" | grep -q 'FPU-PROBE mismatches=0 '; then result fpu-probe PASS "Xen FPU switching $fpu: $probe"
    else result fpu-probe FAIL "Xen FPU switching $fpu: $probe"; fi
  fi
else
  echo "RESULT compare INFO kernel netback guest did not come up"
fi
echo SCENARIO-DONE
