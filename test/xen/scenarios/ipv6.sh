# Sourced by netback.sh (its helpers and the running daemon). RESULT ipv6, against guest $GUEST
# (domain $1): ULA addresses fd00:99::1 (xenbr0) and fd00:99::<octet>; ping6 both ways, then
# IPV6_MB (default 8) of TCP over IPv6 each way with byte counts checked: this proves the path, the
# throughput is bulk's (32 MiB each way took ~2 min here at ~5 Mbit/s). Both ends must have negotiated
# feature-gso-tcpv6 and feature-ipv6-csum-offload (the backend offers them, the guest's netfront
# requests them), and GSO must be in use: TCP frames longer than one 1514-byte frame cross the
# vif in both directions (tcpdump on the TAP during a smaller run each way).
IPV6_MB=${IPV6_MB:-8}
ipv6_scenario() { # domid ip6
  local d=$1 ip6=$2 v=vif$1.0 out back n_tx n_rx be fe want=$((IPV6_MB*1048576)) gso_out gso_in
  ip -6 addr add fd00:99::1/64 dev xenbr0 nodad 2>/dev/null
  gsh "ip -6 addr add $ip6/64 dev eth0" >/dev/null
  for i in $(seq 1 20); do ping -6 -c1 -W1 $ip6 >/dev/null 2>&1 && break; sleep 1; done
  out=$(ping -6 -c 3 -W 2 $ip6 2>&1 | grep -o '[0-9]* received' | cut -d' ' -f1)
  back=$(gsh "ping -6 -c 3 -W 2 fd00:99::1" | grep -o '[0-9]* packets received' | cut -d' ' -f1)
  be=""; fe=""
  for k in feature-gso-tcpv6 feature-ipv6-csum-offload; do
    be="$be$k=$(xenstore-read /local/domain/0/backend/vif/$d/0/$k 2>/dev/null) "
    fe="$fe$k=$(xenstore-read /local/domain/$d/device/vif/0/$k 2>/dev/null) "
  done
  # GSO in use: the longest TCP frames each way in a 4 MiB run per direction
  capture_start /tmp/ipv6.dump -i $v -nn -e -l -s 96 ip6 and tcp
  gsh "echo 64 > /tmp/zero.blocks" >/dev/null; timeout 60 busybox nc $ip6 5001 > /dev/null
  dd if=/dev/zero bs=65536 count=64 2>/dev/null | timeout 60 busybox nc -w 5 $ip6 5002
  capture_stop
  gso_out=$(grep "$ip6\.5001 > " /tmp/ipv6.dump | awk '{for(i=1;i<NF;i++) if($i=="length"){sub(":","",$(i+1)); if($(i+1)+0>1514) n++; break}} END{print n+0}')
  gso_in=$(grep "> $ip6\.5002:" /tmp/ipv6.dump | awk '{for(i=1;i<NF;i++) if($i=="length"){sub(":","",$(i+1)); if($(i+1)+0>1514) n++; break}} END{print n+0}')
  # bulk both ways, byte counts
  gsh "echo $((IPV6_MB*16)) > /tmp/zero.blocks" >/dev/null
  local t0=$(now); n_tx=$(timeout 150 busybox nc $ip6 5001 | wc -c); local t1=$(now)
  local tx_mbit=$(awk -v n=$n_tx -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  t0=$(now); dd if=/dev/zero bs=65536 count=$((IPV6_MB*16)) 2>/dev/null | timeout 150 busybox nc -w 5 $ip6 5002; t1=$(now)
  sleep 1; n_rx=$(gsh "cat /tmp/rx.count" | tr -d ' \r\n')
  local rx_mbit=$(awk -v n=$n_rx -v a=$t0 -v b=$t1 'BEGIN{printf "%.1f", n*8/(b-a)/1e6}')
  if [ "$out" = 3 ] && [ "$back" = 3 ] && [ "$n_tx" = $want ] && [ "$n_rx" = $want ] \
     && [ "$be" = "feature-gso-tcpv6=1 feature-ipv6-csum-offload=1 " ] && [ "$fe" = "$be" ] && [ "$gso_out" -gt 0 ] && [ "$gso_in" -gt 0 ]; then
    result ipv6 PASS "ping6 3/3 both ways; ${IPV6_MB} MiB TCP over IPv6 each way (guest-tx $tx_mbit, guest-rx $rx_mbit Mbit/s); backend and frontend ${be% }; frames over 1514 bytes on $v: $gso_out from the guest, $gso_in to it"
  else
    result ipv6 FAIL "ping6 dom0->guest=$out guest->dom0=$back tcp tx=$n_tx rx=$n_rx want=$want backend: $be frontend: $fe gso frames out/in=$gso_out/$gso_in"
    head -n 6 /tmp/ipv6.dump | sed 's/^/DIAG ipv6: /'
  fi
}
