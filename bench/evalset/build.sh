#!/usr/bin/env bash
# Builds the ASR evaluation set (see README.md beside this file).
#
#   bench/evalset/build.sh OUT_DIR
#
# Installs what it needs, once (idempotent: later runs only rebuild OUT_DIR):
#  - Debian packages: the TTS engines and voices, sox, ffmpeg, pocketsphinx-testdata;
#  - the voices Debian ships in contrib/non-free (Festival rab, don and the MBROLA voices),
#    fetched with a private apt configuration (the system's sources stay untouched) and
#    installed as ordinary .deb files, only with EVALSET_NONFREE=1 (by default free substitutes are used);
#  - a venv with pinned PyPI packages (requirements.txt) under
#    ${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}/evalset-venv.
# Needs root or sudo for apt-get. Network: Debian and PyPI only.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 1 ]; then echo "usage: $0 OUT_DIR" >&2; exit 2; fi
out="$1"
cache="${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}"
nonfree="${EVALSET_NONFREE:-0}"
start=$(date +%s)
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_OPTS=(-y -o DPkg::Lock::Timeout=900 --no-install-recommends)
export DEBIAN_FRONTEND=noninteractive

missing() {  # prints the packages of "$@" that are not installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

main_pkgs=(flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k espeak-ng
           sox ffmpeg pocketsphinx-testdata python3-venv)
need=($(missing "${main_pkgs[@]}"))
if [ ${#need[@]} -gt 0 ]; then
  echo "evalset: installing ${need[*]}"
  $SUDO apt-get update -o DPkg::Lock::Timeout=900 -qq
  $SUDO apt-get install "${APT_OPTS[@]}" -qq "${need[@]}" >/dev/null
fi

# Voices from Debian's contrib and non-free components (restricted licences, see README.md).
nf_pkgs=(festlex-oald festvox-rablpc16k festvox-don festvox-us1 festvox-us2 festvox-us3 festvox-en1
         mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1)
if [ "$nonfree" != "0" ]; then
  need=($(missing "${nf_pkgs[@]}"))
  if [ ${#need[@]} -gt 0 ]; then
    echo "evalset: fetching ${need[*]} from Debian contrib/non-free"
    apt_dir="$cache/evalset-apt"
    rm -rf "$apt_dir"; mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/debs"
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
    # the system's own Debian mirror (a URI ending in /debian), else deb.debian.org
    mirror="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}' \
              | grep -E '/debian/?$' | head -n1 || true)"
    [ -n "$mirror" ] || mirror="$(grep -hs '^deb ' /etc/apt/sources.list | grep -oE 'https?://[^ ]*/debian/?( |$)' \
              | head -n1 | tr -d ' ' || true)"
    [ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
    signed=""; [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && signed="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
    echo "deb ${signed}${mirror} ${codename} contrib non-free" > "$apt_dir/sources.list"
    priv=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/none"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o "APT::Sandbox::User=root")
    if $SUDO apt-get "${priv[@]}" update -qq \
       && (cd "$apt_dir/debs" && $SUDO apt-get "${priv[@]}" download "${need[@]}" >/dev/null) \
       && $SUDO apt-get install "${APT_OPTS[@]}" -qq "$apt_dir"/debs/*.deb >/dev/null; then
      echo "evalset: installed ${need[*]}"
    else
      echo "evalset: WARNING: could not install the contrib/non-free voices; free substitutes will be used" >&2
    fi
  fi
fi

venv="$cache/evalset-venv"
if ! cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  echo "evalset: creating $venv"
  rm -rf "$venv"; mkdir -p "$cache"
  py=/usr/bin/python3; [ -x "$py" ] || py="$(command -v python3)"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi

echo "evalset: set-up took $(( $(date +%s) - start )) s"
"$venv/bin/python" "$here/build.py" "$out"
echo "evalset: build.sh took $(( $(date +%s) - start )) s in all"
