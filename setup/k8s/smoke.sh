#!/usr/bin/env bash
# Smoke check of the test Kubernetes API (needs setup/k8s.sh to have run): starts
# scripts/k8s-env in a temporary DIR, applies a namespaced CRD with a status subresource and
# an openAPIV3Schema, and checks schema rejection, namespaces, server-side apply of status
# (kubectl and a raw apply-patch), watch, helm and kubernetes-validate; then stops everything.
# Exits non-zero on the first failure. Keep DIR with K8S_SMOKE_DIR=/some/dir.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
. "$repo/setup/k8s/env.sh"
dir="${K8S_SMOKE_DIR:-$(mktemp -d)}"
cleanup() {
  "$repo/scripts/k8s-env" stop "$dir" || true
  [ -n "${K8S_SMOKE_DIR:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "FAIL - $*" >&2; exit 1; }

t0=$(date +%s.%N)
"$repo/scripts/k8s-env" start "$dir"
ok "server ready in $(python3 -c "import sys; print(round($(date +%s.%N) - $t0, 2))") s"
. "$dir/env"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
curlk() { curl -s --cacert "$K8S_CA_FILE" --cert "$K8S_CLIENT_CERT" --key "$K8S_CLIENT_KEY" "$@"; }

k version >/dev/null || fail "kubectl version"
ok "kubectl talks to the server ($(k version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])'))"

cat >"$dir/crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.smoke.speechbatch.test
spec:
  group: smoke.speechbatch.test
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {type: integer, minimum: 1, maximum: 10}
              name: {type: string}
          status:
            type: object
            properties:
              phase: {type: string, enum: [Pending, Running, Done]}
              count: {type: integer}
EOF
k apply -f "$dir/crd.yaml" >/dev/null || fail "apply CRD"
k wait --for=condition=Established crd/widgets.smoke.speechbatch.test --timeout=30s >/dev/null \
  || fail "CRD not established"
ok "CRD applied and established"
# Discovery (kubectl's RESTMapper) and the OpenAPI schema catch up with the CRD asynchronously.
for _ in $(seq 1 50); do
  k api-resources 2>/dev/null | grep -q '^widgets ' \
    && curlk "$K8S_API_URL/openapi/v3" | grep -q 'apis/smoke.speechbatch.test/v1' && break
  sleep 0.2
done
k api-resources | grep -q '^widgets .*smoke.speechbatch.test/v1 *true *Widget' || fail "widgets not in discovery"
ok "widgets in discovery (namespaced) and in /openapi/v3"

widget() {  # name namespace size
  printf 'apiVersion: smoke.speechbatch.test/v1\nkind: Widget\nmetadata: {name: %s, namespace: %s}\nspec: {size: %s}\n' "$@"
}
widget good default 3 | k apply -f - >/dev/null || fail "create a valid widget in namespace default"
ok "custom resource created in namespace 'default' (no Namespace object exists)"
if k get namespaces >/dev/null 2>&1; then fail "the server unexpectedly serves namespaces"; fi
ok "core/v1 is not served (kubectl get namespaces fails)"
widget other never-created 1 | k apply -f - >/dev/null || fail "create in an arbitrary namespace"
ok "custom resource created in namespace 'never-created' too (NamespaceLifecycle is off)"

out="$(widget bad default 99 | k apply -f - 2>&1)" && fail "schema violation accepted (client side)"
grep -q 'should be less than or equal to 10' <<<"$out" || fail "unexpected rejection: $out"
out="$(widget bad default 99 | k apply --validate=false -f - 2>&1)" && fail "schema violation accepted by the server"
grep -q 'is invalid: spec.size' <<<"$out" || fail "unexpected rejection: $out"
out="$(printf 'apiVersion: smoke.speechbatch.test/v1\nkind: Widget\nmetadata: {name: bad2}\nspec: {name: x}\n' |
  k apply --validate=false -f - 2>&1)" && fail "missing required field accepted"
grep -q 'spec.size: Required value' <<<"$out" || fail "unexpected rejection: $out"
ok "schema violations rejected by the server (maximum, required)"

printf 'apiVersion: smoke.speechbatch.test/v1\nkind: Widget\nmetadata: {name: good, namespace: default}\nstatus: {phase: Running, count: 2}\n' |
  k apply --server-side --subresource=status --field-manager=speechbatch-smoke -f - >/dev/null \
  || fail "server-side apply of status"
[ "$(k get widget good -o jsonpath='{.status.phase}/{.status.count}')" = "Running/2" ] || fail "status not applied"
k get widget good -o json --show-managed-fields | python3 -c '
import json, sys
mf = json.load(sys.stdin)["metadata"]["managedFields"]
assert any(m["manager"] == "speechbatch-smoke" and m.get("subresource") == "status" and m["operation"] == "Apply" for m in mf), mf
' || fail "managedFields lack the status apply"
ok "kubectl apply --server-side --subresource=status sets status (manager speechbatch-smoke)"

code="$(curlk -o "$dir/patch.out" -w '%{http_code}' -X PATCH \
  -H 'Content-Type: application/apply-patch+yaml' \
  "$K8S_API_URL/apis/smoke.speechbatch.test/v1/namespaces/default/widgets/good/status?fieldManager=speechbatch-smoke&force=true" \
  --data-binary $'apiVersion: smoke.speechbatch.test/v1\nkind: Widget\nmetadata: {name: good}\nstatus: {phase: Done, count: 5}\n')"
[ "$code" = 200 ] || fail "raw apply-patch on /status: HTTP $code $(cat "$dir/patch.out")"
[ "$(k get widget good -o jsonpath='{.status.phase}/{.status.count}')" = "Done/5" ] || fail "raw status apply not stored"
code="$(curlk -o "$dir/patch.out" -w '%{http_code}' -X PATCH \
  -H 'Content-Type: application/apply-patch+yaml' \
  "$K8S_API_URL/apis/smoke.speechbatch.test/v1/namespaces/default/widgets/good/status?fieldManager=speechbatch-smoke&force=true" \
  --data-binary $'apiVersion: smoke.speechbatch.test/v1\nkind: Widget\nmetadata: {name: good}\nstatus: {phase: Exploded}\n')"
[ "$code" = 422 ] || fail "invalid status accepted: HTTP $code"
ok "PATCH application/apply-patch+yaml on /status works; a status outside the schema gets 422"

widget good default 4 | k apply -f - >/dev/null
[ "$(k get widget good -o jsonpath='{.spec.size}/{.status.phase}')" = "4/Done" ] || fail "spec update touched status"
ok "spec update leaves status alone (status subresource)"

curlk --max-time 10 "$K8S_API_URL/apis/smoke.speechbatch.test/v1/namespaces/default/widgets?watch=1&timeoutSeconds=1" >"$dir/watch.out"
grep -q '"type":"ADDED"' "$dir/watch.out" || fail "watch gave no ADDED event"
ok "watch streams events"

code="$(curl -s -o /dev/null -w '%{http_code}' --cacert "$K8S_CA_FILE" "$K8S_API_URL/apis/smoke.speechbatch.test/v1/widgets")"
[ "$code" != 200 ] || fail "anonymous request allowed"
ok "a request without a client certificate is refused (HTTP $code)"

"$HELM" version --short >/dev/null || fail "helm"
mkdir -p "$dir/chart/templates"
printf 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n' >"$dir/chart/Chart.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  a: "1"\n' >"$dir/chart/templates/cm.yaml"
"$HELM" template smoke "$dir/chart" >"$dir/rendered.yaml" || fail "helm template"
"$KUBERNETES_VALIDATE" --strict "$dir/rendered.yaml" >/dev/null || fail "kubernetes-validate rejects a valid ConfigMap"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 1\n' >"$dir/bad.yaml"
if "$KUBERNETES_VALIDATE" --strict "$dir/bad.yaml" >/dev/null 2>&1; then fail "kubernetes-validate accepts an invalid ConfigMap"; fi
ok "helm template renders, kubernetes-validate accepts it and rejects a bad ConfigMap"

"$repo/scripts/k8s-env" stop "$dir"
if "$repo/scripts/k8s-env" status "$dir"; then fail "still running after stop"; fi
ok "stopped"
echo "$n passed, 0 failed"
