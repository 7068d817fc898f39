#!/usr/bin/env bash
# Build the wheel, install it into a fresh venv, and check that --help, --version and the
# styles work from the installed copy (not from this checkout).
set -euo pipefail
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m pip wheel -q --no-deps -w "$work/dist" .
"$PY" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$work"/dist/kvmdeck-*.whl
cd "$work"
"$work/venv/bin/kvmdeck" --version
"$work/venv/bin/kvmdeck" --help >/dev/null
"$work/venv/bin/python" - <<'PYEOF'
from pathlib import Path
import tui.ui.app as a
paths = a.css_paths()
assert all("site-packages" in str(p) for p in paths), paths
assert Path(paths[0]).read_text().strip(), "empty stylesheet"
import tui.demo, importlib.resources as r
assert r.files("tui.demo").joinpath("demo.xml").is_file()
print("styles from", paths[0])
PYEOF
# --demo from the installed wheel, in a real terminal (tmux): the DEMO marker is on screen.
# A private tmux server (-L, no user config): a shared one may impose its own window size.
sess="kvmdeck-wheel-$$"
tm=(tmux -L "$sess" -f /dev/null)
# Textual sizes itself from $COLUMNS/$LINES when they are set (pytest may export 80x24).
"${tm[@]}" new-session -d -s "$sess" -x 160 -y 40 \
  "env -u COLUMNS -u LINES $work/venv/bin/kvmdeck --demo"
trap '"${tm[@]}" kill-server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  if "${tm[@]}" capture-pane -p -t "$sess" | grep -q "web-frontend"; then break; fi
  sleep 0.1
done
screen=$("${tm[@]}" capture-pane -p -t "$sess")
grep -q "DEMO" <<<"$screen" || { echo "no DEMO marker on screen:"; echo "$screen"; exit 1; }
grep -q "web-frontend" <<<"$screen" || { echo "no demo guests on screen:"; echo "$screen"; exit 1; }
"${tm[@]}" send-keys -t "$sess" q
echo "wheel OK"
