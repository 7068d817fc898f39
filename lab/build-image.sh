#!/bin/bash
# Build the L1 image: Debian 12 rootfs (mmdebstrap, from this machine's own apt sources) ->
# raw ext4 base.img + kernel + initrd for a direct kernel boot, + the ssh key.
#   build-image.sh          writes $LAB_IMG_DIR/{base.img,vmlinuz,initrd.img,id_ed25519}
# Root only. No loop device or mount: `mkfs.ext4 -d` fills the image from the directory.
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lab.env"

[ "$(id -u)" = 0 ] || { echo "build-image.sh: needs root (mmdebstrap --mode=root)" >&2; exit 1; }
"$LAB_HERE/host-deps.sh"

mkdir -p "$LAB_IMG_DIR"
ROOTFS=$LAB_IMG_DIR/rootfs
rm -rf "$ROOTFS" "$LAB_BASE.tmp" "$LAB_IMG_DIR/sources"
[ -f "$LAB_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C kvmdeck-lab -f "$LAB_KEY"

INCLUDE=$(grep -vE '^[[:space:]]*(#|$)' "$LAB_HERE/image/packages.txt" | paste -sd, -)
mapfile -t SOURCES < <("$LAB_HERE/apt-sources.py" "$LAB_SUITE" "$LAB_IMG_DIR/sources")

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
      echo MODULES=list > "$1/etc/initramfs-tools/conf.d/lab.conf"
      printf "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n" > "$1/usr/share/initramfs-tools/modules.d/lab"' \
  --customize-hook="sh $LAB_HERE/image/customize.sh \"\$1\" $LAB_HERE/image $LAB_KEY.pub" \
  "$LAB_SUITE" "$ROOTFS" "${SOURCES[@]}"
t1=$(date +%s)

KVER=$(ls "$ROOTFS/lib/modules" | sort -V | tail -1)
cp "$ROOTFS/boot/vmlinuz-$KVER" "$LAB_KERNEL"
cp "$ROOTFS/boot/initrd.img-$KVER" "$LAB_INITRD"
echo "$KVER" > "$LAB_IMG_DIR/kernel.version"
cp "$ROOTFS/root/lab/packages.txt" "$LAB_IMG_DIR/packages.txt"

truncate -s "$LAB_IMG_SIZE" "$LAB_BASE.tmp"
mkfs.ext4 -q -F -L kvmdeck-lab -E root_owner=0:0 -d "$ROOTFS" "$LAB_BASE.tmp"
mv "$LAB_BASE.tmp" "$LAB_BASE"
rm -f "$LAB_BAKED"            # a new base invalidates the baked image
t2=$(date +%s)
rm -rf "$ROOTFS"
echo "build-image: mmdebstrap $((t1-t0)) s, mkfs $((t2-t1)) s, kernel $KVER, $(du -sh "$LAB_BASE" | cut -f1) on disk"
