#!/bin/bash
# Stop L1: destroy its guests, systemd poweroff over ssh; then QMP quit; then SIGKILL, by PID.
#   stop-l1.sh [TIMEOUT_S=60]
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lab.env"
T=${1:-60}
stop_master() {
  ssh -O exit -o ControlPath="$LAB_CTL" -p "$LAB_SSH_PORT" root@127.0.0.1 >/dev/null 2>&1 || true
  rm -f "$LAB_CTL"
}
[ -f "$LAB_PIDFILE" ] || { stop_master; echo "L1 not running (no pidfile)"; exit 0; }
PID=$(cat "$LAB_PIDFILE")
kill -0 "$PID" 2>/dev/null || { stop_master; rm -f "$LAB_PIDFILE"; echo "L1 not running"; exit 0; }
t0=$(date +%s)
# an OS-less L2 never answers an ACPI shutdown: destroy the guests first
timeout 20 "${LAB_SSH[@]}" 'for d in $(virsh list --name 2>/dev/null); do virsh destroy "$d" >/dev/null; done; systemctl poweroff' >/dev/null 2>&1 \
  || python3 "$LAB_HERE/qmp.py" --sock "$LAB_QMP" powerdown >/dev/null 2>&1 || true
quit_sent=0
while kill -0 "$PID" 2>/dev/null; do
  el=$(( $(date +%s) - t0 ))
  if [ $el -ge "$T" ] && [ $quit_sent = 0 ]; then
    echo "clean shutdown timed out after $T s: QMP quit"
    python3 "$LAB_HERE/qmp.py" --sock "$LAB_QMP" quit >/dev/null 2>&1 || kill "$PID"
    quit_sent=1
  elif [ $el -ge $((T + 15)) ]; then
    echo "still running: SIGKILL $PID"; kill -9 "$PID"; sleep 1; break
  fi
  sleep 0.5
done
stop_master
rm -f "$LAB_PIDFILE" "$LAB_OVERLAY"
echo "L1 stopped after $(( $(date +%s) - t0 )) s"
