#!/usr/bin/env bash
# Makes qemu:///system reachable: reuses a libvirtd that already answers, else (as root)
# prepares what Debian's libvirt-daemon-system would have and starts virtlogd and libvirtd.
# Idempotent; exits non-zero with the reason when it cannot.
#
# `--foreground` (the test suite's) starts them as this process's own tree, not as services:
# in a PID namespace whose init dies with this process (unshare --kill-child), so the kernel
# ends them and every QEMU they started (QEMU daemonizes away from libvirtd) when this process
# ends, SIGKILL included. It returns when they have ended; the caller waits for libvirtd to
# answer, and stops it all (SIGTERM to libvirtd and virtlogd, or SIGKILL to this process).
#
# Why each step (see /work/shared/notes/machine-facts.md for the measurements):
#   - libvirtd refuses to start without the `libvirt-qemu` user and the `kvm` group
#     ("Failed to parse user"); no systemd or udev here creates them.
#   - /dev/kvm is root-only without udev: libvirt would probe KVM as usable, QEMU could not
#     open it, and every create re-probes for ~44 s. Running QEMU as root avoids that trap.
#   - The first start probes QEMU's capabilities (8-12 s); later starts reuse the cache.
set -euo pipefail

URI="qemu:///system"
FOREGROUND=0
case "${1:-}" in
  "") ;;
  --foreground) FOREGROUND=1 ;;
  *)
    echo "usage: $0 [--foreground]" >&2
    exit 2
    ;;
esac
WAIT_SECONDS="${LIBVIRTD_WAIT_SECONDS:-60}"

reachable() { virsh -c "$URI" uri >/dev/null 2>&1; }

if reachable; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "libvirtd is not reachable at $URI, and starting it needs root: sudo $0" >&2
  exit 1
fi
for tool in virsh virtlogd libvirtd qemu-system-x86_64; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing: run scripts/install-system-deps.sh" >&2
    exit 1
  }
done

getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --no-create-home --home-dir /var/lib/libvirt --gid libvirt-qemu \
    --shell /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt /run/libvirt/qemu

conf=/etc/libvirt/qemu.conf
mkdir -p "$(dirname "$conf")"
touch "$conf"
for key in user group; do
  if grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$conf"; then
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = \"root\"|" "$conf"
  else
    printf '%s = "root"\n' "$key" >>"$conf"
  fi
done

# Started only if not running: another process's daemons are reused, never restarted.
if [ "$FOREGROUND" = 0 ]; then
  pidof virtlogd >/dev/null || virtlogd -d
  pidof libvirtd >/dev/null || libvirtd -d
elif ! pidof libvirtd >/dev/null; then
  virtlogd=yes
  pidof virtlogd >/dev/null && virtlogd=no
  # --mount-proc: libvirtd reads /proc for its QEMUs' pids, which are the namespace's own.
  # The guests' status files (pids among them) go on a tmpfs that ends with the namespace:
  # left behind, a later libvirtd would kill the pids they name, there someone else's.
  exec unshare --pid --fork --kill-child --mount-proc sh -c '
    mount -t tmpfs -o mode=0755 tmpfs /run/libvirt/qemu || exit 1
    touch /run/libvirt/qemu/autostarted  # no autostart: only the tests start guests here
    if [ "$1" = yes ]; then virtlogd & fi
    libvirtd &
    wait' sh "$virtlogd"
fi
# (--foreground with another libvirtd starting up: that one is waited for, and used.)

for _ in $(seq 1 "$((WAIT_SECONDS * 5))"); do
  if reachable; then
    echo "libvirtd is up ($URI)"
    exit 0
  fi
  sleep 0.2
done
echo "libvirtd did not answer at $URI within ${WAIT_SECONDS}s; its log: /var/log/libvirt/libvirtd.log" >&2
exit 1
