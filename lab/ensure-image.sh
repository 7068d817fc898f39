#!/bin/bash
# Make sure the baked L1 image of the current recipe exists: build and bake it when missing.
# Safe to run concurrently (flock). Prints the image directory on its last line.
#   ensure-image.sh [--rebuild]
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/lab.env"
mkdir -p "$LAB_ROOT"
exec 9>"$LAB_ROOT/build.lock"
flock 9
[ "${1:-}" = --rebuild ] && rm -f "$LAB_BASE" "$LAB_BAKED"
if [ ! -f "$LAB_BAKED" ]; then
  s=$(date +%s)
  # building and baking use their own ssh port and run dir, so a running lab is not disturbed
  export LAB_SSH_PORT=$((LAB_SSH_PORT + 1000)) LAB_RUN=$LAB_IMG_DIR/bake-run
  [ -f "$LAB_BASE" ] || "$LAB_HERE/build-image.sh"
  "$LAB_HERE/bake.sh"
  rm -rf "$LAB_IMG_DIR/bake-run"
  echo "ensure-image: built and baked in $(( $(date +%s) - s )) s"
fi
touch "$LAB_IMG_DIR"             # its mtime: last use
# forget images of older recipes not used for 3 days (each is ~1.7 GB)
find "$LAB_ROOT" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9a-f]\{16\}' ! -name "$LAB_HASH" \
  ! -newermt '-3 days' -exec rm -rf {} + 2>/dev/null || true
echo "$LAB_IMG_DIR"
