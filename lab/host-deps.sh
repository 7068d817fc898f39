#!/bin/bash
# Install the host packages the lab needs (deps/apt-lab.txt), when missing. Idempotent.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
exec "$REPO/scripts/apt-ensure.sh" "$REPO/deps/apt-lab.txt"
