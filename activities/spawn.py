"""Step 5 (seed step 28): write the domain XML and start the guest through libvirt.

On a real hypervisor spawn returns only once the guest is up: when its image names a ready
marker, spawn waits for the guest to print that line on its serial console. A guest that
stops or stays silent is destroyed and the build aborted on this host.
"""

from __future__ import annotations

import base64
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import libvirt
from temporalio import activity

from activities.errors import service_errors, start_refused, transient_libvirt
from activities.images import BootFiles
from clients.network import NetworkClient
from compute import config_drive
from compute.domain_xml import DiskSpec, DomainSpec, NicSpec, domain_name
from compute.driver import GuestBootError, LibvirtDriver
from core import activity_defs as act
from core.errors import ErrorType, request_error
from core.messages import (
    AttachmentSpec,
    ConsoleOutput,
    ConsoleOutputInput,
    DomainInfo,
    HostDomains,
    HostDomainsInput,
    ImageSpec,
    InstanceRef,
    SpawnInput,
    SpawnResult,
)

# The root disk's device (Nova's root_device_name): the image's overlay, or a volume.
ROOT_DEVICE = "vda"
# The config drive's device: after the root disk (vda) and any volumes (vdb, ...).
CONFIG_DRIVE_TARGET = "vdz"
# How much of a failed guest's console goes into the fault message.
CONSOLE_IN_FAULT = 600


# How long a subnet read for a config drive is reused.
SUBNET_CACHE_SECONDS = 60.0


def _volume_disk(attachment: AttachmentSpec) -> DiskSpec:
    """An attached volume as a disk: the file its connection info names (the volume
    service's file driver), raw, with the volume id as its serial (as Nova's)."""
    data = attachment.connection_info.get("data")
    path = data.get("device_path") if isinstance(data, dict) else None
    if not path:
        raise request_error(
            ErrorType.BUILD_ABORTED,
            f"Volume {attachment.volume_id} has no device path in its connection info.",
        )
    return DiskSpec(str(path), attachment.device_name, "raw", serial=attachment.volume_id)


class SpawnActivities:
    def __init__(
        self,
        driver: LibvirtDriver,
        boot_files: Callable[[ImageSpec], BootFiles] = lambda _image: BootFiles(),
        networks: NetworkClient | None = None,
        boot_timeout: float = 120.0,
    ) -> None:
        self.driver = driver
        self.boot_files = boot_files
        self.networks = networks
        self._subnets: dict[str, tuple[float, dict[str, Any]]] = {}
        self.boot_timeout = boot_timeout

    def _nic_networks(self, request: SpawnInput) -> list[config_drive.NicNetwork]:
        """Each port with the subnet of its first fixed IP, as Nova's network_info has it."""
        out = []
        for port in request.ports:
            nic = config_drive.NicNetwork(port.id, port.mac_address, port.network_id)
            if port.fixed_ips and self.networks is not None:
                fixed = port.fixed_ips[0]
                subnet = self._subnet(fixed.subnet_id)
                nic.ip_address = fixed.ip_address
                nic.cidr = subnet.get("cidr")
                nic.gateway_ip = subnet.get("gateway_ip")
                nic.dns_nameservers = list(subnet.get("dns_nameservers") or [])
            out.append(nic)
        return out

    def _subnet(self, subnet_id: str) -> dict[str, Any]:
        """A subnet's CIDR, gateway and DNS, cached a minute (they change rarely, and each
        boot on the network would ask again)."""
        now = time.monotonic()
        hit = self._subnets.get(subnet_id)
        if hit is not None and now - hit[0] < SUBNET_CACHE_SECONDS:
            return hit[1]
        assert self.networks is not None
        with service_errors(f"read subnet {subnet_id}"):
            subnet = self.networks.get_subnet(subnet_id)
        self._subnets[subnet_id] = (now, subnet)
        return subnet

    def _config_drive(self, request: SpawnInput) -> dict[str, bytes]:
        meta = config_drive.meta_data(
            instance_uuid=request.instance_uuid,
            name=request.name,
            project_id=request.project_id,
            availability_zone=None,
            key=(key.name, key.type, key.public_key) if (key := request.key) else None,
            meta=request.metadata,
            hostname=request.hostname,
        )
        user_data = base64.b64decode(request.user_data) if request.user_data else None
        network = config_drive.network_data(self._nic_networks(request))
        return config_drive.files(meta, network, user_data)

    def _root_disk(self, request: SpawnInput, boot: BootFiles) -> DiskSpec:
        """vda: the root volume's own file (a boot from a volume), else a qcow2 overlay on
        the cached image. Either way the instance records which cached files it uses."""
        root = next((a for a in request.attachments if a.device_name == ROOT_DEVICE), None)
        if root is not None:
            self.driver.record_bases(request.instance_uuid, boot.cached)
            return _volume_disk(root)
        if request.cached_image is None:
            # A request no host could build (not the host's failure: no reschedule).
            raise request_error(
                ErrorType.BUILD_FAILED,
                f"Build of instance {request.instance_uuid} aborted: no root disk (neither "
                "a cached image nor a volume on vda).",
            )
        base = Path(request.cached_image.path)
        disk = self.driver.create_root_disk(
            request.instance_uuid,
            base,
            "qcow2" if request.image.disk_format == "qcow2" else "raw",
            max(request.flavor.root_gb, 1),
        )
        self.driver.record_bases(request.instance_uuid, [base, *boot.cached])
        return DiskSpec(str(disk), ROOT_DEVICE, "qcow2")

    def _domain_spec(
        self, request: SpawnInput, root_disk: DiskSpec, boot: BootFiles, drive: Path
    ) -> DomainSpec:
        disks = [root_disk]
        disks += [_volume_disk(a) for a in request.attachments if a.device_name != ROOT_DEVICE]
        disks.append(DiskSpec(str(drive), CONFIG_DRIVE_TARGET, "raw", readonly=True))
        resources = self.driver.resources()
        return DomainSpec(
            instance_uuid=request.instance_uuid,
            name=request.name,
            host=self.driver.host,
            project_id=request.project_id,
            flavor=request.flavor,
            image_id=request.image.id,
            domain_type=self.driver.domain_type,
            arch=resources.cpu_arch,
            disks=disks,
            nics=[NicSpec(p.mac_address, p.id) for p in request.ports],
            console_log=str(self.driver.console_log(request.instance_uuid)),
            kernel=str(boot.kernel) if boot.kernel else None,
            initrd=str(boot.ramdisk) if boot.ramdisk else None,
            cmdline=boot.cmdline,
            deployment=self.driver.deployment,
        )

    @activity.defn(name=act.SPAWN.name)
    def spawn(self, request: SpawnInput) -> SpawnResult:
        """Root disk (an overlay, or the root volume), config drive, domain XML, define and
        start, then wait for the guest's ready line. Key: the domain uuid (the instance
        uuid): a retry finds the domain the first try defined and starts it, or finds it
        up."""
        uuid, host = request.instance_uuid, self.driver.host
        try:
            boot = self.boot_files(request.image)
            # Two independent tools (qemu-img, genisoimage): one waits for the other no more.
            with ThreadPoolExecutor(max_workers=1) as beside:
                contents = self._config_drive(request)
                made = beside.submit(self.driver.create_config_drive, uuid, contents)
                root_disk = self._root_disk(request, boot)
                drive = made.result()
            spec = self._domain_spec(request, root_disk, boot, drive)
            power_state = self.driver.spawn(spec)
            if boot.ready_marker and self.driver.domain_type != "test":
                line = self.driver.wait_for_line(uuid, boot.ready_marker, self.boot_timeout)
                activity.logger.info("instance %s is up on %s: %s", uuid, host, line)
        except subprocess.CalledProcessError as exc:
            raise request_error(
                ErrorType.BUILD_ABORTED,
                f"Build of instance {uuid} aborted: could not create its disks on {host}: "
                f"{(exc.stderr or '').strip() or exc}",
            ) from exc
        except libvirt.libvirtError as exc:
            if transient_libvirt(exc):
                raise  # transient (a timeout, the connection lost): retried with backoff
            raise start_refused(uuid, host, exc) from exc
        except GuestBootError as exc:
            # Not left running for nothing; the workflow's undo destroys it as well.
            self.driver.destroy(uuid)
            console = exc.console.replace("\r", "").strip()[-CONSOLE_IN_FAULT:] or "(nothing)"
            raise request_error(
                ErrorType.BUILD_ABORTED,
                f"Build of instance {uuid} aborted: {exc} on {host}. Its console ended "
                f"with: {console}",
            ) from exc
        return SpawnResult(domain_name(uuid), power_state)

    @activity.defn(name=act.DESTROY_GUEST.name)
    def destroy_guest(self, request: InstanceRef) -> bool:
        """Stop and undefine the domain, remove its disk and files. Key: the domain uuid;
        False when nothing was there (already destroyed)."""
        return self.driver.destroy(request.instance_uuid)

    @activity.defn(name=act.LIST_DOMAINS.name)
    def list_domains(self, request: HostDomainsInput) -> HostDomains:
        """This host's guests, as its hypervisor reports them. Read-only."""
        return HostDomains(
            host=self.driver.host,
            domains=[
                DomainInfo(g.name, g.uuid, g.power_state, g.uuid) for g in self.driver.guests()
            ],
        )

    @activity.defn(name=act.GET_CONSOLE_OUTPUT.name)
    def get_console_output(self, request: ConsoleOutputInput) -> ConsoleOutput:
        """The end of the guest's serial console log. Read-only."""
        output = self.driver.console_output(request.instance_uuid, request.length)
        if output is None:
            raise request_error(
                ErrorType.INSTANCE_NOT_FOUND,
                f"Instance {request.instance_uuid} could not be found on host {self.driver.host}.",
            )
        return ConsoleOutput(output)
