#!/bin/bash
# npm run test:xen: builds the Xen test bed once (into .cache/xen-testbed, git-ignored), stages the
# built checkout into dom0's /opt/wasm-netback, boots Xen + dom0 + a Linux PV guest under QEMU and
# runs test/xen/scenarios/netback.sh there. Prints the RESULT lines; fails if any is FAIL or if none
# appeared. The serial log is kept in .cache/xen-testbed/last-run.log.
# Env: BULK_MB (MiB per direction, default 32), BASELINE (a built checkout measured in the same boot), STRACE=1 (syscall counts of the daemon per direction), PERF=1 (dom0 profile, needs perf in the bed), FRAMES=1 (TCP data frame sizes on the vif, both backends), G2G (default 1; 0 skips the guest-to-guest bulk through the bridge, both backends, shown in the compare line), XQ_TIMEOUT (s, default 1200), DAEMON_NODE_FLAGS
# (extra node flags for the daemon in dom0), PROFILE=1 (V8 CPU profile of the first daemon process,
# summarized as PROFILE lines; implies EXTRA_SCENARIOS=0 unless set), EXTRA_SCENARIOS (0: ping, bulk,
# shutdown and the baseline only), FPU_PROBE (seconds of the dom0 FPU check under guest
# traffic after the baseline, default 30; 0 = off), XQ_XEN_ARGS / XQ_XEN_FPU (Xen command line, bed/boot.sh).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; ROOT="$(cd "$HERE/../.." && pwd)"
C="${XEN_TESTBED_CACHE:-$ROOT/.cache/xen-testbed}"; export XEN_TESTBED_CACHE="$C"
t0=$(date +%s)
bash "$HERE/bed/build.sh"
cd "$ROOT"
# what goes into dom0 is this checkout as it is now (each step is quick when nothing changed)
npm run build:wasm > /dev/null
npm run build:ts > /dev/null
npm run build:native > /dev/null
S="$(mktemp -d)"; trap 'rm -rf "$S"' EXIT
O="$S/opt/wasm-netback"; mkdir -p "$O/build/Release" "$O/node_modules"
cp -a dist package.json "$O/"; cp "$HERE/scenarios/fpu-probe.mjs" "$HERE/scenarios/profile-summary.mjs" "$O/"
cp build/*.wasm "$O/build/"; cp build/Release/netback.node "$O/build/Release/"
cp -aL node_modules/commander "$O/node_modules/"
# BASELINE=DIR: another built checkout (its dist, build/*.wasm, build/Release/netback.node) whose
# daemon runs the same bulk workload in the same boot, for a before/after of a change in one run
if [ -n "${BASELINE:-}" ]; then
  B="$S/opt/wasm-netback-baseline"; mkdir -p "$B/build/Release"
  cp -a "$BASELINE/dist" "$BASELINE/package.json" "$B/"; cp "$BASELINE"/build/*.wasm "$B/build/"
  cp "$BASELINE/build/Release/netback.node" "$B/build/Release/"; cp -a "$O/node_modules" "$B/"
fi
printf 'BULK_MB=%s\nPERF=%s\nSTRACE=%s\nDAEMON_NODE_FLAGS="%s"\nFPU_PROBE=%s\nPROFILE=%s\nEXTRA_SCENARIOS=%s\nFRAMES=%s\nG2G=%s\n' "${BULK_MB:-32}" "${PERF:-0}" "${STRACE:-0}" "${DAEMON_NODE_FLAGS:-}" \
  "${FPU_PROBE:-30}" "${PROFILE:-0}" "${EXTRA_SCENARIOS:-$([ "${PROFILE:-0}" = 1 ] && echo 0 || echo 1)}" "${FRAMES:-0}" "${G2G:-1}" > "$S/scenario.env"
# the scenario reads BULK_MB from /scenario.env
sed '2i [ -f /scenario.env ] && . /scenario.env' "$HERE/scenarios/netback.sh" > "$S/netback.sh"
LOG="$C/last-run.log"
echo "=== booting the test bed (serial log: $LOG)"
XQ_TIMEOUT="${XQ_TIMEOUT:-1200}" bash "$HERE/bed/boot.sh" "$S/netback.sh" "$S" > "$LOG" 2>&1 || true
grep -a -E '^(RESULT|=== |check rc|xl create rc|guest1 is|bridge members|backend:|counters:|(wasm|kernel) guest-|dom0 memory|daemon node flags|MEM: |kernel traps|DIAG |PROFILE |cpu |frames |STRACE |PERF |FRAMES |G2G |baseline )' "$LOG" | tr -d '\r' || true
results=$(grep -a -c '^RESULT ' "$LOG" || true)
fails=$(grep -a -c '^RESULT [^ ]* FAIL' "$LOG" || true)
echo "test:xen: $results RESULT lines, $fails failed, $(( $(date +%s) - t0 )) s"
[ "$results" -gt 0 ] && [ "$fails" = 0 ] && grep -a -q SCENARIO-DONE "$LOG"
