#!/usr/bin/env bash
# Stop the cluster started by k8s-up.sh: its processes (by their pid files), pod containers, kubelet mounts.
set -uo pipefail
. "$(cd "$(dirname "$0")" && pwd)/k8s-env.sh"
S=$HARFLOW_K8S_STATE
[ -d "$S" ] || exit 0
stop() { [ -f "$S/$1.pid" ] && kill "$(cat "$S/$1.pid")" 2>/dev/null; rm -f "$S/$1.pid"; }
for n in kubelet scheduler kcm apiserver etcd; do stop "$n"; done
sleep 2
if docker info >/dev/null 2>&1; then
  docker ps -aq --filter name=k8s_ | xargs -r docker rm -f >/dev/null
fi
[ "${1:-}" = --keep-docker ] || stop dockerd
sleep 1
mount | awk '{print $3}' | grep "^$S/" | sort -r | xargs -r -n1 umount 2>/dev/null
echo "k8s-down: stopped"
