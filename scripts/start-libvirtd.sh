#!/usr/bin/env bash
# Start virtlogd and libvirtd when they are not running (this machine has no systemd), then wait
# until libvirt answers: the first start probes QEMU's capabilities, so a fixed sleep is not enough.
set -euo pipefail
PY=${1:-.venv/bin/python}
# Without udev (containers, this VM) /dev/kvm stays 0600 root:root. QEMU runs as libvirt-qemu
# (group kvm) and cannot open it; libvirt then finds its cached QEMU capabilities "outdated" on
# every call ("KVM was enabled when probing ..., but it is not available now") and re-probes
# QEMU each time: a guest start takes minutes instead of seconds. Debian's udev rule makes it
# root:kvm 0660; do the same here.
if [[ -c /dev/kvm && $(id -u) -eq 0 ]] && getent group kvm >/dev/null; then
  if [[ $(stat -c '%G %a' /dev/kvm) != "kvm 660" && $(stat -c '%G %a' /dev/kvm) != "kvm 666" ]]; then
    echo "Fixing /dev/kvm permissions (root:kvm 0660, as Debian's udev rule would)"
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
  fi
fi
pgrep -x virtlogd >/dev/null || /usr/sbin/virtlogd -d
pgrep -x libvirtd >/dev/null || /usr/sbin/libvirtd -d
"$PY" - <<'PYEOF'
import sys, time
import libvirt
libvirt.registerErrorHandler(lambda *_: None, None)
end = time.monotonic() + 90
last = ""
while time.monotonic() < end:
    try:
        libvirt.open("qemu:///system").close()
        print("libvirtd is up")
        sys.exit(0)
    except libvirt.libvirtError as exc:
        last = str(exc)
        time.sleep(0.5)
print(f"libvirtd did not answer within 90 s: {last}", file=sys.stderr)
sys.exit(1)
PYEOF
