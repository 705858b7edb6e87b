# Sourced by netback.sh (its helpers and the running daemon). RESULT jumbo:
# a guest whose vif spec says mtu=9000, on a bridge of its own (xenbr1, MTU 9000, 10.99.0.1/16).
# The TAP must be at 9000 (the daemon creates it so, vif-bridge sets it again), and the guest's eth0
# too once the guest sets it (Linux's netfront ignores the frontend's mtu key). ICMP echoes of
# 9000-byte IP packets cross both ways as single 9014-byte frames (dom0 pings with DF set, so
# nothing may fragment on the way in; the guest's replies and its own pings would be fragmented if
# its side were at 1500), which needs the frontend's feature-sg (a 9014-byte frame spans three
# pages); then 8 MiB of TCP each way.
jumbo_scenario() {
  local J=10.99.0.2 dj v up=0 why="" tap_mtu g_mtu g_mtu0 sg big_in big_out frags n_tx n_rx pings_out pings_in
  ip link add xenbr1 type bridge; ip link set xenbr1 mtu 9000; ip addr add 10.99.0.1/16 dev xenbr1; ip link set xenbr1 up
  GUEST_NET=10.99.0 GUEST_BRIDGE=xenbr1 GUEST_VIF_EXTRA=",mtu=9000" GUEST_MEM=128 guest_cfg jumbo 1 2
  xl create /tmp/jumbo.cfg > /tmp/xl.out 2>&1 || why="$why xl-create-rc"
  dj=$(xl domid jumbo 2>/dev/null); v=vif$dj.0
  wait_ping $J 90 >/dev/null && GUEST=$J wait_guest 60 >/dev/null && up=1
  [ $up = 1 ] || { result jumbo FAIL "the guest did not come up$why"; D=${dj:-$D} diag jumbo; timeout 30 xl destroy jumbo >/dev/null 2>&1; return; }
  tap_mtu=$(cat /sys/class/net/$v/mtu 2>/dev/null)
  g_mtu0=$(GUEST=$J gsh "cat /sys/class/net/eth0/mtu" | tr -d ' \r\n')
  # Linux's netfront does not read the mtu key (vif-bridge writes it to the frontend too, for drivers
  # that do): the guest sets its MTU, as on any NIC; netfront allows more than 1500 only with SG
  [ "$g_mtu0" = 9000 ] || GUEST=$J gsh "ip link set eth0 mtu 9000" >/dev/null
  g_mtu=$(GUEST=$J gsh "cat /sys/class/net/eth0/mtu" | tr -d ' \r\n')
  sg=$(xenstore-read /local/domain/$dj/device/vif/0/feature-sg 2>/dev/null)
  echo "jumbo: $v mtu $tap_mtu, guest eth0 mtu $g_mtu0, frontend feature-sg=$sg, backend mtu=$(xenstore-read /local/domain/0/backend/vif/$dj/0/mtu 2>/dev/null) frontend mtu=$(xenstore-read /local/domain/$dj/device/vif/0/mtu 2>/dev/null)"
  capture_start /tmp/jumbo.dump -i $v -nn -e -l icmp
  pings_out=$(ping -M do -s 8972 -c 3 -W 3 $J 2>&1 | grep -o '[0-9]* received' | cut -d' ' -f1)
  pings_in=$(GUEST=$J gsh "ping -s 8972 -c 3 -W 3 10.99.0.1" | grep -o '[0-9]* packets received' | cut -d' ' -f1)
  capture_stop
  # one frame per echo: 14 + 20 + 8 + 8972 = 9014 bytes; a fragmented echo would show shorter frames
  big_in=$(grep -c "length 9014: 10.99.0.1 > $J: ICMP echo request.*length 8980" /tmp/jumbo.dump)    # dom0 -> guest
  big_out=$(grep -c "length 9014: $J > 10.99.0.1: ICMP echo request.*length 8980" /tmp/jumbo.dump)   # guest -> dom0
  local replies_in replies_out
  replies_out=$(grep -c "length 9014: $J > 10.99.0.1: ICMP echo reply.*length 8980" /tmp/jumbo.dump)
  replies_in=$(grep -c "length 9014: 10.99.0.1 > $J: ICMP echo reply.*length 8980" /tmp/jumbo.dump)
  # a fragmented echo shows as shorter frames of the echo (its first fragment) or of ip-proto-1 (the rest);
  # what else the capture held is printed (the first full run saw one other ICMP line, not kept)
  frags=$(grep -v 'length 9014:' /tmp/jumbo.dump | grep -c -E 'ICMP echo|ip-proto-1|frag')
  grep -v 'length 9014:' /tmp/jumbo.dump | head -n 5 | sed 's/^/jumbo: another ICMP frame: /'
  # TCP both ways at MTU 9000 (MSS 8960), byte counts checked
  n_tx=$(GUEST=$J guest_tx 8 120)
  dd if=/dev/zero bs=65536 count=128 2>/dev/null | timeout 120 busybox nc -w 5 $J 5002; sleep 1
  n_rx=$(GUEST=$J gsh "cat /tmp/rx.count" | tr -d ' \r\n')
  if [ "$tap_mtu" = 9000 ] && [ "$g_mtu" = 9000 ] && [ "$sg" = 1 ] && [ "$pings_out" = 3 ] && [ "$pings_in" = 3 ] \
     && [ "$big_in" = 3 ] && [ "$replies_out" = 3 ] && [ "$big_out" = 3 ] && [ "$replies_in" = 3 ] && [ "$frags" = 0 ] \
     && [ "$n_tx" = $((8*1048576)) ] && [ "$n_rx" = $((8*1048576)) ]; then
    result jumbo PASS "mtu=9000: $v mtu $tap_mtu = guest eth0 mtu $g_mtu (was $g_mtu0 before the guest set it), feature-sg=1; 9014-byte frames unsegmented both ways (dom0 ping -M do -s 8972 3/3, guest ping -s 8972 3/3, 12 ICMP frames, all 9014 bytes); 8 MiB TCP each way"
  else
    result jumbo FAIL "tap mtu=$tap_mtu guest mtu=$g_mtu sg=$sg pings dom0->guest=$pings_out guest->dom0=$pings_in full frames req-in/rep-out/req-out/rep-in=$big_in/$replies_out/$big_out/$replies_in fragments=$frags tcp tx=$n_tx rx=$n_rx"
    head -n 8 /tmp/jumbo.dump | sed 's/^/DIAG jumbo: /'
  fi
  timeout 30 xl destroy jumbo >/dev/null 2>&1
}
