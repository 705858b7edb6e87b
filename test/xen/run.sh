#!/bin/bash
# npm run test:xen: builds the Xen test bed once (into .cache/xen-testbed, git-ignored) and this tree's
# Debian package (npm run package, unless deb/ holds it already), boots Xen + dom0 + Linux guests
# under QEMU and runs test/xen/scenarios/netback.sh in dom0, which installs the package first. Prints the RESULT lines; fails if any is FAIL, if one it
# expects (the list below, from the same env the scenario gets) is missing, or if one it does not know
# appeared. The serial log is kept in .cache/xen-testbed/last-run.log.
# Env: BULK_MB (MiB per direction, default 32), BASELINE (a built checkout measured in the same boot), STRACE=1 (syscall counts of the daemon per direction), PERF=1 (dom0 profile, needs perf in the bed), FRAMES=1 (TCP data frame sizes on the vif, both backends), G2G (default 1; 0 skips the guest-to-guest bulk through the bridge, both backends, shown in the compare line), XQ_TIMEOUT (s, default 3000), DAEMON_NODE_FLAGS
# (extra node flags for the daemon in dom0), PROFILE=1 (V8 CPU profile of the first daemon process,
# summarized as PROFILE lines; implies EXTRA_SCENARIOS=0 unless set), EXTRA_SCENARIOS (0: ping, bulk,
# shutdown and the baseline only), XEN_SCENARIOS (the extra scenarios to run, default all of:
# lifecycle ipv6 save-restore vif-route vif-openvswitch jumbo driver-domain migrate; "lifecycle" is detach-attach,
# destroy, two-queues, rate, crash-restart, restart and two-guests, which run on one guest in turn;
# "driver-domain" boots dom0's root filesystem as a PV driver domain (scenarios/driver-domain.sh);
# "migrate" live-migrates a PV guest to this host, scenarios/domid-change.sh), FPU_PROBE (seconds of the dom0 FPU check under guest
# traffic after the baseline, default 30; 0 = off), XQ_XEN_ARGS / XQ_XEN_FPU (Xen command line, bed/boot.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
C="${XEN_TESTBED_CACHE:-$ROOT/.cache/xen-testbed}"; export XEN_TESTBED_CACHE="$C"
t0=$(date +%s)
bash "$HERE/bed/build.sh"
cd "$ROOT"
# What dom0 runs is the Debian package an operator installs (npm run package): the scenario starts
# with `dpkg -i` and runs the installed /usr/bin/wasm-netback. The .deb already in deb/ is used when
# packaging/deb/inputs.sh says it was built from this tree (in CI, npm run test:package just built
# it), else it is built here (~1.5 min).
VERSION="$(node -p "require('./package.json').version")"
DEB="deb/wasm-netback_${VERSION}_$(dpkg --print-architecture).deb"
if [ -f "$DEB" ] && [ "$(cat "$DEB.inputs" 2>/dev/null)" = "$(bash packaging/deb/inputs.sh)" ]; then
  echo "=== $DEB was built from this tree: installing it in dom0"
else
  echo "=== npm run package (log: $C/package.log)"
  npm run package > "$C/package.log" 2>&1 || { tail -n 20 "$C/package.log"; exit 1; }
fi
S="$(mktemp -d)"; trap 'rm -rf "$S"' EXIT
mkdir -p "$S/pkg"; cp "$DEB" "$S/pkg/"
# the scenarios netback.sh sources (every other .sh here) and the probes it runs go to dom0's /scenarios
mkdir -p "$S/scenarios"; for f in "$HERE"/scenarios/*; do [ "$(basename "$f")" = netback.sh ] || cp "$f" "$S/scenarios/"; done
# BASELINE=DIR: another built checkout (its dist, build/*.wasm, build/Release/netback.node) whose
# daemon runs the same bulk workload in the same boot, with the package's Node.js and this
# checkout's runtime dependencies, for a before/after of a change in one run
if [ -n "${BASELINE:-}" ]; then
  B="$S/opt/wasm-netback-baseline"; mkdir -p "$B/build/Release"
  cp -a "$BASELINE/dist" "$BASELINE/package.json" "$B/"; cp "$BASELINE"/build/*.wasm "$B/build/"
  cp "$BASELINE/build/Release/netback.node" "$B/build/Release/"
  for d in $(npm ls --omit=dev --all --parseable | tail -n +2); do
    rel="${d#"$ROOT"/}"; mkdir -p "$B/$(dirname "$rel")"; cp -aL "$d" "$B/$rel"
  done
fi
EXTRA="${EXTRA_SCENARIOS:-$([ "${PROFILE:-0}" = 1 ] && echo 0 || echo 1)}"; FPU="${FPU_PROBE:-30}"
DEFAULT_EXTRA="lifecycle ipv6 save-restore vif-route vif-openvswitch jumbo driver-domain migrate"
ONLY="${XEN_SCENARIOS:-$DEFAULT_EXTRA}"
for g in $ONLY; do case " $DEFAULT_EXTRA " in *" $g "*) ;; *) echo "XEN_SCENARIOS: no scenario $g (one of: $DEFAULT_EXTRA)" >&2; exit 2;; esac; done
printf 'BULK_MB=%s\nPERF=%s\nSTRACE=%s\nDAEMON_NODE_FLAGS="%s"\nFPU_PROBE=%s\nPROFILE=%s\nEXTRA_SCENARIOS=%s\nFRAMES=%s\nG2G=%s\nXEN_SCENARIOS="%s"\nPKG_VERSION=%s\n' "${BULK_MB:-32}" "${PERF:-0}" "${STRACE:-0}" "${DAEMON_NODE_FLAGS:-}" \
  "$FPU" "${PROFILE:-0}" "$EXTRA" "${FRAMES:-0}" "${G2G:-1}" "$ONLY" "$VERSION" > "$S/scenario.env"
# every RESULT name the scenario prints with this env (compare is INFO, the rest PASS|FAIL)
EXPECTED="package-install daemon-ready ping viz-snapshot list-stats bulk"
if [ "$EXTRA" != 0 ]; then
  for g in $ONLY; do
    case $g in lifecycle) EXPECTED="$EXPECTED detach-attach destroy two-queues rate crash-restart restart two-guests";; *) EXPECTED="$EXPECTED $g";; esac
  done
fi
EXPECTED="$EXPECTED shutdown compare"
[ "$FPU" != 0 ] && EXPECTED="$EXPECTED fpu-probe"
# the scenario reads BULK_MB from /scenario.env
sed '2i [ -f /scenario.env ] && . /scenario.env' "$HERE/scenarios/netback.sh" > "$S/netback.sh"
LOG="$C/last-run.log"
echo "=== booting the test bed (serial log: $LOG)"
XQ_TIMEOUT="${XQ_TIMEOUT:-3000}" bash "$HERE/bed/boot.sh" "$S/netback.sh" "$S" > "$LOG" 2>&1 || true
grep -a -E '^(RESULT|=== |check rc|xl create rc|guest1 is|driver domain: |DD |bridge members|backend:|counters:|(wasm|kernel) guest-|dom0 memory|daemon node flags|MEM: |kernel traps|DIAG |PROFILE |cpu |frames |STRACE |PERF |FRAMES |G2G |baseline |jumbo: |migrate: |package: )' "$LOG" | tr -d '\r' || true
names="$(grep -a -o '^RESULT [^ ]*' "$LOG" | tr -d '\r' | cut -d' ' -f2 || true)"
results=$(echo "$names" | grep -c . || true)
fails=$(grep -a -c '^RESULT [^ ]* FAIL' "$LOG" || true)
missing=""; for n in $EXPECTED; do echo "$names" | grep -qx -- "$n" || missing="$missing $n"; done
unknown=""; for n in $names; do case " $EXPECTED " in *" $n "*) ;; *) unknown="$unknown $n";; esac; done
dups="$(echo "$names" | sort | uniq -d | tr '\n' ' ')"
done_=$(grep -a -q SCENARIO-DONE "$LOG" && echo yes || echo no)
echo "test:xen: $results RESULT lines of $(echo $EXPECTED | wc -w) expected, $fails failed, missing:${missing:- none}, unknown:${unknown:- none}, repeated: ${dups:-none}, scenario done: $done_, $(( $(date +%s) - t0 )) s"
[ "$fails" = 0 ] && [ -z "$missing" ] && [ -z "$unknown" ] && [ -z "$dups" ] && [ $done_ = yes ]
