# Sourced by netback.sh (its helpers and the running daemon). Hotplug scripts other than vif-bridge,
# each run unchanged by libxl against the daemon's TAP:
# RESULT vif-route: script=vif-route,ip=10.97.1.2. The script gives the TAP dom0's uplink address
#   (netdev, eth0 by default: here a dummy eth0 with 10.97.0.1/24) and routes the guest's address to it.
# RESULT vif-openvswitch: script=vif-openvswitch,bridge=ovsbr0 on Debian's openvswitch-switch
#   (ovsbr0 with 10.96.0.1/16). Each: hotplug-status connected, ping both ways, 4 MiB TCP each way.
hotplug_traffic() { # guest-ip dom0-ip: "pings-out pings-in tx-bytes rx-bytes"
  local out back n_tx n_rx
  out=$(ping -c 3 -W 2 $1 2>&1 | grep -o '[0-9]* received' | cut -d' ' -f1)
  back=$(GUEST=$1 gsh "ping -c 3 -W 2 $2" | grep -o '[0-9]* packets received' | cut -d' ' -f1)
  n_tx=$(GUEST=$1 guest_tx 4 120)
  dd if=/dev/zero bs=65536 count=64 2>/dev/null | timeout 120 busybox nc -w 5 $1 5002; sleep 1
  n_rx=$(GUEST=$1 gsh "cat /tmp/rx.count" | tr -d ' \r\n')
  echo "${out:-0} ${back:-0} ${n_tx:-0} ${n_rx:-0}"; }
hotplug_guest() { # name: boots /tmp/<name>.cfg, prints the domid once the guest answers, else fails
  xl create /tmp/$1.cfg > /tmp/xl.out 2>&1 || return 1
  local d; d=$(xl domid $1 2>/dev/null) || return 1
  wait_ping $2 90 >/dev/null && GUEST=$2 wait_guest 60 >/dev/null && echo $d; }

vif_route_scenario() {
  local g=10.97.1.2 d v hs route addr t want="3 3 $((4*1048576)) $((4*1048576))"
  ip link add eth0 type dummy; ip addr add 10.97.0.1/24 dev eth0; ip link set eth0 up
  GUEST_NET=10.97.1 GUEST_VIF="script=vif-route,ip=$g" GUEST_MEM=128 guest_cfg route 1 2
  d=$(hotplug_guest route $g); v=vif$d.0
  hs=$(xenstore-read /local/domain/0/backend/vif/$d/0/hotplug-status 2>/dev/null)
  route=$(ip route show $g 2>/dev/null | tr -s ' '); addr=$(ip -4 -o addr show dev $v 2>/dev/null | awk '{print $4}')
  t=$([ -n "$d" ] && hotplug_traffic $g 10.97.0.1 || echo "not up")
  if [ -n "$d" ] && [ "$hs" = connected ] && [ "$addr" = 10.97.0.1/32 ] && echo "$route" | grep -q "dev $v" && [ "$t" = "$want" ]; then
    result vif-route PASS "$v: hotplug-status connected, address $addr, route '$route'; ping 3/3 both ways, 4 MiB TCP each way"
  else
    result vif-route FAIL "domain=$d hotplug-status=$hs address=$addr route='$route' pings-out/in tx rx: $t"
    tr '\n' ' ' < /tmp/xl.out | sed 's/^/DIAG vif-route: xl /'; echo
    tail -n 5 /var/log/xen/xen-hotplug.log 2>/dev/null | sed 's/^/DIAG vif-route: hotplug /'
  fi
  timeout 30 xl destroy route >/dev/null 2>&1
}

vif_openvswitch_scenario() {
  local g=10.96.0.2 d v hs port t want="3 3 $((4*1048576)) $((4*1048576))"
  modprobe openvswitch
  /usr/share/openvswitch/scripts/ovs-ctl start --system-id=random > /tmp/ovs.out 2>&1
  ovs-vsctl --timeout=30 add-br ovsbr0 && ip addr add 10.96.0.1/16 dev ovsbr0 && ip link set ovsbr0 up
  GUEST_NET=10.96.0 GUEST_VIF="script=vif-openvswitch,bridge=ovsbr0" GUEST_MEM=128 guest_cfg ovs 1 2
  d=$(hotplug_guest ovs $g); v=vif$d.0
  hs=$(xenstore-read /local/domain/0/backend/vif/$d/0/hotplug-status 2>/dev/null)
  port=$(ovs-vsctl --timeout=10 list-ports ovsbr0 2>/dev/null | tr '\n' ' ')
  t=$([ -n "$d" ] && hotplug_traffic $g 10.96.0.1 || echo "not up")
  if [ -n "$d" ] && [ "$hs" = connected ] && [ "$port" = "$v " ] && [ "$t" = "$want" ]; then
    result vif-openvswitch PASS "$v: hotplug-status connected, the only port of ovsbr0 ($(ovs-vsctl --version | head -n1)); ping 3/3 both ways, 4 MiB TCP each way"
  else
    result vif-openvswitch FAIL "domain=$d hotplug-status=$hs ovsbr0 ports='$port' pings-out/in tx rx: $t"
    tr '\n' ' ' < /tmp/xl.out | sed 's/^/DIAG vif-openvswitch: xl /'; echo
    tail -n 5 /tmp/ovs.out /var/log/xen/xen-hotplug.log 2>/dev/null | sed 's/^/DIAG vif-openvswitch: /'
  fi
  timeout 30 xl destroy ovs >/dev/null 2>&1
  ovs-vsctl --timeout=10 del-br ovsbr0 2>/dev/null
  # its daemons' periodic work is a share of the emulated CPUs the later scenarios need
  /usr/share/openvswitch/scripts/ovs-ctl stop >> /tmp/ovs.out 2>&1
}
