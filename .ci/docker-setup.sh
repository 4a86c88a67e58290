#!/usr/bin/env bash
# Makes Docker ready for the container tests (tools/forge/test/wheel-docker.test.ts):
# as root, installs Debian's docker.io and debootstrap when missing, starts dockerd
# when no daemon answers, and makes the local base images once (.ci/base-images.sh;
# reused on the same machine). Not root and no daemon: says so, and the container
# tests skip with that reason.
set -euo pipefail
cd "$(dirname "$0")/.."

if docker info >/dev/null 2>&1; then
  echo "docker: daemon up ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
elif [ "$(id -u)" != 0 ]; then
  echo "docker: no daemon and not root: the container tests will be skipped (start Docker to run them)"
  exit 0
else
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    echo "docker: installing docker.io and debootstrap from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
  fi
  # vfs: works on any filesystem (overlay on overlay does not); no bridge or iptables:
  # forge's containers use the host's network.
  echo "docker: starting dockerd (log in /tmp/dockerd.log)"
  nohup dockerd --storage-driver=vfs --iptables=false --bridge=none >/tmp/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "error: dockerd did not start; last lines of /tmp/dockerd.log:" >&2; tail -n 5 /tmp/dockerd.log >&2; exit 1; }
fi
command -v debootstrap >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; } || true
.ci/base-images.sh bookworm
