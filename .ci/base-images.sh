#!/usr/bin/env bash
# Builds forge's local base images from Debian's packages, once per machine:
# no image registry is needed (CI and these machines reach only package
# registries). Each image is a debootstrap minbase with python3, venv, pip,
# headers and g++, which is all a CPU wheel or a CUDA 13.x wheel (nvcc from
# PyPI) needs. An image already present is kept.
#
#   .ci/base-images.sh [release...]      default: bookworm trixie
#   FORGE_DEBIAN_MIRROR=<url>            default: the mirror apt uses here
#
# Images: forge-base:bookworm (Python 3.11), forge-base:trixie (Python 3.13).
set -euo pipefail
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(bookworm trixie)

mirror="${FORGE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 (URIs:) or one-line (deb URL suite) sources, whichever apt has here.
  mirror=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

for release in "${releases[@]}"; do
  tag="forge-base:$release"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag: present"
    continue
  fi
  command -v debootstrap >/dev/null || { echo "error: debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  dir=$(mktemp -d "/tmp/forge-base-$release.XXXXXX")
  trap 'rm -rf "$dir"' EXIT
  echo "base image $tag: debootstrap $release from $mirror"
  started=$SECONDS
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,python3-dev,g++ "$release" "$dir" "$mirror" >"$dir.log" 2>&1 \
    || { echo "error: debootstrap $release failed; last lines of $dir.log:" >&2; tail -n 15 "$dir.log" >&2; exit 1; }
  # Apt lists and caches are not part of the image: the image build installs nothing with apt.
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -c . | docker import --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
  rm -rf "$dir" "$dir.log"
  trap - EXIT
  echo "base image $tag: built in $((SECONDS - started))s ($(docker run --rm --network host "$tag" python3 --version))"
done
