#!/bin/bash
# First boot of a copy of base.img, written in place, so that every later boot skips it:
# systemd's first boot (machine-id), libvirt's QEMU capability probe, L2 defined. -> baked.img
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lab.env"
[ -f "$LAB_BASE" ] || { echo "no $LAB_BASE: run build-image.sh first" >&2; exit 1; }
TMP=$LAB_IMG_DIR/baked.img.tmp
cp --sparse=always "$LAB_BASE" "$TMP"
t0=$(date +%s)
"$LAB_HERE/run-l1.sh" --image "$TMP" --persist
trap '"$LAB_HERE/stop-l1.sh" >/dev/null 2>&1 || true' EXIT
lab_ssh 'set -e
  systemctl is-system-running --wait >/dev/null || true
  virsh -c qemu:///system capabilities >/dev/null
  ls /var/cache/libvirt/qemu/capabilities/ >/dev/null
  virsh define /root/lab/L2.xml >/dev/null
  virsh start L2 >/dev/null
  virsh destroy L2 >/dev/null
  sync'
"$LAB_HERE/stop-l1.sh"
trap - EXIT
mv "$TMP" "$LAB_BAKED"
echo "bake: $(( $(date +%s) - t0 )) s"
