#!/bin/bash
# Build the provisioning tests' cloud image: Debian 12 (mmdebstrap from this machine's own apt
# sources, as lab/build-image.sh does) with cloud-init (NoCloud only) and qemu-guest-agent, as a
# disk that boots by itself: an MBR with two partitions, a FAT /boot holding syslinux, the kernel
# and the initrd (syslinux installs through mtools: no loop device, no mount), and an ext4 root
# filled by `mkfs.ext4 -d`.
#   build.sh OUTDIR        -> OUTDIR/debian12-cloud.qcow2 (+ packages.txt, build.log timings)
# Root only (mmdebstrap --mode=root). Cached by tests/provision/image/recipe-hash.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
OUT=$1
[ "$(id -u)" = 0 ] || { echo "build.sh: needs root (mmdebstrap --mode=root)" >&2; exit 1; }
for c in mmdebstrap mkfs.ext4 mkfs.vfat syslinux mcopy sfdisk qemu-img; do
  command -v "$c" >/dev/null || { echo "build.sh: $c is missing (deps/apt-test.txt)" >&2; exit 1; }
done
mkdir -p "$OUT"
W=$OUT/work; rm -rf "$W"; mkdir -p "$W"
ROOTFS=$W/rootfs
INCLUDE=$(grep -vE '^[[:space:]]*(#|$)' "$HERE/packages.txt" | paste -sd, -)
mapfile -t SOURCES < <("$REPO/lab/apt-sources.py" bookworm "$W/sources")

t0=$(date +%s)
mmdebstrap --variant=apt --mode=root --format=directory \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --aptopt='APT::Install-Recommends "false"' \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include="$INCLUDE" \
  --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
      echo MODULES=list > "$1/etc/initramfs-tools/conf.d/provision.conf"
      printf "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n" > "$1/usr/share/initramfs-tools/modules.d/provision"' \
  --customize-hook="sh $HERE/customize.sh \"\$1\"" \
  bookworm "$ROOTFS" "${SOURCES[@]}"
t1=$(date +%s)

KVER=$(ls "$ROOTFS/lib/modules" | sort -V | tail -1)
mkdir -p "$W/boot"
cp "$ROOTFS/boot/vmlinuz-$KVER" "$W/boot/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$W/boot/initrd.img"
cp "$ROOTFS/root/packages.txt" "$OUT/packages.txt"
cat > "$W/boot/syslinux.cfg" <<CFG
DEFAULT debian
TIMEOUT 0
PROMPT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=/dev/vda2 rw console=tty0 console=ttyS0,115200 net.ifnames=0 apparmor=0 mitigations=off
CFG
rm -rf "$ROOTFS/boot/"*

# disk: 1 MiB gap, 128 MiB FAT (boot), the rest ext4 (root); 2 GiB virtual
BOOT_MB=128; DISK_MB=2048; ROOT_MB=$((DISK_MB - BOOT_MB - 1))
mkfs.vfat -C -n BOOT "$W/boot.img" $((BOOT_MB * 1024)) >/dev/null
mcopy -i "$W/boot.img" "$W/boot/vmlinuz" "$W/boot/initrd.img" "$W/boot/syslinux.cfg" ::/
syslinux --install "$W/boot.img"
truncate -s "${ROOT_MB}M" "$W/root.img"
mkfs.ext4 -q -F -L root -E root_owner=0:0 -d "$ROOTFS" "$W/root.img"
truncate -s "${DISK_MB}M" "$W/disk.img"
printf 'label: dos\nstart=1MiB, size=%sMiB, type=c, bootable\nstart=%sMiB, type=83\n' \
  "$BOOT_MB" $((BOOT_MB + 1)) | sfdisk -q "$W/disk.img"
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$W/disk.img" bs=440 count=1 conv=notrunc status=none
dd if="$W/boot.img" of="$W/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
dd if="$W/root.img" of="$W/disk.img" bs=1M seek=$((BOOT_MB + 1)) conv=notrunc,sparse status=none
qemu-img convert -f raw -O qcow2 "$W/disk.img" "$OUT/debian12-cloud.qcow2.tmp"
mv "$OUT/debian12-cloud.qcow2.tmp" "$OUT/debian12-cloud.qcow2"
chmod 0644 "$OUT/debian12-cloud.qcow2"
t2=$(date +%s)
rm -rf "$W"
echo "build.sh: mmdebstrap $((t1-t0)) s, disk $((t2-t1)) s, kernel $KVER," \
  "$(du -sh "$OUT/debian12-cloud.qcow2" | cut -f1) on disk" | tee "$OUT/build.log"
