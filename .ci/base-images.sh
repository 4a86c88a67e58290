#!/usr/bin/env bash
# Builds forge's local base images from Debian's packages, once per machine:
# no image registry is needed (CI and these machines reach only package
# registries). Each image is a debootstrap minbase with python3, venv, pip,
# headers and g++, which is all a CPU wheel or a CUDA 13.x wheel (nvcc from
# PyPI) needs. An image already present is kept.
#
# One image serves several Pythons, as a manylinux image does: a Python the
# release does not ship is built from CPython's source as a later Debian
# release packages it (its upstream tarball, fetched and checked by apt) into
# /usr/local. So every Python's wheels are compiled by the same g++ against
# the same glibc: the compile cache serves one Python's objects to the next,
# and every wheel gets the same manylinux tag.
#
#   .ci/base-images.sh [release...]      default: bookworm
#   FORGE_DEBIAN_MIRROR=<url>            default: the mirror apt uses here
#
# Images: forge-base:bookworm (Python 3.11 from bookworm, 3.13 built from trixie's source);
# forge-base:trixie (Python 3.13), made only when asked for.
set -euo pipefail
releases=("$@")
[ ${#releases[@]} -gt 0 ] || releases=(bookworm)
# release -> "python:the Debian release whose source package builds it" for each Python it lacks.
declare -A from_source=([bookworm]="3.13:trixie")
# One run at a time (each container test file asks for the images): a second waits, then finds them.
exec 9>"${TMPDIR:-/tmp}/forge-base-images.lock"
flock 9

mirror="${FORGE_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # deb822 (URIs:) or one-line (deb URL suite) sources, whichever apt has here.
  mirror=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}' | grep -v security | head -n1 || true)
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
fi

# Builds CPython $2 from Debian $3's source package in a container of image $1, and commits
# the result as $1. The build's libraries stay (the -dev packages a wheel's C code may want too).
add_python() {
  local tag=$1 version=$2 source_release=$3 name="forge-base-python-$$"
  echo "base image $tag: building Python $version from $source_release's python$version source"
  local started=$SECONDS
  trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
  docker run --name "$name" --network host "$tag" bash -ec "
    mirror=\$(awk '/^deb /{print \$2; exit}' /etc/apt/sources.list)
    echo \"deb-src \$mirror $source_release main\" > /etc/apt/sources.list.d/forge-cpython-source.list
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make xz-utils libssl-dev zlib1g-dev libffi-dev libbz2-dev liblzma-dev libsqlite3-dev uuid-dev libexpat1-dev >/dev/null
    mkdir /tmp/cpython && cd /tmp/cpython
    apt-get source --download-only -qq -o APT::Sandbox::User=root python$version
    tar -xf python${version}_*.orig.tar.xz && cd Python-$version.*/
    ./configure --quiet --prefix=/usr/local --disable-test-modules
    make --silent -j\$(nproc) >/dev/null 2>make.log || { tail -n 20 make.log; exit 1; }
    make --silent altinstall >/dev/null
    # What a wheel build never uses: every container copies the image (vfs), so size is time.
    find /usr/local/lib/python$version -name '*.opt-[12].pyc' -delete
    rm -f /usr/local/lib/libpython$version.a /usr/local/lib/python$version/config-$version-*/libpython$version.a
    cd / && rm -rf /tmp/cpython /etc/apt/sources.list.d/forge-cpython-source.list /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/cache/apt/*.bin
    python$version -c 'import ssl, sqlite3, lzma, bz2, ctypes, zlib, venv, ensurepip'
  " >"/tmp/$name.log" 2>&1 || { echo "error: building Python $version into $tag failed; last lines of /tmp/$name.log:" >&2; tail -n 15 "/tmp/$name.log" >&2; exit 1; }
  # Not the build script as the image's command (what commit would keep): a shell, as a Debian image has.
  docker commit --change 'CMD ["bash"]' "$name" "$tag" >/dev/null
  docker rm "$name" >/dev/null
  rm -f "/tmp/$name.log"
  trap - EXIT
  echo "base image $tag: Python $version built in $((SECONDS - started))s ($(docker run --rm --network host "$tag" python$version --version))"
}

for release in "${releases[@]}"; do
  tag="forge-base:$release"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag: present"
  else
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
  fi
  # An image made before it held them (or by hand) gets its missing Pythons added.
  for entry in ${from_source[$release]:-}; do
    version=${entry%%:*}
    docker run --rm --network host "$tag" sh -c "command -v python$version" >/dev/null 2>&1 || add_python "$tag" "$version" "${entry#*:}"
  done
done
