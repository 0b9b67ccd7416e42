# Paths of what setup/k8s.sh installs; source it (POSIX sh or bash): . setup/k8s/env.sh
# It only sets variables (PATH is left alone); the files exist once setup/k8s.sh has run.
_speechbatch_k8s="${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}/k8s"
export KUBE_BIN_DIR="$_speechbatch_k8s/bin"
export APIEXT_SERVER="$KUBE_BIN_DIR/apiextensions-apiserver"
export ETCD="$KUBE_BIN_DIR/etcd"
export HELM="$KUBE_BIN_DIR/helm"
export KUBECTL="$KUBE_BIN_DIR/kubectl"
export KUBERNETES_VALIDATE="$_speechbatch_k8s/venv/bin/kubernetes-validate"
unset _speechbatch_k8s
