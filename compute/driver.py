"""The libvirt driver of one compute host: capacity, spawn, destroy, list its domains.

One connection per worker process (``test:///default`` gives each process its own
in-memory hypervisor). Every call is keyed by the instance uuid, which is also the domain's
uuid, so a retried spawn finds the domain the first try defined instead of making another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import libvirt

from bootflow.states import PowerState
from compute import domain_xml
from compute.domain_xml import DomainSpec

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


class LibvirtDriver:
    def __init__(self, uri: str, host: str, host_dir: Path) -> None:
        self.uri = uri
        self.host = host
        self.host_dir = host_dir
        self.conn = libvirt.open(uri)

    # -- the host ---------------------------------------------------------------------

    @property
    def domain_type(self) -> str:
        """``test`` under the test driver, else ``qemu`` (TCG): KVM is not assumed to work."""
        return "test" if self.conn.getType().lower() == "test" else "qemu"

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

    def _owner(self, domain: libvirt.virDomain) -> str | None:
        try:
            metadata = domain.metadata(
                libvirt.VIR_DOMAIN_METADATA_ELEMENT, domain_xml.METADATA_NS, 0
            )
        except libvirt.libvirtError:
            return None  # no bootflow metadata: not a bootflow domain
        return domain_xml.owner_host(metadata)

    def _lookup(self, instance_uuid: str) -> libvirt.virDomain | None:
        """The domain, if it exists and is this host's; another host's is as good as absent."""
        try:
            domain = self.conn.lookupByUUIDString(instance_uuid)
        except libvirt.libvirtError as exc:
            if _is_missing(exc):
                return None
            raise
        return domain if self._owner(domain) == self.host else None

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
                    domain.destroy()
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
        out = []
        for domain in self.conn.listAllDomains():
            if self._owner(domain) != self.host:
                continue
            state, _reason = domain.state()
            out.append(GuestInfo(domain.name(), domain.UUIDString(), _POWER_STATE.get(state, 0)))
        return out

    def restore(self, instance_uuid: str) -> bool:
        """Define and start a guest again from its saved libvirt.xml (after a hypervisor
        that keeps no state, like the test driver, restarted); False if there is none."""
        saved = self.instance_dir(instance_uuid) / "libvirt.xml"
        if self._lookup(instance_uuid) is not None or not saved.exists():
            return False
        domain = self.conn.defineXML(saved.read_text())
        domain.create()
        return True

    def close(self) -> None:
        self.conn.close()
