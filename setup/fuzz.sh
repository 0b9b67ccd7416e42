#!/usr/bin/env bash
# The fuzzer for scripts/fuzz: cargo-afl from crates.io (AFL++ on stable Rust), and the AFL++
# build it carries, made for this machine's rustc. Only fuzzing campaigns need it; the test suite
# replays the checked-in corpus without it. Idempotent.
#
# Produces $SPEECHBATCH_CACHE/cargo-afl/bin/cargo-afl (and AFL++ under ~/.local/share/afl.rs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=setup/env.sh
source "$here/env.sh"
version=0.15.24
root="$SPEECHBATCH_CACHE/cargo-afl"
log() { echo "setup: $*" >&2; }

if ! "$root/bin/cargo-afl" afl --version 2>/dev/null | grep -q "$version"; then
  log "installing cargo-afl $version"
  cargo install --locked --quiet --version "=$version" --root "$root" cargo-afl
fi
# AFL++ itself is built once per rustc version; cargo-afl refuses to rebuild it without --force.
if ! out=$("$root/bin/cargo-afl" afl config --build 2>&1); then
  if ! grep -q "already built" <<<"$out"; then
    echo "$out" >&2
    exit 1
  fi
fi
echo "$root/bin"
