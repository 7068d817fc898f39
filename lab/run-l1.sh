#!/bin/bash
# Boot L1 under plain qemu-system-x86_64 (TCG), daemonized; wait until ssh answers.
#   run-l1.sh [--image baked|base|PATH] [--persist] [--no-wait]
#   --image    the disk: baked (default when it exists), base, or a raw file
#   --persist  write straight into the image (bake.sh); default: a throw-away qcow2 overlay
# QEMU's PID goes to $LAB_PIDFILE; QMP at $LAB_QMP, HMP at $LAB_HMP, serial -> $LAB_SERIAL.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lab.env"

IMG=""; PERSIST=0; WAIT=1
while [ $# -gt 0 ]; do
  case $1 in
    --image) IMG=$2; shift 2;;
    --persist) PERSIST=1; shift;;
    --no-wait) WAIT=0; shift;;
    *) echo "unknown arg $1" >&2; exit 2;;
  esac
done
case $IMG in
  "") if [ -f "$LAB_BAKED" ]; then IMG=$LAB_BAKED; else IMG=$LAB_BASE; fi;;
  base) IMG=$LAB_BASE;;
  baked) IMG=$LAB_BAKED;;
esac
[ -f "$IMG" ] || { echo "no image $IMG (run lab/ensure-image.sh)" >&2; exit 1; }

mkdir -p "$LAB_RUN"
if [ -f "$LAB_PIDFILE" ] && kill -0 "$(cat "$LAB_PIDFILE")" 2>/dev/null; then
  echo "L1 already running in $LAB_RUN, pid $(cat "$LAB_PIDFILE")" >&2; exit 1
fi
if ss -ltnH "sport = :$LAB_SSH_PORT" | grep -q .; then
  echo "port $LAB_SSH_PORT already in use" >&2; exit 1
fi
rm -f "$LAB_QMP" "$LAB_HMP" "$LAB_SERIAL" "$LAB_CTL" "$LAB_PIDFILE" "$LAB_OVERLAY"

if [ $PERSIST = 1 ]; then
  DRIVE="file=$IMG,format=raw"
else
  qemu-img create -q -f qcow2 -F raw -b "$IMG" "$LAB_OVERLAY"
  DRIVE="file=$LAB_OVERLAY,format=qcow2"
fi

APPEND="root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 apparmor=0 selinux=0 mitigations=off quiet loglevel=4 ${LAB_APPEND_EXTRA:-}"

t0=$(date +%s%N)
# qemu-xhci with $LAB_XHCI_PORTS ports per speed (QEMU's default is 4). When only one port is
# left QEMU inserts a usb-hub and the next device goes behind it; Lab.plug picks a free root port
# itself (port=), so only a test that asks for QEMU's choice ever gets the hub.
qemu-system-x86_64 -name kvmdeck-lab-L1 -no-user-config -nodefaults \
  -machine q35 -accel "tcg,thread=multi${LAB_TB_SIZE:+,tb-size=$LAB_TB_SIZE}" \
  -cpu "$LAB_CPU,svm=off" -smp "$LAB_SMP" -m "$LAB_MEM" \
  -kernel "$LAB_KERNEL" -initrd "$LAB_INITRD" -append "$APPEND" \
  -drive "if=none,id=root,$DRIVE,cache=unsafe,discard=unmap" -device virtio-blk-pci,drive=root \
  -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$LAB_SSH_PORT-:22" -device virtio-net-pci,netdev=n0 \
  -device virtio-rng-pci \
  -device "qemu-xhci,id=xhci,p2=$LAB_XHCI_PORTS,p3=$LAB_XHCI_PORTS" \
  -qmp "unix:$LAB_QMP,server=on,wait=off" -monitor "unix:$LAB_HMP,server=on,wait=off" \
  -serial "file:$LAB_SERIAL" -display none -vga none \
  -daemonize -pidfile "$LAB_PIDFILE"
echo "L1 started, pid $(cat "$LAB_PIDFILE")"
[ $WAIT = 1 ] || exit 0

for _ in $(seq 1 300); do
  if lab_ssh true 2>/dev/null; then
    echo "ssh ready after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
    exit 0
  fi
  kill -0 "$(cat "$LAB_PIDFILE")" 2>/dev/null || { echo "qemu died" >&2; tail -30 "$LAB_SERIAL" >&2; exit 1; }
  sleep 1
done
echo "ssh not ready after 300 s" >&2; tail -30 "$LAB_SERIAL" >&2; exit 1
