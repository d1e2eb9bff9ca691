#!/usr/bin/env bash
# Debian packages harflow's tests and tools need. Installs only what is missing; skips quietly when not root.
set -euo pipefail
want=(iproute2 postgresql chromium)  # chromium: the web app's browser tests (driven by Playwright)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "system-deps: not root; tests needing ${missing[*]} will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "system-deps: installed ${missing[*]}"
