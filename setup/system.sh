#!/usr/bin/env bash
# Installs the Debian packages of a list (default setup/debian-packages.txt) that are missing
# (idempotent).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
list="${1:-$here/debian-packages.txt}"
# Two set-ups at once (a fuzzing campaign beside the test suite) take turns: the second then finds
# the packages installed. apt's own locks would fail it instead (`apt-get update` does not wait).
exec 9>"${TMPDIR:-/tmp}/speechbatch-setup-system.lock"
flock 9
mapfile -t wanted < <(grep -v '^\s*#' "$list" | grep -v '^\s*$')
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing Debian packages: ${missing[*]}" >&2
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
# Another program may hold dpkg's lock (unattended upgrades): wait for it rather than fail.
wait_lock=(-o DPkg::Lock::Timeout=600)
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait_lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
