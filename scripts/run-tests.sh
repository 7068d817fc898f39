#!/usr/bin/env bash
# The whole suite, as `make test` runs it (after lint, with libvirtd up):
#   1. the slow tests (a host hung for 200 s, twice) start in the background: they mostly wait,
#      so they run beside the main suite instead of adding 7 minutes after it;
#   2. the main suite; 3. the umockdev tests under umockdev-wrapper (the fake /sys leaks into
#      children started later, so the daemons are up first); 4. the slow tests are waited for:
#      they must end before 5. the libvirtd-restart tests; 6. the USB lab.
# Any failing step fails the run; the slow tests' output is printed whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
PYTEST=${PYTEST:-.venv/bin/pytest}
slow_log=$(mktemp /tmp/kvmdeck-slow.XXXXXX)
"$PYTEST" tests --ignore=tests/usb --ignore=tests/lab -m "slow and not last" -p no:cacheprovider \
  >"$slow_log" 2>&1 &
slow_pid=$!
finish_slow() {
  wait "$slow_pid"
  local rc=$?
  echo "--- the slow tests (run beside the main suite) ---"
  cat "$slow_log"
  rm -f "$slow_log"
  return $rc
}
trap 'kill "$slow_pid" 2>/dev/null; rm -f "$slow_log"' INT TERM
failed=0
"$PYTEST" tests --ignore=tests/usb --ignore=tests/lab -m "not last and not slow" || failed=1
umockdev-wrapper "$PYTEST" tests/usb || failed=1
finish_slow || failed=1
"$PYTEST" tests --ignore=tests/usb --ignore=tests/lab -m last || failed=1
scripts/start-libvirtd.sh "$PY" >/dev/null || failed=1
"$PYTEST" tests/lab -m lab || failed=1
exit $failed
