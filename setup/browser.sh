#!/usr/bin/env bash
# What the admin console's browser test needs beside Debian's chromium and chromium-driver (which
# setup/system.sh installs from setup/debian-packages.txt): axe-core, the accessibility checker
# the test runs inside the page, from the npm registry at the version setup/browser/package-lock.json
# pins. Idempotent: nothing is fetched when the installed copy matches the lock file.
set -euo pipefail
here="$(cd "$(dirname "$0")/browser" && pwd)"
stamp="$here/node_modules/.lock-sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ -f "$here/node_modules/axe-core/axe.min.js" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "setup/browser.sh: npm is needed (Node.js) to install axe-core" >&2; exit 1; }
(cd "$here" && npm ci --no-audit --no-fund --silent)
echo "$want" > "$stamp"
