#!/usr/bin/env bash
# Source this: points podman/buildah at harflow's own config and storage (rootful podman 4.3 here needs runc,
# cgroupfs and a file event log; crun fails on this host's hybrid cgroups and RLIMIT_NOFILE). Writes the config
# files on first use. `scripts/podman.sh ARGS` is podman with this environment.
#   HARFLOW_CONTAINERS_DIR  config + storage root (default /var/lib/harflow-containers as root, else ~/.local/share)
if [ "$(id -u)" = 0 ]; then _hf_d=${HARFLOW_CONTAINERS_DIR:-/var/lib/harflow-containers}
else _hf_d=${HARFLOW_CONTAINERS_DIR:-$HOME/.local/share/harflow-containers}; fi
mkdir -p "$_hf_d/run" "$_hf_d/graph" "$_hf_d/netconf" "$_hf_d/run/libpod-tmp"
if [ ! -f "$_hf_d/containers.conf" ]; then
  cat > "$_hf_d/containers.conf.tmp" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
events_logger = "file"
events_logfile_path = "$_hf_d/run/events.log"
cgroup_manager = "cgroupfs"
tmp_dir = "$_hf_d/run/libpod-tmp"

[network]
network_config_dir = "$_hf_d/netconf"
CONF
  mv "$_hf_d/containers.conf.tmp" "$_hf_d/containers.conf"
fi
if [ ! -f "$_hf_d/storage.conf" ]; then
  printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/graph"\n' "$_hf_d" "$_hf_d" \
    > "$_hf_d/storage.conf.tmp"
  mv "$_hf_d/storage.conf.tmp" "$_hf_d/storage.conf"
fi
export CONTAINERS_CONF="$_hf_d/containers.conf" CONTAINERS_STORAGE_CONF="$_hf_d/storage.conf"
export HARFLOW_CONTAINERS_DIR="$_hf_d"
unset _hf_d
