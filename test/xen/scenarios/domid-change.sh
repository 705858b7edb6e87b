# Sourced by netback.sh (its helpers and the running daemon $DPID). A guest that changes domain:
# RESULT save-restore (`xl save` in the middle of a transfer, `xl restore`: a new domid). The
# restored guest's netfront reconnects through the daemon, the transfer in flight completes and
# new traffic flows, and the daemon holds nothing of the old domid (leftovers below). Guest "life" at $GUEST_LIFE (169.254.99.7).
GUEST_LIFE=169.254.99.7
daemon_vifs() { # "list name domid state" and "stats name domid" lines for every vif the daemon reports,
  # both asked over its control socket by one node process (each start costs seconds in the bed)
  node -e "const net=require('net');const ask=v=>new Promise((ok,no)=>{let t='';net.connect('/run/wasm-netback/control.sock').on('data',d=>t+=d).on('end',()=>ok(JSON.parse(t))).on('error',no).end(v+'\\n')});
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

life_up() { # boots guest "life"; LIFE_FDS0: the daemon's open files before it
  LIFE_FDS0=$(ls /proc/$DPID/fd | wc -l)
  GUEST_MEM=128 guest_cfg life 1 7
  xl create /tmp/life.cfg >/dev/null 2>&1
  wait_ping $GUEST_LIFE 90 >/dev/null && GUEST=$GUEST_LIFE wait_guest 60 >/dev/null; }

save_restore_scenario() {
  local d0 d1 up=0 t0 t1 t2 left traffic inflight fds1 st
  d0=$(xl domid life 2>/dev/null)
  [ -n "$d0" ] || { result save-restore FAIL "the guest did not come up"; return 1; }
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
}
