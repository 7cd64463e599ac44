#!/usr/bin/env bash
# Prepare this machine for the demo and the tests, idempotently:
#   - Debian packages: docker.io, debootstrap, dcmtk, chromium (report rendering test)
#   - a running Docker engine (started by hand when there is no systemd)
#   - the Python virtualenv .venv with requirements.txt
#   - the demo's own CA and HTTPS certificate in .pki/demo (made here, never committed)
#   - the local systemd base images of Debian 12 and Debian 13 (no registry is
#     needed) and the local Orthanc container image used by the `container`
#     install method
# Every step is skipped when its result is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BASE_IMAGE="${PP_BASE_IMAGE:-local/debian12-systemd:latest}"
BASE_IMAGE_TRIXIE="${PP_BASE_IMAGE_TRIXIE:-local/debian13-systemd:latest}"
ORTHANC_IMAGE="${PP_ORTHANC_IMAGE:-local/orthanc:1.10.1}"
ORTHANCTEAM_IMAGE="${PP_ORTHANCTEAM_IMAGE:-local/orthancteam-orthanc:26.8.1}"
DEBIAN_MIRROR="${PP_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
APT_PACKAGES=(docker.io debootstrap dcmtk make chromium python3-venv openssh-client lua5.3 python3-firewall nftables)

log() { printf '\n==> %s\n' "$*"; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages present: ${APT_PACKAGES[*]}"
        return
    fi
    log "Installing Debian packages: ${missing[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}" >/dev/null
}

start_docker() {
    if docker info >/dev/null 2>&1; then
        log "Docker engine is running"
        return
    fi
    if pgrep -x dockerd >/dev/null 2>&1; then
        log "dockerd is starting; waiting for it"
    elif command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        log "Starting Docker through systemd"
        sudo_if_needed systemctl start docker
    else
        log "Starting dockerd in the background (no systemd on this host)"
        sudo_if_needed sh -c 'nohup dockerd > /var/log/dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return
        sleep 1
    done
    echo "Docker engine did not come up; see /var/log/dockerd.log" >&2
    exit 1
}

make_venv() {
    local stamp=.venv/.requirements.sha256
    local want
    want="$(sha256sum requirements.txt | cut -d' ' -f1)"
    if [ -x .venv/bin/ansible-playbook ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        log "Python virtualenv .venv is up to date"
        return
    fi
    log "Installing the Python virtualenv .venv (ansible, molecule, pydicom, ...)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r requirements.txt
    echo "$want" > "$stamp"
}

# build_base_image SUITE TAG: a systemd base image of Debian SUITE (bookworm,
# trixie, ...) made with debootstrap and imported as TAG; skipped when TAG exists.
build_base_image() {
    local suite="$1" tag="$2"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        log "Base image $tag exists"
        return
    fi
    log "Building $tag from Debian $suite with debootstrap (a minute or two, once)"
    local rootfs
    rootfs="$(mktemp -d /var/tmp/pp-rootfs.XXXXXX)"
    if ! debootstrap --variant=minbase \
            --include=python3,systemd,systemd-sysv,dbus,ca-certificates,iproute2,sudo \
            "$suite" "$rootfs" "$DEBIAN_MIRROR" >"/var/tmp/pp-debootstrap-$suite.log" 2>&1; then
        rm -rf "$rootfs"
        echo "debootstrap $suite failed; see /var/tmp/pp-debootstrap-$suite.log" >&2
        exit 1
    fi
    # Containers do not need the getty or the udev machinery; masking them makes
    # systemd reach `running` quickly and quietly.
    for unit in getty@tty1.service console-getty.service systemd-udevd.service \
                systemd-udev-trigger.service systemd-remount-fs.service; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$tag" >/dev/null
    rm -rf "$rootfs"
}

# build_image TAG BASE FOLDER WHAT: docker build of an image folder, once.
build_image() {
    local tag="$1" base="$2" folder="$3" what="$4"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        log "Orthanc image $tag exists"
        return
    fi
    log "Building $tag, $what (once)"
    docker build -q -t "$tag" --build-arg "BASE=$base" "$folder" >/dev/null
}

install_debian_packages
start_docker
make_venv
# The demo's own CA and front-door certificate, made on this machine (never committed).
log "$(.venv/bin/python scripts/demo_pki.py .pki/demo)"
build_base_image bookworm "$BASE_IMAGE"
build_base_image trixie "$BASE_IMAGE_TRIXIE"
build_image "$ORTHANC_IMAGE" "$BASE_IMAGE" images/orthanc "from Debian's orthanc packages"
# The stand-in for orthancteam/orthanc: the real image's start-up (configuration
# generator, plugins linked when enabled, user 999) on Debian 13's Orthanc packages.
build_image "$ORTHANCTEAM_IMAGE" "$BASE_IMAGE_TRIXIE" images/orthancteam "the stand-in for orthancteam/orthanc"
log "Machine ready"
