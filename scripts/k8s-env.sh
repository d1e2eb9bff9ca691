#!/usr/bin/env bash
# Source this: paths of harflow's local single-node cluster (scripts/k8s-up.sh) and how to reach it.
if [ "$(id -u)" = 0 ]; then HARFLOW_K8S_CACHE=${HARFLOW_K8S_CACHE:-/var/cache/harflow-k8s}
else HARFLOW_K8S_CACHE=${HARFLOW_K8S_CACHE:-$HOME/.cache/harflow-k8s}; fi
HARFLOW_K8S_STATE=${HARFLOW_K8S_STATE:-/tmp/harflow-k8s}
export HARFLOW_K8S_CACHE HARFLOW_K8S_STATE
export KUBECONFIG=$HARFLOW_K8S_STATE/kubeconfig
# a dockerd of our own (own socket, data root) so an existing docker installation is left alone
export DOCKER_HOST=unix://$HARFLOW_K8S_STATE/docker.sock
