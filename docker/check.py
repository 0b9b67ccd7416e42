#!/usr/bin/env python3
"""Static check of the Dockerfiles in docker/ (no Docker engine needed; stdlib only).

There is no Docker engine and no hadolint on the development machines, so the images cannot be
built here. This reads each docker/*.Dockerfile and fails on the mistakes that would only show
up at `docker build` time or, worse, at run time:

- every stage's base is an earlier stage or a pinned image from the allowed set (the Rust
  builder `rust:1.95-bookworm`, the runtime `debian:bookworm-slim`); stage names are unique;
- every COPY/ADD source from the build context exists in the repository and is not left out by
  the Dockerfile's own `<name>.Dockerfile.dockerignore`;
- every `COPY --from=STAGE` names an earlier stage, and the copied path is one that stage
  mentions (made by its commands);
- the builder copies Cargo.toml, Cargo.lock and every workspace member (Cargo needs them all),
  runs `cargo build --release -p CRATE --locked` for a workspace member, and installs a binary
  that crate really builds (a crate without any binary target yet is reported, not failed);
- a stage that holds a binary whose crate links the audio codecs (setup/debian-packages.txt's
  -dev packages) installs their runtime packages (libopus0, libbcg729-0);
- the `models` stage copies every file setup/models.sh reads, and is the same in every
  Dockerfile; ORT_DYLIB_PATH and SPEECHBATCH_MODELS point into directories copied from it, with
  the library file name of setup/env.sh;
- the final stage runs as a numeric non-root USER and has an exec-form ENTRYPOINT.

Usage: docker/check.py [REPO_ROOT]   (prints one line per Dockerfile; exit 1 on any failure)
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass, field

ALLOWED_BASES = {"rust:1.95-bookworm", "debian:bookworm-slim"}
# Debian -dev package (build) -> the runtime package that ships its shared library (bookworm).
RUNTIME_PACKAGE = {"libopus-dev": "libopus0", "libbcg729-dev": "libbcg729-0"}
# Build-only packages with no runtime counterpart.
BUILD_ONLY = {"pkg-config"}
# Crates that link the C codecs (audio/build.rs probes libopus and libbcg729).
CODEC_CRATE = "speechbatch-audio"


@dataclass
class Instr:
    line: int
    op: str
    args: str


@dataclass
class Stage:
    index: int
    name: str | None
    base: str
    instrs: list[Instr] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(f"{i.op} {i.args}" for i in self.instrs)


def parse(path: str) -> list[Instr]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instr] = []
    buf, start = "", 0
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#") or not line.strip():
                if buf:  # comment or blank line inside a continued instruction
                    continue
                continue
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            op, _, args = buf.strip().partition(" ")
            out.append(Instr(start, op.upper(), args.strip()))
            buf = ""
    if buf:
        raise SystemExit(f"{path}: the last instruction ends with a line continuation")
    return out


def split_args(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        return json.loads(args)
    return shlex.split(args, posix=True)


def ignore_rules(path: str) -> list[tuple[bool, re.Pattern]]:
    """(negated, regex) pairs of a .dockerignore, in order (the last match wins)."""
    rules = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            neg = line.startswith("!")
            pat = line[1:].strip() if neg else line
            pat = os.path.normpath(pat).lstrip("/")
            rx, i = "", 0
            while i < len(pat):
                c = pat[i]
                if pat.startswith("**", i):
                    rx += ".*"
                    i += 2
                    if pat.startswith("/", i):
                        rx = rx[:-2] + "(?:.*/)?"
                        i += 1
                    continue
                rx += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
                i += 1
            rules.append((neg, re.compile(f"^{rx}$")))
    return rules


def ignored(rules, rel: str) -> bool:
    """Docker's semantics: a pattern matches a path or any of its parent directories."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    result = False
    for neg, rx in rules:
        if any(rx.match(c) for c in candidates):
            result = not neg
    return result


def workspace(root: str):
    """{package name: (dir, manifest)} of the Cargo workspace members."""
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    crates = {}
    for m in members:
        with open(os.path.join(root, m, "Cargo.toml"), "rb") as f:
            manifest = tomllib.load(f)
        crates[manifest["package"]["name"]] = (m, manifest)
    return members, crates


def binaries(root: str, crate_dir: str, manifest: dict) -> set[str]:
    """Binary targets as Cargo sees them: explicit [[bin]]s, plus auto-discovered src/main.rs
    and src/bin/*.rs whose paths no explicit target already claims."""
    explicit = manifest.get("bin", [])
    bins = {b["name"] for b in explicit if "name" in b}
    claimed = {os.path.normpath(b.get("path", f"src/bin/{b.get('name')}.rs")) for b in explicit}
    if not manifest.get("package", {}).get("autobins", True):
        return bins
    if os.path.exists(os.path.join(root, crate_dir, "src/main.rs")) and "src/main.rs" not in claimed:
        bins.add(manifest["package"]["name"])
    for p in glob.glob(os.path.join(root, crate_dir, "src/bin/*.rs")):
        if os.path.relpath(p, os.path.join(root, crate_dir)) not in claimed:
            bins.add(os.path.basename(p)[:-3])
    return bins


def path_deps(crates, name: str, no_default_features: bool = False) -> set[str]:
    """Workspace crates `name` depends on (normal dependencies, transitively). Built with
    `--no-default-features`, the optional dependencies of `name` itself are left out (its default
    features are what turn them on; this is a conservative reading: deeper crates keep all)."""
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen or n not in crates:
            continue
        seen.add(n)
        deps = crates[n][1].get("dependencies", {})
        for dep, spec in deps.items():
            optional = isinstance(spec, dict) and spec.get("optional", False)
            if n == name and no_default_features and optional:
                continue
            todo.append(spec.get("package", dep) if isinstance(spec, dict) else dep)
    return seen


def models_sh_inputs(root: str) -> set[str]:
    with open(os.path.join(root, "setup/models.sh"), encoding="utf-8") as f:
        text = f.read()
    return {"setup/" + m for m in re.findall(r'\$here/([A-Za-z0-9_.-]+)', text)}


def check(root: str, dockerfile: str, members, crates, notes: list[str]) -> list[str]:
    errs: list[str] = []
    rel_df = os.path.relpath(dockerfile, root)
    err = lambda line, msg: errs.append(f"{rel_df}:{line}: {msg}")

    ignore_file = dockerfile + ".dockerignore"
    if not os.path.exists(ignore_file):
        err(0, f"missing {os.path.relpath(ignore_file, root)} (the build-context filter)")
        rules = []
    else:
        rules = ignore_rules(ignore_file)

    stages: list[Stage] = []
    for ins in parse(dockerfile):
        if ins.op == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            base = words[0]
            name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
            if name and any(s.name == name for s in stages):
                err(ins.line, f"stage name {name!r} used twice")
            known = {s.name for s in stages if s.name}
            if base.lower() not in known:
                if base not in ALLOWED_BASES:
                    err(ins.line, f"base image {base!r} is neither an earlier stage nor one of {sorted(ALLOWED_BASES)}")
            stages.append(Stage(len(stages), name, base.lower()))
            continue
        if not stages:
            if ins.op != "ARG":
                err(ins.line, f"{ins.op} before the first FROM")
            continue
        stages[-1].instrs.append(ins)

    if not stages:
        return errs + [f"{rel_df}: no FROM"]
    by_name = {s.name: s for s in stages if s.name}

    def ancestry(stage: Stage) -> list[Stage]:
        chain = [stage]
        while chain[-1].base in by_name:
            chain.append(by_name[chain[-1].base])
        return chain

    # --- COPY / ADD -------------------------------------------------------------------------
    context_copies: dict[int, list[str]] = {}
    for st in stages:
        for ins in st.instrs:
            if ins.op not in ("COPY", "ADD"):
                continue
            words = split_args(ins.args) if ins.args.lstrip().startswith("[") else shlex.split(ins.args)
            flags = [w for w in words if w.startswith("--")]
            paths = [w for w in words if not w.startswith("--")]
            if len(paths) < 2:
                err(ins.line, f"{ins.op} needs a source and a destination")
                continue
            srcs, dest = paths[:-1], paths[-1]
            if len(srcs) > 1 and not dest.endswith("/"):
                err(ins.line, f"{ins.op} of several sources needs a destination ending in '/'")
            src_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
            if src_stage is None:
                for s in srcs:
                    s = s.rstrip("/")
                    hits = glob.glob(os.path.join(root, s))
                    if not hits:
                        err(ins.line, f"COPY source {s!r} does not exist in the repository")
                    elif rules and ignored(rules, os.path.normpath(s)):
                        err(ins.line, f"COPY source {s!r} is left out by {os.path.basename(ignore_file)}")
                    context_copies.setdefault(st.index, []).append(os.path.normpath(s))
                continue
            ref = src_stage.lower()
            earlier = {s.name: s for s in stages[: st.index] if s.name}
            if ref.isdigit():
                if int(ref) >= st.index:
                    err(ins.line, f"--from={src_stage} is not an earlier stage")
                    continue
                ref_stage = stages[int(ref)]
            elif ref in earlier:
                ref_stage = earlier[ref]
            else:
                err(ins.line, f"--from={src_stage} names no earlier stage (stages before it: {sorted(earlier)})")
                continue
            text = "\n".join(s.text() for s in ancestry(ref_stage))
            for s in srcs:
                if s.rstrip("/") not in text:
                    err(ins.line, f"stage {ref_stage.name!r} never mentions {s!r}: nothing there makes it")

    # --- the builder: the workspace and cargo build ---------------------------------------------
    built: dict[str, tuple[str, str, bool]] = {}  # /out path -> (crate, bin, --no-default-features)
    for st in stages:
        for ins in st.instrs:
            if ins.op != "RUN" or "cargo build" not in ins.args:
                continue
            m = re.search(r"cargo build --release -p ([A-Za-z0-9_-]+) --locked", ins.args)
            if not m:
                err(ins.line, "the build must read `cargo build --release -p CRATE --locked`")
                continue
            crate = m.group(1)
            if crate not in crates:
                err(ins.line, f"-p {crate}: no such workspace member (members: {sorted(crates)})")
                continue
            copied = set(context_copies.get(st.index, []))
            for f in ["Cargo.toml", "Cargo.lock", *members]:
                if os.path.normpath(f) not in copied:
                    err(ins.line, f"the builder stage does not COPY {f} (Cargo needs the whole workspace)")
            crate_dir, manifest = crates[crate]
            bins = binaries(root, crate_dir, manifest)
            for b, dest in re.findall(r"target/release/([A-Za-z0-9_-]+)\s+(/\S+)", ins.args):
                if not bins:
                    notes.append(f"{rel_df}:{ins.line}: note: crate {crate} has no binary target yet; "
                                 f"the image expects `{b}` ([[bin]] name = \"{b}\")")
                elif b not in bins:
                    err(ins.line, f"crate {crate} builds no binary {b!r} (it builds {sorted(bins)})")
                built[dest] = (crate, b, "--no-default-features" in ins.args)
            if "target/release/" not in ins.args:
                err(ins.line, "the build does not copy a binary out of target/release/")

    # --- runtime libraries of binaries copied into each stage -------------------------------------
    with open(os.path.join(root, "setup/debian-packages.txt"), encoding="utf-8") as f:
        dev_pkgs = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
    for p in dev_pkgs:
        if p not in RUNTIME_PACKAGE and p not in BUILD_ONLY:
            errs.append(f"docker/check.py: setup/debian-packages.txt has {p}: add its runtime package to RUNTIME_PACKAGE")
    for st in stages:
        for ins in st.instrs:
            if ins.op != "COPY" or "--from=" not in ins.args:
                continue
            for dest_out, (crate, b, no_default) in built.items():
                if dest_out in ins.args.split():
                    if CODEC_CRATE in path_deps(crates, crate, no_default):
                        installed = " ".join(i.args for s in ancestry(st) for i in s.instrs if i.op == "RUN")
                        for dev, rt in RUNTIME_PACKAGE.items():
                            if dev in dev_pkgs and not re.search(rf"(^|\s){re.escape(rt)}(\s|$)", installed):
                                err(ins.line, f"{b} links {dev}'s library ({crate} -> {CODEC_CRATE}) but stage "
                                              f"{st.name!r} does not install {rt}")

    # --- models stage, ORT_DYLIB_PATH, SPEECHBATCH_MODELS ----------------------------------------
    models = by_name.get("models")
    if models is not None:
        copied = set(context_copies.get(models.index, []))
        for need in sorted(models_sh_inputs(root)):
            if need not in copied and os.path.exists(os.path.join(root, need)):
                err(models.instrs[0].line, f"the models stage does not COPY {need}, which setup/models.sh reads")
        if not any(i.op == "RUN" and "setup/models.sh" in i.args for i in models.instrs):
            err(models.instrs[0].line, "the models stage does not run setup/models.sh")
    with open(os.path.join(root, "setup/env.sh"), encoding="utf-8") as f:
        m = re.search(r"ORT_DYLIB_PATH:-[^}]*/(libonnxruntime[^}\"]*)", f.read())
    ort_file = m.group(1) if m else None
    for st in stages:
        env = {}
        for s in reversed(ancestry(st)):
            for i in s.instrs:
                if i.op == "ENV":
                    for w in shlex.split(i.args):
                        if "=" in w:
                            k, v = w.split("=", 1)
                            env[k] = v
        own_env = " ".join(i.args for i in st.instrs if i.op == "ENV")
        if ("ORT_DYLIB_PATH" in env) != ("SPEECHBATCH_MODELS" in env) and st.name != "models":
            err(st.instrs[0].line, f"stage {st.name!r} sets only one of ORT_DYLIB_PATH and SPEECHBATCH_MODELS")
        if "ORT_DYLIB_PATH" in env and "ORT_DYLIB_PATH" in own_env:
            dests = [split_args(i.args)[-1] for s in ancestry(st) for i in s.instrs
                     if i.op == "COPY" and "--from=models" in i.args]
            ort = env["ORT_DYLIB_PATH"]
            if os.path.dirname(ort) not in [d.rstrip("/") for d in dests]:
                err(st.instrs[0].line, f"ORT_DYLIB_PATH={ort} is not in a directory copied from the models stage")
            if ort_file and os.path.basename(ort) != ort_file:
                err(st.instrs[0].line, f"ORT_DYLIB_PATH names {os.path.basename(ort)}, setup/env.sh {ort_file}")
            if env.get("SPEECHBATCH_MODELS", "").rstrip("/") not in [d.rstrip("/") for d in dests]:
                err(st.instrs[0].line, "SPEECHBATCH_MODELS is not a directory copied from the models stage")

    # --- the final stage ---------------------------------------------------------------------------
    final = stages[-1]
    users = [i for s in ancestry(final) for i in s.instrs if i.op == "USER"]
    if not users:
        err(final.instrs[0].line if final.instrs else 0, "the final stage has no USER (runs as root)")
    else:
        uid = users[0].args.split(":")[0]
        if not uid.isdigit() or uid == "0":
            err(users[0].line, f"USER {users[0].args}: use a numeric non-root uid (the kubelet checks runAsNonRoot by number)")
    for st in stages:
        if any(i.op == "ENTRYPOINT" for i in st.instrs) or st is final:
            for i in st.instrs:
                if i.op in ("USER",) and (not i.args.split(":")[0].isdigit() or i.args.split(":")[0] == "0"):
                    err(i.line, f"USER {i.args}: numeric non-root uid expected")
            eps = [i for s in ancestry(st) for i in s.instrs if i.op == "ENTRYPOINT"]
            if not eps:
                err(0, f"stage {st.name!r} has no ENTRYPOINT")
            elif not eps[0].args.startswith("["):
                err(eps[0].line, "ENTRYPOINT must be in exec (JSON) form, so that signals reach the process")
            if not any(i.op == "USER" for s in ancestry(st) for i in s.instrs):
                err(0, f"target stage {st.name!r} has no USER")
    return errs


def models_stage_text(path: str) -> str | None:
    cur, out = None, {}
    for ins in parse(path):
        if ins.op == "FROM":
            words = ins.args.split()
            cur = words[2].lower() if len(words) >= 3 else None
            out.setdefault(cur, [])
        out.setdefault(cur, []).append(f"{ins.op} {ins.args}")
    return "\n".join(out["models"]) if "models" in out else None


def main() -> int:
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    members, crates = workspace(root)
    dockerfiles = sorted(glob.glob(os.path.join(root, "docker/*.Dockerfile")))
    expected = {"operator", "api-shim", "transcriber"}
    found = {os.path.basename(d)[: -len(".Dockerfile")] for d in dockerfiles}
    errs, notes = [], []
    for missing in sorted(expected - found):
        errs.append(f"docker/{missing}.Dockerfile is missing")
    for d in dockerfiles:
        e = check(root, d, members, crates, notes)
        print(f"{'ok  ' if not e else 'FAIL'} {os.path.relpath(d, root)}")
        errs += e
    texts = {os.path.relpath(d, root): models_stage_text(d) for d in dockerfiles}
    texts = {k: v for k, v in texts.items() if v is not None}
    if len(set(texts.values())) > 1:
        errs.append(f"the models stages differ between {sorted(texts)}: keep them identical")
    for n in notes:
        print(n)
    for e in errs:
        print(e, file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
