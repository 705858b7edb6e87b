# Sourced by netback.sh (its helpers and the running daemon $DPID). A guest that changes domain:
# RESULT save-restore (`xl save` in the middle of a transfer, `xl restore`: a new domid; the
# transfer in flight completes) and RESULT migrate (`xl migrate` to this same host, through a pipe
# instead of ssh; pings every 0.2 s across it, the lost ones counted). Each time the guest's netfront
# reconnects through the daemon, traffic flows, and the daemon holds nothing of the old domid
# (leftovers below). Each scenario boots its own guest at $GUEST_LIFE (169.254.99.7).
# The migrated guest is PV, as the others: live migration needs log-dirty mode, which Xen gives a PV
# guest through shadow paging, so the bed's hypervisor is built with it (bed/build.sh; Debian's
# binary has it off: 'Failed to enable logdirty: 95'). MIGRATE_GUEST_TYPE=pvh tries a PVH guest
# (HAP log-dirty on the emulated CPU's nested paging): once, in session 9, that hung the whole bed
# at Xen's 'HVM2 restore: CPU 0' for 9 minutes.
GUEST_LIFE=169.254.99.7
daemon_vifs() { # "list name domid state" and "stats name domid" lines for every vif the daemon reports,
  # both asked over its control socket by one node process (each start costs seconds in the bed)
  $NODE -e "const net=require('net');const ask=v=>new Promise((ok,no)=>{let t='';net.connect('/run/wasm-netback/control.sock').on('data',d=>t+=d).on('end',()=>ok(JSON.parse(t))).on('error',no).end(v+'\\n')});
    (async()=>{for(const v of (await ask('list')).data.vifs)console.log('list',v.name,v.domid,v.state);for(const v of (await ask('stats')).data.vifs)console.log('stats',v.name,v.domid)})().catch(e=>console.log('error',e.message))" 2>&1; }
leftovers() { # old-domid: what still refers to it, empty when nothing (waits up to 30 s for the teardown)
  local d=$1 left i
  for i in $(seq 1 30); do
    left=""
    ip -o link | grep -q " vif$d\." && left="$left tap:$(ip -o link | grep -o "vif$d\.[0-9]*" | tr '\n' ,)"
    [ -n "$(xenstore-list /local/domain/0/backend/vif/$d 2>/dev/null)" ] && left="$left xenstore-backend"
    # dom0 ports still naming the domain: bound to it, or unbound and waiting for it (its end closed first)
    lsevtchn 0 2>/dev/null | grep -q -E "Remote Domain $d([^0-9]|$)" && left="$left evtchn:$(lsevtchn 0 2>/dev/null | grep -E "Remote Domain $d([^0-9]|$)" | head -n 2 | tr -s ' ' | tr '\n' ';')"
    # a grant of the domain still mapped keeps it alive as a dying domain
    xl list 2>/dev/null | awk -v d=$d '$2==d{f=1} END{exit !f}' && left="$left domain-still-listed:$(xl list | awk -v d=$d '$2==d{print $1 "/" $5}')"
    # the daemon's own view, once the rest is clean
    [ -z "$left" ] && left=$(daemon_vifs | awk -v d=$d '$1=="error"{print "control-socket:" $0} $3==d{print "daemon-" $1 ":" $2}' | tr '\n' ' ')
    [ -z "$left" ] && return 0
    sleep 1
  done
  echo "$left"; }
vif_connected() { # domid: the daemon lists vif<domid>.0 as Connected
  daemon_vifs | grep -q -x "list vif$1.0 $1 Connected"; }
life_traffic() { # MiB: guest-tx and guest-rx byte counts of a fresh transfer, "tx rx"
  local n_tx n_rx
  n_tx=$(GUEST=$GUEST_LIFE guest_tx $1 120)
  dd if=/dev/zero bs=65536 count=$(($1*16)) 2>/dev/null | timeout 120 busybox nc -w 5 $GUEST_LIFE 5002; sleep 1
  n_rx=$(GUEST=$GUEST_LIFE gsh "cat /tmp/rx.count" | tr -d ' \r\n')
  echo "$n_tx $n_rx"; }

life_up() { # name type: boots the guest at $GUEST_LIFE; LIFE_FDS0: the daemon's open files before it
  LIFE_FDS0=$(ls /proc/$DPID/fd | wc -l)
  GUEST_TYPE=$2 GUEST_MEM=128 guest_cfg $1 1 7
  xl create /tmp/$1.cfg > /tmp/xl.out 2>&1
  wait_ping $GUEST_LIFE 90 >/dev/null && GUEST=$GUEST_LIFE wait_guest 60 >/dev/null; }
life_down() { # name [scenario]: destroys the guest; with a scenario name, says first why it did not come up
  [ -z "${2:-}" ] || { result $2 FAIL "the guest $1 did not come up: xl $(tr '\n' ' ' < /tmp/xl.out)"; xl dmesg | tail -n 15 | sed "s/^/DIAG $2: xen /"
    tail -n 30 /var/log/xen/console/guest-$1.log 2>/dev/null | tr -d '\r' | sed "s/^/DIAG $2: console /"; }
  timeout 30 xl destroy $1 >/dev/null 2>&1; }

save_restore_scenario() {
  local d0 d1 up=0 t0 t1 t2 left traffic inflight fds1 st
  life_up life pv || { life_down life save-restore; return; }
  d0=$(xl domid life 2>/dev/null)
  # a transfer in flight across the save: the guest's TCP state travels in its memory
  GUEST=$GUEST_LIFE gsh "echo 256 > /tmp/zero.blocks" >/dev/null
  (timeout 600 busybox nc $GUEST_LIFE 5001 | wc -c > /tmp/inflight.count) & local mp=$!
  sleep 3
  t0=$(now); timeout 300 xl save life /tmp/life.save > /tmp/xl.out 2>&1; st=$?; t1=$(now)
  left=$(leftovers $d0)
  timeout 300 xl restore /tmp/life.save >> /tmp/xl.out 2>&1 || st="$st restore-rc=$?"; t2=$(now)
  rm -f /tmp/life.save
  d1=$(xl domid life 2>/dev/null)
  up=0; wait_ping $GUEST_LIFE 90 >/dev/null && GUEST=$GUEST_LIFE wait_guest 60 >/dev/null && up=1
  wait $mp; inflight=$(cat /tmp/inflight.count 2>/dev/null)
  traffic=$( [ $up = 1 ] && life_traffic 4 || echo "0 0")
  fds1=$(ls /proc/$DPID/fd | wc -l)
  local secs; secs=$(awk -v a=$t0 -v b=$t1 -v c=$t2 'BEGIN{printf "save %.1fs restore %.1fs", b-a, c-b}')
  if [ "$st" = 0 ] && [ -n "$d1" ] && [ "$d1" != "$d0" ] && [ $up = 1 ] && vif_connected $d1 && [ -z "$left" ] \
     && [ "$traffic" = "$((4*1048576)) $((4*1048576))" ] && [ "$inflight" = $((16*1048576)) ]; then
    result save-restore PASS "domain $d0 saved mid-transfer and restored as $d1 ($secs): vif$d1.0 Connected, the 16 MiB transfer in flight completed, then 4 MiB each way; nothing of $d0 left (TAP, xenstore, list/stats, event channels, dying domain); daemon fds $LIFE_FDS0 before the guest, $fds1 after"
  else
    result save-restore FAIL "rc=$st old=$d0 new=$d1 up=$up connected=$(vif_connected $d1 && echo yes || echo no) leftovers:${left:- none} in-flight=$inflight/$((16*1048576)) traffic=$traffic ($secs)"
    tr '\n' ' ' < /tmp/xl.out | sed 's/^/DIAG save-restore: xl /'; echo
    D=$d1 diag save-restore
  fi
  life_down life
}

migrate_scenario() {
  local d0 d1 up=0 st left traffic sent got t0 t1 fds1
  # its progress while it boots: its CPU time (Xen's) and the last line of its console, every 15 s
  ( while sleep 15; do echo "migrate: boot $(xl list mig 2>/dev/null | awk 'NR==2{print "state " $5 " cpu " $6 "s"}'), console: $(tail -n 1 /var/log/xen/console/guest-mig.log 2>/dev/null | tr -d '\r' | cut -c1-120)"; done ) & local mon=$!
  life_up mig ${MIGRATE_GUEST_TYPE:-pv}; local booted=$?; kill $mon 2>/dev/null; wait $mon 2>/dev/null
  [ $booted = 0 ] || { life_down mig migrate; return; }
  d0=$(xl domid mig 2>/dev/null)
  echo "migrate: guest mig (domain $d0) is $(xl list -l mig 2>/dev/null | grep -o '"type": "[a-z]*"' | head -n1)"
  ping -i 0.2 -W 1 $GUEST_LIFE > /tmp/migrate.ping 2>&1 & local pp=$!
  sleep 2
  # -s '': run the "host" argument as the receiving command instead of `ssh <host> xl migrate-receive`
  t0=$(now); timeout 600 xl migrate -s '' mig 'xl migrate-receive' > /tmp/xl.out 2>&1; st=$?; t1=$(now)
  d1=$(xl domid mig 2>/dev/null)
  wait_ping $GUEST_LIFE 60 >/dev/null && GUEST=$GUEST_LIFE wait_guest 60 >/dev/null && up=1
  sleep 2; kill -INT $pp; wait $pp
  sent=$(grep -o '[0-9]* packets transmitted' /tmp/migrate.ping | cut -d' ' -f1)
  got=$(grep -o '[0-9]* received' /tmp/migrate.ping | cut -d' ' -f1)
  left=$(leftovers $d0)
  traffic=$( [ $up = 1 ] && life_traffic 4 || echo "0 0")
  fds1=$(ls /proc/$DPID/fd | wc -l)
  local secs; secs=$(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", b-a}')
  if [ "$st" = 0 ] && [ -n "$d1" ] && [ "$d1" != "$d0" ] && [ $up = 1 ] && vif_connected $d1 && [ -z "$left" ] \
     && [ "$traffic" = "$((4*1048576)) $((4*1048576))" ] && [ -n "$got" ] && [ "$got" -gt 0 ]; then
    result migrate PASS "${MIGRATE_GUEST_TYPE:-pv} domain $d0 live-migrated to $d1 on this host in ${secs}s: pings every 0.2 s, $got of $sent answered ($((sent-got)) lost); vif$d1.0 Connected, 4 MiB each way; nothing of $d0 left (TAP, xenstore, list/stats, event channels, dying domain); daemon fds $LIFE_FDS0 before the guest, $fds1 after"
  else
    result migrate FAIL "rc=$st old=$d0 new=$d1 up=$up pings $got/$sent leftovers:${left:- none} traffic=$traffic (${secs}s)"
    tr '\n' ' ' < /tmp/xl.out | sed 's/^/DIAG migrate: xl /'; echo
    xl dmesg | tail -n 15 | sed 's/^/DIAG migrate: xen /'
    D=${d1:-$d0} diag migrate
  fi
  life_down mig
}
