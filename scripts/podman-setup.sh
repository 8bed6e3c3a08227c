#!/usr/bin/env bash
# One-time (idempotent) Podman set-up for building and running lensfinder's image on a machine with no
# Docker engine and no container registry, such as this project's (Debian 12, root). It follows
# ../shared/CONTAINERS.md:
#   1. Debian's podman, buildah, runc, ... and docker-compose (v1.29, to validate compose files);
#   2. Podman settings in scripts/podman/containers.conf (runc, cgroupfs, lower ulimits), used through
#      CONTAINERS_CONF by this script and scripts/container-smoke.sh;
#   3. a base image localhost/debian-base:bookworm made with debootstrap, holding the host's CA
#      certificates and an /etc/pip.conf that uses them (this machine's package traffic passes a proxy
#      with its own certificate);
#   4. a stand-in for docker.io/library/python:3.11-slim (Debian 12's Python 3.11, pip, venv) built on
#      that base and tagged with the public name, so that the Dockerfile's `FROM python:3.11-slim`
#      builds without a pull.
# Each step is skipped when its result is already there; rerun it freely. On a machine with a
# registry, a real `podman pull python:3.11-slim` (or Docker) makes steps 3-4 unnecessary; this script
# never replaces a python image that it did not make.
#
# Usage: scripts/podman-setup.sh            (about 2 minutes the first time, seconds after)
#        LENSFINDER_PODMAN_WORK=/path ...   (scratch folder for the debootstrap tree; default /var/tmp)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$ROOT/scripts/podman/containers.conf}"
PYTHON_IMAGE="${LENSFINDER_PYTHON_IMAGE:-docker.io/library/python:3.11-slim}"
BASE_IMAGE="localhost/debian-base:bookworm"
WORK="${LENSFINDER_PODMAN_WORK:-/var/tmp}/lensfinder-podman"

say() { printf '[podman-setup] %s\n' "$*"; }
die() { printf '[podman-setup] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, debootstrap and rootful Podman need it)"
mkdir -p "$WORK"

# 1. Packages.
packages=(podman buildah runc fuse-overlayfs slirp4netns uidmap debootstrap docker-compose)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    say "packages present: ${packages[*]}"
fi

# 2. Settings.
[ -f "$CONTAINERS_CONF" ] || die "CONTAINERS_CONF=$CONTAINERS_CONF does not exist"
say "CONTAINERS_CONF=$CONTAINERS_CONF"
podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' >/dev/null \
    || die "podman info failed with $CONTAINERS_CONF"

# 3. Base image from debootstrap, with the host's CA certificates and a pip.conf that uses them.
if podman image exists "$BASE_IMAGE"; then
    say "$BASE_IMAGE present"
else
    say "debootstrap bookworm into $WORK/rootfs (about a minute)"
    rm -rf "$WORK/rootfs"
    mkdir -p "$WORK"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$WORK/rootfs" \
        http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $WORK/debootstrap.log"
    if [ -d /usr/local/share/ca-certificates ]; then
        mkdir -p "$WORK/rootfs/usr/local/share/ca-certificates"
        cp -L /usr/local/share/ca-certificates/* "$WORK/rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    fi
    cp -L /etc/ssl/certs/ca-certificates.crt "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$WORK/rootfs/etc/pip.conf"
    tar -C "$WORK/rootfs" -c . | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$BASE_IMAGE" >"$WORK/import.log" 2>&1 || die "podman import failed; see $WORK/import.log"
    rm -rf "$WORK/rootfs"
    say "imported $BASE_IMAGE"
fi

# 4. Stand-in for the public python image, tagged with its name.
if podman image exists "$PYTHON_IMAGE"; then
    label="$(podman image inspect --format '{{index .Labels "org.lensfinder.stand-in"}}' "$PYTHON_IMAGE" 2>/dev/null || true)"
    if [ -n "$label" ] && [ "$label" != "<no value>" ]; then
        say "$PYTHON_IMAGE present (the local stand-in)"
    else
        say "$PYTHON_IMAGE present (not made by this script; left as it is)"
    fi
else
    say "building the stand-in for $PYTHON_IMAGE"
    podman build --network=host -t localhost/python-standin:3.11 \
        -f "$ROOT/scripts/podman/python-standin.Containerfile" "$ROOT/scripts/podman" >"$WORK/standin.log" 2>&1 \
        || { tail -20 "$WORK/standin.log" >&2; die "stand-in build failed; see $WORK/standin.log"; }
    podman tag localhost/python-standin:3.11 "$PYTHON_IMAGE"
    say "tagged localhost/python-standin:3.11 as $PYTHON_IMAGE"
fi

podman run --rm --network=host "$PYTHON_IMAGE" python -c \
    'import sys, ssl, venv; print("python", sys.version.split()[0], "ok")' \
    | sed 's/^/[podman-setup] stand-in: /'
say "done: scripts/container-smoke.sh builds and checks the image"
