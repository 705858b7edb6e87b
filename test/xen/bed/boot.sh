#!/bin/bash
# Boot the test bed built by build.sh and run one scenario inside dom0.
#   boot.sh SCENARIO.sh [EXTRA_DIR...]
# SCENARIO.sh becomes /scenario.sh in dom0 (it runs as root after dom0 is up, then the VM powers off).
# Each EXTRA_DIR is copied into dom0's / (e.g. a folder holding /opt/netback with the project).
# dom0 also gets /scenario-common.sh (helpers: sourced first by every scenario) and
# /boot/vmlinuz + /boot/domU.cpio.gz for `xl create`.
# Output: the serial log on stdout. Env: XQ_TIMEOUT (s, default 600), XQ_MEM (MiB, 4096: room for a 1.5 GiB driver domain next to the guests), XQ_SMP (2),
# XQ_XEN_ARGS (appended to the Xen command line), XQ_XEN_FPU (default spec-ctrl=eager-fpu; set it
# empty to get Xen's default lazy FPU switching back, which this emulated CPU does not survive).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"; C="${XEN_TESTBED_CACHE:-$(cd "$HERE/../../.." && pwd)/.cache/xen-testbed}"
SCEN="$(readlink -f "$1")"; shift
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
mkdir -p "$W/root/boot"
cp "$SCEN" "$W/root/scenario.sh"; chmod +x "$W/root/scenario.sh"
cp "$HERE/scenarios/common.sh" "$W/root/scenario-common.sh"
cp "$C/vmlinuz" "$W/root/boot/vmlinuz"; cp "$C/domU.cpio.gz" "$W/root/boot/domU.cpio.gz"
for d in "$@"; do cp -a "$d"/. "$W/root/"; done
(cd "$W/root" && find . | cpio -o -H newc --quiet) > "$W/extra.cpio"
cat "$C/dom0-base.cpio" "$W/extra.cpio" > "$W/dom0.cpio"
# KVM here cannot run Xen (nested emulation failure), so plain TCG; the CPU flags below let PV dom0 boot.
# XQ_CPU overrides the model (turning AVX off made no difference to the daemon crash under bulk load).
# Eager FPU switching: the TCG CPU says AMD, so Xen 4.17 switches PV vCPUs' FPU state lazily
# (CR0.TS, restore on #NM), and under this emulator a dom0 process then sometimes computes with
# another vCPU's SSE/x87 registers: V8 dies at random (Zone OOM, corrupted numbers, SIGSEGV) and
# test/xen/scenarios/fpu-probe.mjs sees wrong float results with no device of ours open. With
# spec-ctrl=eager-fpu (Xen's own LazyFPU mitigation, the default on affected Intel parts) both go away.
# Not quite all: the CI run of session 6's stop saw the probe trap once ("memory access out of bounds" at
# a load of its fixed-input checksum) while the daemon had passed every scenario; a boot that ran the
# probe for 20 x 30 s under the same guest traffic saw nothing (session 7). Rare, but it is there.
timeout "${XQ_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg,thread=multi -cpu "${XQ_CPU:-max,-pku,-smap,-smep,-la57}" \
  -m "${XQ_MEM:-4096}" -smp "${XQ_SMP:-2}" -nographic -no-reboot -monitor none \
  -kernel "$C/xen.elf" -append "dom0_mem=1536M,max:1536M console=com1 com1=115200 loglvl=all guest_loglvl=all ${XQ_XEN_FPU-spec-ctrl=eager-fpu} ${XQ_XEN_ARGS:-}" \
  -initrd "$C/vmlinuz console=hvc0 earlyprintk=xen rdinit=/init,$W/dom0.cpio" </dev/null
