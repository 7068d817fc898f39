#!/bin/sh
# mmdebstrap customize hook: runs OUTSIDE the chroot.  customize.sh ROOTFS IMAGEDIR PUBKEY
set -eu
R=$1; IMG=$2; PUB=$3

echo kvmdeck-lab > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kvmdeck-lab\n' > "$R/etc/hosts"
printf '/dev/vda / ext4 rw,noatime,errors=remount-ro 0 0\n' > "$R/etc/fstab"
: > "$R/etc/machine-id"          # regenerated on the first boot (bake.sh)

# root: key login over ssh; password "lab" on the serial console only
mkdir -p -m 700 "$R/root/.ssh"
cp "$PUB" "$R/root/.ssh/authorized_keys"
chmod 600 "$R/root/.ssh/authorized_keys"
echo 'root:lab' | chroot "$R" chpasswd
printf 'UseDNS no\nPermitRootLogin prohibit-password\nMaxSessions 64\nMaxStartups 64\n' \
  > "$R/etc/ssh/sshd_config.d/lab.conf"

# network: systemd-networkd, DHCP from QEMU user networking (net.ifnames=0 -> eth0)
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' \
  > "$R/etc/systemd/network/10-eth0.network"
chroot "$R" systemctl enable systemd-networkd.service ssh.service libvirtd.service

# a short boot: no timers, no wait-online; no libvirt default network (needs dnsmasq); no
# libvirt-guests (at poweroff it ACPI-shuts-down L2, which has no OS, and waits 300 s)
for u in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
         logrotate.timer dpkg-db-backup.timer systemd-networkd-wait-online.service \
         e2scrub_reap.service libvirt-guests.service; do
  chroot "$R" systemctl mask "$u" >/dev/null 2>&1 || true
done
rm -f "$R/etc/libvirt/qemu/networks/autostart/default.xml"
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n' > "$R/etc/systemd/journald.conf.d/lab.conf"

# serial console autologin (debugging through serial.log)
mkdir -p "$R/etc/systemd/system/serial-getty@ttyS0.service.d"
printf '[Service]\nExecStart=\nExecStart=-/sbin/agetty --autologin root --noclear %%I 115200 vt220\n' \
  > "$R/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"

# libvirtd without its 120 s idle timeout: the daemon and its event stream stay up
mkdir -p "$R/etc/default"
echo 'LIBVIRTD_ARGS=""' > "$R/etc/default/libvirtd"

# L2's disk: one boot sector, "cli; hlt; jmp back" (fa f4 eb fd ... 55 aa), in a 1 MiB image:
# SeaBIOS never boots a 512-byte disk (L2 then idles in SeaBIOS at half a CPU of L1)
mkdir -p "$R/var/lib/libvirt/images"
printf '\372\364\353\375' > "$R/var/lib/libvirt/images/L2-halt.img"
truncate -s 510 "$R/var/lib/libvirt/images/L2-halt.img"
printf '\125\252' >> "$R/var/lib/libvirt/images/L2-halt.img"
truncate -s 1M "$R/var/lib/libvirt/images/L2-halt.img"
chmod 644 "$R/var/lib/libvirt/images/L2-halt.img"

mkdir -p "$R/root/lab"
cp "$IMG/L2.xml" "$R/root/lab/L2.xml"
chroot "$R" dpkg-query -W -f '${Package} ${Version}\n' > "$R/root/lab/packages.txt"
rm -rf "$R/var/cache/apt/archives/"*.deb "$R/var/lib/apt/lists/"*_Packages* 2>/dev/null || true
