#!/usr/bin/env bash
# Build a single-node Kubernetes v1.20 (kube-apiserver, controller-manager, scheduler, kubelet) from Debian's
# `kubernetes` source package, plus a pause image binary. No image registry or release download is reachable
# here, so the Debian source package is the only way to get a control plane. Cached: a second call is a no-op.
#   HARFLOW_K8S_CACHE  cache dir (default /var/cache/harflow-k8s, or ~/.cache/harflow-k8s when not root)
set -euo pipefail
if [ "$(id -u)" = 0 ]; then W=${HARFLOW_K8S_CACHE:-/var/cache/harflow-k8s}; else W=${HARFLOW_K8S_CACHE:-$HOME/.cache/harflow-k8s}; fi
mkdir -p "$W"
exec 9>"$W/.build.lock"
# one build at a time: a second caller waits for the first and then finds the cache filled
flock 9
if [ -x "$W/bin/kubelet" ] && [ -x "$W/bin/kube-apiserver" ] && [ -x "$W/pause/pause" ]; then
  echo "k8s-build: cached binaries in $W/bin"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "k8s-build: needs root (apt-get install of the build dependencies)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
need=(golang-go etcd-server rsync jq socat golang-github-modern-go-reflect2-dev docker.io gcc libc6-dev make openssl curl)
missing=(); for p in "${need[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$W/apt/lists/partial" "$W/src" "$W/bin" "$W/home"
echo 'deb-src http://deb.debian.org/debian bookworm main' > "$W/apt/src.list"
O=(-o "Dir::Etc::SourceList=$W/apt/src.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$W/apt/lists")
cd "$W/src"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  apt-get "${O[@]}" update -qq
  apt-get "${O[@]}" source --download-only kubernetes
fi
src=$(ls -d kubernetes-1.* 2>/dev/null | head -1 || true)
if [ -z "$src" ]; then tar xzf kubernetes_*.orig.tar.gz; src=$(ls -d kubernetes-1.* | head -1); fi
cd "$src"
# Go 1.19 with the vendored reflect2 1.0.1 makes the apiserver SIGSEGV when encoding custom resources;
# Debian's reflect2 1.0.2 fixes it.
R=vendor/github.com/modern-go/reflect2
rm -f $R/*.go $R/*.s
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go /usr/share/gocode/src/github.com/modern-go/reflect2/*.s $R/ 2>/dev/null || \
  cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go $R/
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
echo "k8s-build: compiling (about 10 min on 2 cores) in $W/src/$src"
nice -n 10 env GOPATH="$PWD/.go" CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=vendor HOME="$W/home" \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet"
mkdir -p "$W/pause"
gcc -Os -static -DVERSION=v3.2-local -o "$W/pause/pause" build/pause/linux/pause.c
printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' > "$W/pause/Dockerfile"
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  install -m 0755 "_output/bin/$b" "$W/bin/$b.tmp" && mv "$W/bin/$b.tmp" "$W/bin/$b"
done
echo "k8s-build: done, binaries in $W/bin"
