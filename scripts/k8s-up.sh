#!/usr/bin/env bash
# Start a single-node Kubernetes v1.20 (binaries from scripts/k8s-build.sh): dockerd, etcd, kube-apiserver,
# controller-manager, scheduler and a kubelet on the docker runtime. No kube-proxy and no cluster DNS:
# pod IPs route from the host, ClusterIP and Service DNS names do not. Idempotent; stop with k8s-down.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/k8s-env.sh"
[ "$(id -u)" = 0 ] || { echo "k8s-up: needs root (dockerd, kubelet)" >&2; exit 1; }
B=$HARFLOW_K8S_CACHE/bin; S=$HARFLOW_K8S_STATE
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  [ -x "$B/$b" ] || { echo "k8s-up: $B/$b missing: run scripts/k8s-build.sh first (about 10 min)" >&2; exit 1; }
done
command -v kubectl >/dev/null || { echo "k8s-up: kubectl not on PATH" >&2; exit 1; }
mkdir -p "$S"/{certs,kcerts,kubelet,dockershim,volplugins,docker,docker-exec,log}
cd "$S"
alive() { [ -f "$S/$1.pid" ] && kill -0 "$(cat "$S/$1.pid")" 2>/dev/null; }
start() {  # name, command...: start in the background with a pid file unless already running
  local n=$1; shift
  alive "$n" && return 0
  setsid "$@" >"$S/log/$n.log" 2>&1 < /dev/null &
  echo $! > "$S/$n.pid"
}
wait_for() {  # seconds, description, command...
  local t=$1 what=$2; shift 2
  for _ in $(seq "$((t * 2))"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "k8s-up: timed out waiting for $what; logs in $S/log" >&2; exit 1
}

# This sandbox lacks CAP_SYS_RESOURCE, so runc fails on the negative oom_score_adj kubelet gives pod
# sandboxes; dockerd runs containers through a wrapper that clamps it to 0.
cat > "$S/runc-nooom" <<'PY'
#!/usr/bin/python3
import json, os, sys
args = sys.argv[1:]
if "create" in args or "run" in args:
    bundle = os.getcwd()
    for i, a in enumerate(args):
        if a in ("--bundle", "-b") and i + 1 < len(args):
            bundle = args[i + 1]
        elif a.startswith("--bundle="):
            bundle = a.split("=", 1)[1]
    cfg = os.path.join(bundle, "config.json")
    if os.path.exists(cfg):
        with open(cfg) as f:
            c = json.load(f)
        if c.get("process", {}).get("oomScoreAdj", 0) < 0:
            c["process"]["oomScoreAdj"] = 0
            with open(cfg + ".tmp", "w") as f:
                json.dump(c, f)
            os.replace(cfg + ".tmp", cfg)
os.execv("/usr/bin/runc", ["runc", *args])
PY
chmod +x "$S/runc-nooom"
cat > "$S/daemon.json" <<JSON
{"runtimes": {"nooom": {"path": "$S/runc-nooom"}}, "default-runtime": "nooom", "storage-driver": "overlay2",
 "exec-opts": ["native.cgroupdriver=cgroupfs"], "log-driver": "json-file"}
JSON
start dockerd dockerd --config-file "$S/daemon.json" --host "$DOCKER_HOST" --data-root "$S/docker" \
  --exec-root "$S/docker-exec" --pidfile "$S/docker-daemon.pid"
wait_for 60 dockerd docker info

if ! docker image inspect k8s.gcr.io/pause:3.2 >/dev/null 2>&1; then
  docker build -q -t k8s.gcr.io/pause:3.2 "$HARFLOW_K8S_CACHE/pause" >"$S/log/pause-build.log" 2>&1 || {
    cat "$S/log/pause-build.log" >&2; exit 1; }
fi

[ -f sa.key ] || { openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null; }
[ -f token ] || head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > token
echo "$(cat token),admin,1,\"system:masters\"" > tokens.csv
cat > kubeconfig.tmp <<K
apiVersion: v1
kind: Config
clusters: [{name: harflow-local, cluster: {server: "https://127.0.0.1:16443", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: $(cat token)}}]
contexts: [{name: harflow-local, context: {cluster: harflow-local, user: admin}}]
current-context: harflow-local
K
mv kubeconfig.tmp "$KUBECONFIG"

start etcd etcd --name harflow --data-dir "$S/etcd" --listen-client-urls http://127.0.0.1:23790 \
  --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800 \
  --initial-advertise-peer-urls http://127.0.0.1:23800 --initial-cluster harflow=http://127.0.0.1:23800
start apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:23790 --bind-address=127.0.0.1 \
  --secure-port=16443 --cert-dir="$S/certs" --token-auth-file="$S/tokens.csv" --authorization-mode=RBAC \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$S/sa.pub" \
  --service-account-signing-key-file="$S/sa.key" --service-cluster-ip-range=10.96.0.0/16 \
  --advertise-address=127.0.0.1 --endpoint-reconciler-type=none --kubelet-preferred-address-types=Hostname \
  --allow-privileged=false
wait_for 90 kube-apiserver curl -skf -H "Authorization: Bearer $(cat token)" https://127.0.0.1:16443/readyz
start kcm "$B/kube-controller-manager" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
  --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 --port=0 \
  --service-account-private-key-file="$S/sa.key" --root-ca-file="$S/certs/apiserver.crt" \
  --use-service-account-credentials=false --leader-elect=false --controllers='*,-nodeipam'
start scheduler "$B/kube-scheduler" --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" \
  --authorization-kubeconfig="$KUBECONFIG" --bind-address=127.0.0.1 --port=0 --leader-elect=false
start kubelet "$B/kubelet" --kubeconfig="$KUBECONFIG" --root-dir="$S/kubelet" --cert-dir="$S/kcerts" \
  --experimental-dockershim-root-directory="$S/dockershim" --volume-plugin-dir="$S/volplugins" \
  --container-runtime=docker --docker-endpoint="$DOCKER_HOST" --pod-infra-container-image=k8s.gcr.io/pause:3.2 \
  --cgroup-driver=cgroupfs --fail-swap-on=false --hostname-override=localhost --address=127.0.0.1 \
  --read-only-port=0 --healthz-port=0 --anonymous-auth=true --authorization-mode=AlwaysAllow \
  --eviction-hard='' --image-gc-high-threshold=100
wait_for 60 "service account" kubectl get sa default
wait_for 60 "node registration" kubectl get node localhost
kubectl wait --for=condition=Ready node/localhost --timeout=120s >/dev/null
echo "k8s-up: cluster ready ($("$B/kube-apiserver" --version)); export KUBECONFIG=$KUBECONFIG DOCKER_HOST=$DOCKER_HOST"
