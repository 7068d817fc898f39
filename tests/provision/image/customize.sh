#!/bin/sh
# mmdebstrap customize hook (runs outside the chroot): customize.sh ROOTFS
set -eu
R=$1
echo localhost > "$R/etc/hostname"     # cloud-init sets the real one
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"
printf 'LABEL=root / ext4 rw,noatime,errors=remount-ro 0 1\n' > "$R/etc/fstab"
: > "$R/etc/machine-id"
rm -f "$R/etc/ssh/ssh_host_"*            # a new guest gets its own host keys
# network: eth0 by DHCP (cloud-init's fallback config renders the same through ifupdown)
printf 'auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n' \
  > "$R/etc/network/interfaces"
# cloud-init: the NoCloud seed only (no metadata-server probing: minutes under TCG); one
# ed25519 host key; its output on the serial console (the tests read it there)
cat > "$R/etc/cloud/cloud.cfg.d/90-provision.cfg" <<CFG
datasource_list: [NoCloud, None]
ssh_genkeytypes: [ed25519]
CFG
# a short boot under TCG: no timers, no wait for the network
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
         logrotate.timer dpkg-db-backup.timer e2scrub_reap.service; do
  chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$R/etc/systemd/journald.conf.d/p.conf"
chroot "$R" dpkg-query -W -f '${Package} ${Version}\n' > "$R/root/packages.txt"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*_Packages* 2>/dev/null || true
