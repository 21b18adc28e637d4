"""The libvirt driver of one compute host: capacity, spawn, destroy, list its domains.

One connection per worker process (``test:///default`` gives each process its own
in-memory hypervisor; ``qemu:///system`` is one libvirtd that every host and stack on the
machine shares); a fleet process's simulated hosts share its one connection. Every call
is keyed by the instance uuid, which is also the domain's uuid, so a retried spawn finds
the domain the first try defined instead of making another. A domain whose metadata names
another deployment or host is as good as absent: hosts sharing a connection each see only
their own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import libvirt

from compute import config_drive, domain_xml
from compute.domain_xml import DomainSpec
from core.states import PowerState

# What `console log` returns at most, as Nova's MAX_CONSOLE_BYTES.
MAX_CONSOLE_BYTES = 100 * 1024
# Names of files in an instance dir.
CONSOLE_LOG = "console.log"
CONFIG_DRIVE = "disk.config"
BASES = "bases"

# libvirt's domain states -> Nova's power_state.
_POWER_STATE = {
    libvirt.VIR_DOMAIN_NOSTATE: PowerState.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: PowerState.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: PowerState.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: PowerState.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: PowerState.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: PowerState.SUSPENDED,
}


@dataclass
class HostResources:
    hypervisor_type: str
    hypervisor_hostname: str
    cpu_arch: str
    vcpus: int
    memory_mb: int
    disk_gb: int


@dataclass
class GuestInfo:
    name: str
    uuid: str
    power_state: int


class GuestBootError(Exception):
    """The guest stopped, or did not print its ready line in time; ``console`` is the end
    of what it printed, to say why."""

    def __init__(self, message: str, console: str) -> None:
        super().__init__(message)
        self.console = console


class GuestMissing(Exception):
    """The host has no guest (nor saved definition) for the instance."""


def _ready_line(line: str, marker: str) -> bool:
    return line == marker or line.startswith(marker + " ")


def tail(text: str, lines: int | None) -> str:
    """The last ``lines`` lines of ``text`` (all of it for None or a negative number)."""
    if lines is None or lines < 0:
        return text
    if lines == 0:
        return ""
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


def _is_missing(exc: libvirt.libvirtError) -> bool:
    return bool(exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN)


def _undefine(domain: libvirt.virDomain) -> None:
    """Undefine, with its NVRAM where the hypervisor has such a thing (the test driver
    refuses the flag)."""
    try:
        domain.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_NVRAM)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
            raise
        domain.undefine()


def _stop(domain: libvirt.virDomain) -> None:
    """Destroy a running domain; one that stopped on its own just then is left so."""
    try:
        domain.destroy()
    except libvirt.libvirtError:
        if domain.isActive():
            raise


def _owner(domain: libvirt.virDomain) -> tuple[str, str] | None:
    """The (deployment, host) of a domain's bootflow metadata; None for a domain with none."""
    try:
        metadata = domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain_xml.METADATA_NS, 0)
    except libvirt.libvirtError:
        return None  # no bootflow metadata: not a bootflow domain
    return domain_xml.owner(metadata)


def guests_by_host(conn: libvirt.virConnect, deployment: str) -> dict[str, list[GuestInfo]]:
    """Every domain of ``deployment`` on the connection, by the host its metadata names: one
    listing for all the hosts that share the connection (a fleet process's)."""
    out: dict[str, list[GuestInfo]] = {}
    for domain in conn.listAllDomains():
        owner = _owner(domain)
        if owner is None or owner[0] != deployment:
            continue
        state, _reason = domain.state()
        guest = GuestInfo(domain.name(), domain.UUIDString(), _POWER_STATE.get(state, 0))
        out.setdefault(owner[1], []).append(guest)
    return out


class LibvirtDriver:
    def __init__(
        self,
        uri: str,
        host: str,
        host_dir: Path,
        deployment: str = "",
        virt_type: str = "qemu",
        conn: libvirt.virConnect | None = None,
    ) -> None:
        """``conn``: a connection to ``uri`` the caller shares among hosts (and closes);
        else the driver opens its own."""
        self.uri = uri
        self.host = host
        self.host_dir = host_dir
        self.deployment = deployment
        self.virt_type = virt_type
        self._owns_conn = conn is None
        self.conn = libvirt.open(uri) if conn is None else conn

    # -- the host ---------------------------------------------------------------------

    @property
    def domain_type(self) -> str:
        """``test`` under the test driver, else the configured type: ``qemu`` (TCG) unless
        someone knows KVM works on the host (Nova's ``[libvirt] virt_type``)."""
        return "test" if self.conn.getType().lower() == "test" else self.virt_type

    def resources(self) -> HostResources:
        arch, memory_mb, cpus, *_ = self.conn.getInfo()
        self.host_dir.mkdir(parents=True, exist_ok=True)
        disk_gb = shutil.disk_usage(self.host_dir).total // (1 << 30)
        return HostResources(
            hypervisor_type=self.conn.getType(),
            hypervisor_hostname=f"{self.host}.{self.conn.getHostname()}",
            cpu_arch=arch,
            vcpus=int(cpus),
            memory_mb=int(memory_mb),
            disk_gb=int(disk_gb),
        )

    def instance_dir(self, instance_uuid: str) -> Path:
        return self.host_dir / "instances" / instance_uuid

    # -- guests -----------------------------------------------------------------------

    def _mine(self, domain: libvirt.virDomain) -> bool:
        return _owner(domain) == (self.deployment, self.host)

    def _lookup(self, instance_uuid: str) -> libvirt.virDomain | None:
        """The domain, if it exists and is this host's; another host's is as good as absent."""
        try:
            domain = self.conn.lookupByUUIDString(instance_uuid)
        except libvirt.libvirtError as exc:
            if _is_missing(exc):
                return None
            raise
        return domain if self._mine(domain) else None

    def power_state(self, instance_uuid: str) -> int:
        domain = self._lookup(instance_uuid)
        if domain is None:
            return PowerState.NOSTATE
        state, _reason = domain.state()
        return _POWER_STATE.get(state, PowerState.NOSTATE)

    def create_root_disk(
        self, instance_uuid: str, base: Path, base_format: str, size_gb: int
    ) -> Path:
        """A qcow2 overlay on the cached base image, grown to the flavor's root disk."""
        disk = self.instance_dir(instance_uuid) / "disk"
        disk.parent.mkdir(parents=True, exist_ok=True)
        if disk.exists():
            return disk
        qemu_img = shutil.which("qemu-img")
        if qemu_img is None:
            raise RuntimeError("qemu-img is not installed (apt-get install qemu-utils)")
        partial = disk.with_suffix(".part")
        subprocess.run(
            [
                qemu_img,
                "create",
                "-q",
                "-f",
                "qcow2",
                "-F",
                base_format,
                "-b",
                str(base),
                str(partial),
                f"{size_gb}G",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        os.replace(partial, disk)
        return disk

    def create_config_drive(self, instance_uuid: str, contents: dict[str, bytes]) -> Path:
        """The instance's config drive (ISO9660, label config-2); kept if a try made it."""
        path = self.instance_dir(instance_uuid) / CONFIG_DRIVE
        if not path.exists():
            config_drive.write_iso(path, contents)
        return path

    def record_bases(self, instance_uuid: str, bases: list[Path]) -> None:
        """Note which cached images the instance's disks and boot files use, so the image
        cache keeps them while the instance exists."""
        instance_dir = self.instance_dir(instance_uuid)
        instance_dir.mkdir(parents=True, exist_ok=True)
        (instance_dir / BASES).write_text("".join(f"{p}\n" for p in bases))

    def bases_in_use(self) -> set[Path]:
        """Every cached image some instance dir on this host still uses."""
        used: set[Path] = set()
        for recorded in (self.host_dir / "instances").glob(f"*/{BASES}"):
            try:
                used |= {Path(line) for line in recorded.read_text().splitlines() if line}
            except FileNotFoundError:
                continue  # its instance was deleted meanwhile
        return used

    def spawn(self, spec: DomainSpec) -> int:
        """Define and start the domain (or find it from an earlier try); its power state."""
        xml = domain_xml.build(spec)
        instance_dir = self.instance_dir(spec.instance_uuid)
        instance_dir.mkdir(parents=True, exist_ok=True)
        # Nova's libvirt.xml: what was asked for, kept beside the disk for a later redefine.
        (instance_dir / "libvirt.xml").write_text(xml)
        domain = self._lookup(spec.instance_uuid)
        if domain is None:
            domain = self.conn.defineXML(xml)
        if not domain.isActive():
            domain.create()
        return self.power_state(spec.instance_uuid)

    def destroy(self, instance_uuid: str) -> bool:
        """Stop and undefine the domain and remove its files; False if nothing was there."""
        domain = self._lookup(instance_uuid)
        found = domain is not None
        if domain is not None:
            try:
                if domain.isActive():
                    _stop(domain)
                _undefine(domain)
            except libvirt.libvirtError as exc:
                if not _is_missing(exc):
                    raise
        instance_dir = self.instance_dir(instance_uuid)
        if instance_dir.exists():
            shutil.rmtree(instance_dir)
            found = True
        return found

    def guests(self) -> list[GuestInfo]:
        """This host's domains: those whose bootflow metadata names this host."""
        return guests_by_host(self.conn, self.deployment).get(self.host, [])

    def restore(self, instance_uuid: str) -> bool:
        """Start a guest that should run but does not: define it again from its saved
        libvirt.xml if the hypervisor forgot it (the test driver keeps no state), or start
        it if it is defined but off (libvirtd after the machine restarted). False if it
        runs already or there is nothing to start it from."""
        domain = self._lookup(instance_uuid)
        if domain is None:
            saved = self.instance_dir(instance_uuid) / "libvirt.xml"
            if not saved.exists():
                return False
            domain = self.conn.defineXML(saved.read_text())
        elif domain.isActive():
            return False
        domain.create()
        return True

    # -- power (stop, start, reboot) ------------------------------------------------------

    def power_off(self, instance_uuid: str, clean_timeout: float | None) -> int:
        """Stop the guest, keeping its domain and disks: an ACPI shutdown given
        ``clean_timeout`` seconds, then (or with None at once) a destroy, as Nova's
        power_off. A guest that is off or gone already is left so."""
        domain = self._lookup(instance_uuid)
        if domain is None or not domain.isActive():
            return self.power_state(instance_uuid)
        if clean_timeout is None or not self._shut_down(domain, clean_timeout):
            _stop(domain)
        return self.power_state(instance_uuid)

    def _shut_down(self, domain: libvirt.virDomain, timeout: float) -> bool:
        """Ask the guest to shut down and wait; whether it did within ``timeout`` s."""
        try:
            domain.shutdown()
        except libvirt.libvirtError:
            return not domain.isActive()
        deadline = time.monotonic() + timeout
        while domain.isActive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def power_on(self, instance_uuid: str) -> int:
        """Start the guest; defined again from its saved libvirt.xml if the hypervisor
        forgot it (the test driver after a worker restart). Raises GuestMissing when there
        is nothing to start it from."""
        domain = self._lookup(instance_uuid)
        if domain is None:
            saved = self.instance_dir(instance_uuid) / "libvirt.xml"
            if not saved.exists():
                raise GuestMissing(f"instance {instance_uuid} has no guest on {self.host}")
            domain = self.conn.defineXML(saved.read_text())
        if not domain.isActive():
            domain.create()
        return self.power_state(instance_uuid)

    def reboot(self, instance_uuid: str, hard: bool, clean_timeout: float) -> int:
        """Nova's reboot: soft is a clean shutdown and a start, falling back to hard when
        the guest does not shut down in time; hard is a destroy and a start."""
        if not hard and self._lookup(instance_uuid) is None:
            raise GuestMissing(f"instance {instance_uuid} has no guest on {self.host}")
        self.power_off(instance_uuid, None if hard else clean_timeout)
        return self.power_on(instance_uuid)

    # -- the serial console -------------------------------------------------------------

    def console_log(self, instance_uuid: str) -> Path:
        return self.instance_dir(instance_uuid) / CONSOLE_LOG

    def console_output(self, instance_uuid: str, lines: int | None = None) -> str | None:
        """The end of the guest's serial console (at most MAX_CONSOLE_BYTES), its last
        ``lines`` lines if given; None if this host has no such instance."""
        path = self.console_log(instance_uuid)
        if not path.exists():
            exists = self._lookup(instance_uuid) or self.instance_dir(instance_uuid).exists()
            return "" if exists else None
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - MAX_CONSOLE_BYTES))
            text = f.read().decode("utf-8", errors="replace")
        return tail(text, lines)

    def wait_for_line(
        self,
        instance_uuid: str,
        marker: str,
        timeout: float,
        poll: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> str:
        """Wait until the guest prints a line starting with ``marker`` on its serial
        console; that line. Raises GuestBootError if the guest stops first or ``timeout``
        seconds pass."""
        path = self.console_log(instance_uuid)
        deadline = clock() + timeout
        offset, partial = 0, b""
        while True:
            if path.exists():
                with open(path, "rb") as f:
                    f.seek(offset)
                    chunk = f.read()
                offset += len(chunk)
                *complete, partial = (partial + chunk).split(b"\n")
                for raw in complete:
                    line = raw.decode("utf-8", errors="replace").strip("\r")
                    if _ready_line(line, marker):
                        return line
            if self.power_state(instance_uuid) != PowerState.RUNNING:
                raise GuestBootError(
                    "the guest stopped before it finished booting",
                    self.console_output(instance_uuid, 20) or "",
                )
            if clock() > deadline:
                raise GuestBootError(
                    f"the guest did not finish booting within {timeout:.0f}s",
                    self.console_output(instance_uuid, 20) or "",
                )
            time.sleep(poll)

    def close(self) -> None:
        if self._owns_conn:
            self.conn.close()
