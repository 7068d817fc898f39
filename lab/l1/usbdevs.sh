#!/bin/sh
# One line per USB device in L1's sysfs (root hubs too), tab-separated:
# port busnum devnum idVendor idProduct speed serial driver-of-interface-0 product
cd /sys/bus/usb/devices || exit 0
for d in *; do
  [ -f "$d/busnum" ] || continue
  drv=""
  [ -L "$d/$d:1.0/driver" ] && drv=$(basename "$(readlink "$d/$d:1.0/driver")")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$d" "$(cat "$d/busnum")" "$(cat "$d/devnum")" \
    "$(cat "$d/idVendor")" "$(cat "$d/idProduct")" "$(cat "$d/speed")" \
    "$(cat "$d/serial" 2>/dev/null)" "$drv" "$(cat "$d/product" 2>/dev/null)"
done
