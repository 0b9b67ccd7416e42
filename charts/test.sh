#!/usr/bin/env bash
# Tests of the Helm chart (charts/speechbatch) and the Dockerfiles (docker/), without a cluster
# and without a Docker engine. Needs setup/k8s.sh to have run (helm, kubectl,
# kubernetes-validate, and the apiextensions-apiserver + etcd test API).
#
#   charts/test.sh            prints "ok N - ..." per check, exits 1 at the first failure
#
# Checks, in order:
#   1. helm lint --strict, with the default values and with ci/kueue-clusterwide-values.yaml
#      (Kueue, cluster-wide RBAC, an existing API key Secret, a models PVC, tolerations...);
#   2. helm template of both (and with the REST shim off);
#   3. every rendered manifest passes kubernetes-validate --strict for the Kubernetes version
#      helm and kubectl ship (and the validator does reject an unknown field);
#   4. the CRDs helm installs (crds/: SpeechBatch and LanguageModel) are byte-for-byte the
#      checked-in, crdgen-generated ones, and no template renders another (that crdgen's output
#      matches the files is the crds crate's tests the_checked_in_*crd_is_what_crdgen_prints);
#   5. every RBAC rule in templates/ has a comment line directly above it, and every rule of
#      the rendered Roles/ClusterRoles does too;
#   6. no rendered manifest holds a secret value: the only Secret is the generated API key
#      (with resource-policy keep), none with apiKey.existingSecret; secret-like env vars come
#      from secretKeyRef; no key material or credential-looking strings anywhere;
#   7. the flags the chart passes to speechbatch-operator and speechbatch are ones their clap
#      configs define (an unknown flag would make the pod exit at start);
#   8. docker/check.py: the Dockerfiles' static check;
#   9. on a real apiextensions-apiserver (scripts/k8s-env): the rendered CRDs are accepted and
#      Established, the SpeechBatch and LanguageModel manifests of examples/ are accepted by
#      their schemas, and `kubectl get sbatch` and `kubectl get slm` show the printer columns.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
# shellcheck source=../setup/k8s/env.sh
. setup/k8s/env.sh

need() {
  if [ ! -x "$1" ]; then
    echo "charts/test.sh: $2 is missing ($1). Run setup/k8s.sh first: it installs helm, kubectl," >&2
    echo "kubernetes-validate and the test API server into \${SPEECHBATCH_CACHE:-~/.cache/speechbatch}/k8s." >&2
    exit 1
  fi
}
need "$HELM" helm
need "$KUBECTL" kubectl
need "$KUBERNETES_VALIDATE" kubernetes-validate
need "$APIEXT_SERVER" apiextensions-apiserver
need "$ETCD" etcd
# kubernetes-validate's venv has PyYAML, which the checks below use.
py="$(dirname "$KUBERNETES_VALIDATE")/python"

chart=charts/speechbatch
crd=$chart/crds/speechbatches.speechbatch.io.yaml
lm_crd=$chart/crds/languagemodels.speechbatch.io.yaml
ci_values=$chart/ci/kueue-clusterwide-values.yaml
work="$(mktemp -d)"
apiserver_dir=""
cleanup() {
  if [ -n "$apiserver_dir" ]; then scripts/k8s-env stop "$apiserver_dir" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

n=0
t0=$(date +%s)
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "FAIL - $*" >&2; exit 1; }
# run LOGNAME CMD...: run quietly; on failure show its output and fail.
run() {
  local log="$work/$1.log"; shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$*"; }
}

# --- 1. lint ---------------------------------------------------------------------------------
run lint-default "$HELM" lint --strict "$chart"
ok "helm lint --strict (default values)"
run lint-ci "$HELM" lint --strict "$chart" -f "$ci_values"
ok "helm lint --strict ($ci_values)"

# --- 2. template ------------------------------------------------------------------------------
render() { # NAME ARGS...: render with the CRD into $work/NAME.yaml
  local name="$1"; shift
  "$HELM" template speechbatch "$chart" --namespace speechbatch --include-crds "$@" \
    >"$work/$name.yaml" 2>"$work/$name.err" || { cat "$work/$name.err" >&2; fail "helm template $*"; }
}
render default
render ci -f "$ci_values"
render noshim --set apiShim.enabled=false
ok "helm template: default ($(grep -c '^kind:' "$work/default.yaml") objects), ci ($(grep -c '^kind:' "$work/ci.yaml")), apiShim off ($(grep -c '^kind:' "$work/noshim.yaml"))"

# --- 3. manifest validation -----------------------------------------------------------------
kube_version="$("$KUBECTL" version --client -o json |
  "$py" -c 'import json,sys; v=json.load(sys.stdin)["clientVersion"]; print(v["major"] + "." + v["minor"].rstrip("+") + ".0")')"
for r in default ci noshim; do
  run "validate-$r" "$KUBERNETES_VALIDATE" --strict --quiet -k "$kube_version" "$work/$r.yaml"
done
# The validator must actually reject something: an unknown field in a Deployment.
"$py" - "$work/default.yaml" "$work/bad.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Deployment"]
docs[0]["spec"]["template"]["spec"]["containers"][0]["imagePulPolicy"] = "Always"
yaml.safe_dump(docs[0], open(sys.argv[2], "w"))
PY
if "$KUBERNETES_VALIDATE" --strict --quiet -k "$kube_version" "$work/bad.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate --strict accepted a Deployment with an unknown field"
fi
ok "kubernetes-validate --strict (Kubernetes $kube_version) passes all three renders, rejects an unknown field"

# --- 4. the CRD -------------------------------------------------------------------------------
"$py" - "$work/default.yaml" "$crd" "$lm_crd" <<'PY' || fail "the CRDs helm installs differ from $crd and $lm_crd"
import sys, yaml
rendered, checked_in = sys.argv[1], sys.argv[2:]
text = open(rendered).read()
crds = [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition"]
assert len(crds) == len(checked_in), f"expected {len(checked_in)} CRDs in the render, found {len(crds)}"
for path in checked_in:
    want = open(path).read()
    doc = yaml.safe_load(want)
    assert doc in crds, f"the rendered CRDs do not include {path}"
    assert want.strip() in text, f"the rendered CRD is not byte-for-byte {path}"
PY
[ "$(ls "$chart/crds" | sort | tr '\n' ' ')" = "$(printf '%s\n' "$(basename "$lm_crd")" "$(basename "$crd")" | sort | tr '\n' ' ')" ] \
  || fail "$chart/crds must hold only $(basename "$crd") and $(basename "$lm_crd")"
"$HELM" template speechbatch "$chart" --namespace speechbatch | grep -q '^kind: CustomResourceDefinition' \
  && fail "a template renders a CRD: CRDs belong in $chart/crds (generated by crdgen) only"
ok "the chart installs exactly the checked-in CRDs (crdgen drift itself: crds/tests/crd.rs)"

# --- 5. a comment on every RBAC rule -----------------------------------------------------------
"$py" - "$chart/templates" "$work/default.yaml" "$work/ci.yaml" <<'PY' || fail "RBAC rules without a comment (see above)"
import glob, os, re, sys, yaml
bad = []
# In the templates: each rule starts with `- apiGroups:` (or nonResourceURLs), and the line
# right above it is a comment. A rule written another way round is refused too.
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.yaml"))):
    lines = open(path).read().splitlines()
    in_rules = False
    for i, line in enumerate(lines):
        if re.match(r"^\s*rules:\s*$", line):
            in_rules, indent = True, None
            continue
        if not in_rules:
            continue
        m = re.match(r"^(\s*)- (\w+):", line)
        if m and (indent is None or len(m.group(1)) == indent):
            indent = len(m.group(1))
            if m.group(2) not in ("apiGroups", "nonResourceURLs"):
                bad.append(f"{path}:{i+1}: a rule must start with apiGroups: (so its comment sits above it)")
            elif not lines[i - 1].lstrip().startswith("#"):
                bad.append(f"{path}:{i+1}: rule without a comment line directly above it")
        elif line.strip() and not line.lstrip().startswith("#") and indent is not None \
                and len(line) - len(line.lstrip()) < indent:
            in_rules = False
# In the renders: count rules per Role/ClusterRole against commented `- apiGroups:` lines.
total = 0
for render in sys.argv[2:]:
    for chunk in open(render).read().split("\n---\n"):
        doc = yaml.safe_load(chunk)
        if not doc or doc.get("kind") not in ("Role", "ClusterRole"):
            continue
        lines = chunk.splitlines()
        commented = sum(1 for i, l in enumerate(lines)
                        if re.match(r"^\s*- (apiGroups|nonResourceURLs):", l) and lines[i-1].lstrip().startswith("#"))
        rules = len(doc.get("rules") or [])
        total += rules
        if rules != commented:
            bad.append(f"{render}: {doc['kind']} {doc['metadata']['name']}: {rules} rules, {commented} with a comment")
for b in bad:
    print(b, file=sys.stderr)
print(total, file=open(os.environ.get("RULES_OUT", "/dev/null"), "w"))
sys.exit(1 if bad else 0)
PY
ok "every RBAC rule has a comment saying why (templates and renders)"

# --- 6. no secret values in the manifests ------------------------------------------------------
"$py" - "$work/default.yaml" "$work/ci.yaml" "$work/noshim.yaml" <<'PY' || fail "a rendered manifest holds a secret value (see above)"
import base64, os, re, sys, yaml
bad = []
SECRETISH_ENV = re.compile(r"(KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)", re.I)
PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r'"?(secret_key|access_key|secret_access_key|apikey|api_key|password|token)"?\s*[:=]\s*"?[A-Za-z0-9+/_-]{8,}', re.I),
     "a credential-looking key: value"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"), "a JWT"),
]
def walk_env(obj, where):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "env" and isinstance(v, list):
                for e in v:
                    if SECRETISH_ENV.search(e.get("name", "")) and "value" in e:
                        bad.append(f"{where}: env {e['name']} has a literal value (use valueFrom.secretKeyRef)")
            walk_env(v, where)
    elif isinstance(obj, list):
        for v in obj:
            walk_env(v, where)
for render in sys.argv[1:]:
    secrets, generated = [], []
    for chunk in open(render).read().split("\n---\n"):
        doc = yaml.safe_load(chunk)
        if not doc:
            continue
        where = f"{render}: {doc['kind']} {doc['metadata']['name']}"
        if doc["kind"] == "Secret":
            secrets.append(doc)
            name = doc["metadata"]["name"]
            ok_secret = (name.endswith("-api-key")
                         and doc["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
                         and list(doc.get("data", {})) and len(doc["data"]) == 1 and "stringData" not in doc)
            if not ok_secret:
                bad.append(f"{where}: the only Secret allowed is the generated API key (one data key, resource-policy keep)")
            generated += [base64.b64decode(v).decode() for v in doc.get("data", {}).values()]
            continue
        if doc["kind"] == "ConfigMap":
            bad.append(f"{where}: the chart makes no ConfigMaps (secrets could hide there)")
        walk_env(doc, where)
        for rx, what in PATTERNS:
            for m in rx.finditer(chunk):
                bad.append(f"{where}: {what}: {m.group(0)[:40]}...")
    for key in generated:
        if len(key) < 32:
            bad.append(f"{render}: the generated API key is only {len(key)} characters")
        rest = open(render).read().replace(base64.b64encode(key.encode()).decode(), "")
        if key in rest:
            bad.append(f"{render}: the generated API key appears outside its Secret")
    # The file name, not the path: a random temporary folder name can contain "ci" too.
    if os.path.basename(render) == "ci.yaml" and secrets:
        bad.append(f"{render}: with apiKey.existingSecret the chart must create no Secret")
    if os.path.basename(render) == "noshim.yaml" and secrets:
        bad.append(f"{render}: without the REST shim there is no API key Secret to make")
    if os.path.basename(render) == "default.yaml" and len(secrets) != 1:
        bad.append(f"{render}: expected exactly the generated API key Secret, found {len(secrets)} Secrets")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
ok "no secret values rendered (only the generated API key Secret; none with existingSecret)"

# --- 7. the flags the chart passes exist ---------------------------------------------------------
"$py" - "$work/default.yaml" "$work/ci.yaml" <<'PY' || fail "the chart passes flags the binaries do not define (see above)"
import glob, os, re, sys, yaml
def clap_flags(src_dirs):
    """Long flags of the clap derive structs under src_dirs: #[arg(long...)] field -> --field."""
    flags = set()
    paths = [p for d in src_dirs for p in glob.glob(os.path.join(d, "**/*.rs"), recursive=True)]
    for path in paths:
        text = open(path).read()
        for m in re.finditer(r"#\[arg\(([^\]]*?)\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:", text, re.S):
            attrs, field = m.group(1), m.group(2)
            if not re.search(r"\blong\b", attrs):
                continue
            explicit = re.search(r'\blong\s*=\s*"([^"]+)"', attrs)
            flags.add("--" + (explicit.group(1) if explicit else field.replace("_", "-")))
    return flags
# Each binary's own flags, and those of the argument groups it flattens in (logging from
# telemetry/src, buckets and the model store from storage/src). The Kubernetes image's `speechbatch` is built without the embedded backend,
# so its pods may only use the flags of api-shim/src outside that backend's groups.
binaries = {
    "operator": ("speechbatch-operator", ["operator/src", "telemetry/src", "storage/src"]),
    "api-shim": ("speechbatch", ["api-shim/src", "telemetry/src", "storage/src"]),
}
problems = []
for render in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(render)):
        if not doc or doc["kind"] != "Deployment":
            continue
        c = doc["spec"]["template"]["spec"]["containers"][0]
        binary, src = binaries[c["name"]]
        known = clap_flags(src) | {"--help", "--version"}
        for a in c.get("args", []):
            if a.startswith("--"):
                flag = a.split("=", 1)[0]
                if flag not in known:
                    problems.append(f"{os.path.basename(render)}: {binary} does not define {flag} ({src}); the pod would exit at start")
for p in sorted(set(problems)):
    print("error: " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
ok "chart flags checked against the clap configs of operator/src and api-shim/src"

# --- 8. Dockerfiles --------------------------------------------------------------------------------
run docker-check python3 docker/check.py
sed 's/^/    /' "$work/docker-check.log"
ok "docker/check.py: Dockerfiles' stages, COPY sources, build targets, runtime libraries, users"

# --- 9. the CRD on a real apiextensions-apiserver --------------------------------------------------
apiserver_dir="$work/apiserver"
run k8s-env scripts/k8s-env start "$apiserver_dir"
. "$apiserver_dir/env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
"$py" - "$work/default.yaml" "$work/crd.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "CustomResourceDefinition"]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
run crd-apply k apply --server-side -f "$work/crd.yaml"
run crd-wait k wait --for=condition=Established crd/speechbatches.speechbatch.io crd/languagemodels.speechbatch.io --timeout=30s
for _ in $(seq 1 50); do
  k api-resources 2>/dev/null | grep -q '^speechbatches ' && k api-resources 2>/dev/null | grep -q '^languagemodels ' && break
  sleep 0.2
done
# The examples' SpeechBatch documents (their Secrets need core/v1, which this server lacks).
"$py" - "$work/examples.yaml" examples/*.yaml <<'PY'
import sys, yaml
docs = [d for f in sys.argv[2:] for d in yaml.safe_load_all(open(f)) if d and d.get("kind") == "SpeechBatch"]
assert docs, "no SpeechBatch in examples/"
yaml.safe_dump_all(docs, open(sys.argv[1], "w"))
PY
run examples-apply k apply -n speechbatch -f "$work/examples.yaml"
k get sbatch -n speechbatch >"$work/get.txt" 2>&1 || { cat "$work/get.txt" >&2; fail "kubectl get sbatch"; }
head -1 "$work/get.txt" | grep -Eq '^NAME +STATUS +TOTAL +SUCCEEDED +FAILED +PROGRESS +AGE *$' \
  || { cat "$work/get.txt" >&2; fail "kubectl get sbatch does not show Status/Total/Succeeded/Failed/Progress/Age"; }
# A manifest outside the schema is refused by the server.
if printf 'apiVersion: speechbatch.io/v1alpha1\nkind: SpeechBatch\nmetadata: {name: bad}\nspec: {function: translate}\n' |
  k apply -n speechbatch --validate=false -f - >/dev/null 2>&1; then
  fail "the server accepted a SpeechBatch with spec.function=translate"
fi
# The examples' LanguageModel documents, and their printer columns.
"$py" - "$work/lm-examples.yaml" examples/*.yaml <<'PY'
import sys, yaml
docs = [d for f in sys.argv[2:] for d in yaml.safe_load_all(open(f)) if d and d.get("kind") == "LanguageModel"]
assert docs, "no LanguageModel in examples/"
yaml.safe_dump_all(docs, open(sys.argv[1], "w"))
PY
run lm-examples-apply k apply -n speechbatch -f "$work/lm-examples.yaml"
k get slm -n speechbatch >"$work/get-lm.txt" 2>&1 || { cat "$work/get-lm.txt" >&2; fail "kubectl get slm"; }
head -1 "$work/get-lm.txt" | grep -Eq '^NAME +MODEL +BASE +STATUS +WORDS +AGE *$' \
  || { cat "$work/get-lm.txt" >&2; fail "kubectl get slm does not show Model/Base/Status/Words/Age"; }
if printf 'apiVersion: speechbatch.io/v1alpha1\nkind: LanguageModel\nmetadata: {name: bad}\nspec: {name: x, baseModelName: fr-FR_BroadbandModel}\n' |
  k apply -n speechbatch --validate=false -f - >/dev/null 2>&1; then
  fail "the server accepted a LanguageModel with an unknown base model"
fi
ok "apiextensions-apiserver: CRDs Established, $(($(wc -l <"$work/get.txt") - 1)) example SpeechBatches and $(($(wc -l <"$work/get-lm.txt") - 1)) LanguageModels accepted, printer columns shown, bad specs refused"
scripts/k8s-env stop "$apiserver_dir" >/dev/null 2>&1 || true
apiserver_dir=""

echo "charts/test.sh: $n passed in $(($(date +%s) - t0)) s"
