#!/usr/bin/env bash
# Installs the Debian packages bootflow needs, only those missing. Run by `make` targets.
#   libvirt-dev, pkg-config  build libvirt-python
#   qemu-utils               qemu-img: instance disks are qcow2 overlays on the cached image
#   postgresql               the test suite's throwaway PostgreSQL cluster
#   docker-compose           validates docker-compose.yml (no Docker engine runs here)
# Real guests (scripts/start-libvirtd.sh starts the daemons; no systemd needed):
#   libvirt-daemon, libvirt-daemon-driver-qemu, libvirt-clients, qemu-system-x86
#                            libvirtd + virtlogd, QEMU (TCG), virsh
#   busybox-static, e2fsprogs the guest image's userland and its ext4 root disk (guest/build.py)
#   genisoimage              config drives: ISO9660 labelled config-2, as Nova writes them
set -euo pipefail

packages=(
  libvirt-dev pkg-config qemu-utils postgresql docker-compose
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  busybox-static e2fsprogs genisoimage
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
