"""Step 5 (seed step 28): write the domain XML and start the guest through libvirt."""

from __future__ import annotations

import subprocess
from pathlib import Path

import libvirt
from temporalio import activity

from activities.heartbeat import heartbeating
from bootflow import activity_defs as act
from bootflow.errors import ErrorType, request_error
from bootflow.faults import FaultPlan
from bootflow.messages import (
    DomainInfo,
    HostDomains,
    HostDomainsInput,
    InstanceRef,
    SpawnInput,
    SpawnResult,
)
from bootflow.states import TaskState
from compute.domain_xml import DiskSpec, DomainSpec, NicSpec, domain_name
from compute.driver import LibvirtDriver
from db.instances import set_task_state
from db.session import SessionFactory


class SpawnActivities:
    def __init__(self, driver: LibvirtDriver, sessions: SessionFactory, faults: FaultPlan) -> None:
        self.driver = driver
        self.sessions = sessions
        self.faults = faults

    def _domain_spec(self, request: SpawnInput, root_disk: Path) -> DomainSpec:
        disks = [DiskSpec(str(root_disk), "vda", "qcow2")]
        for attachment in request.attachments:
            data = attachment.connection_info.get("data")
            path = data.get("device_path") if isinstance(data, dict) else None
            if not path:
                raise request_error(
                    ErrorType.BUILD_ABORTED,
                    f"Volume {attachment.volume_id} has no device path in its connection info.",
                )
            disks.append(
                DiskSpec(str(path), attachment.device_name, "raw", serial=attachment.volume_id)
            )
        resources = self.driver.resources()
        return DomainSpec(
            instance_uuid=request.instance_uuid,
            name=request.name,
            host=self.driver.host,
            project_id=request.project_id,
            flavor_name=request.flavor.name,
            vcpus=request.flavor.vcpus,
            memory_mb=request.flavor.memory_mb,
            root_gb=request.flavor.root_gb,
            image_id=request.image.id,
            domain_type=self.driver.domain_type,
            arch=resources.cpu_arch,
            disks=disks,
            nics=[NicSpec(p.mac_address, p.id) for p in request.ports],
            console_log=str(self.driver.instance_dir(request.instance_uuid) / "console.log"),
        )

    @activity.defn(name=act.SPAWN.name)
    def spawn(self, request: SpawnInput) -> SpawnResult:
        """Root disk overlay, domain XML, define and start. Key: the domain uuid (the
        instance uuid): a retry finds the domain the first try defined and starts it."""
        set_task_state(self.sessions, request.instance_uuid, TaskState.SPAWNING)
        try:
            with heartbeating():
                self.faults.check("spawn", request.name, error=libvirt.libvirtError)
                root_disk = self.driver.create_root_disk(
                    request.instance_uuid,
                    Path(request.cached_image.path),
                    "qcow2" if request.image.disk_format == "qcow2" else "raw",
                    max(request.flavor.root_gb, 1),
                )
                power_state = self.driver.spawn(self._domain_spec(request, root_disk))
        except subprocess.CalledProcessError as exc:
            raise request_error(
                ErrorType.BUILD_ABORTED,
                f"Build of instance {request.instance_uuid} aborted: could not create its root "
                f"disk on {self.driver.host}: {(exc.stderr or '').strip() or exc}",
            ) from exc
        except libvirt.libvirtError as exc:
            raise request_error(
                ErrorType.BUILD_ABORTED,
                f"Build of instance {request.instance_uuid} aborted: the hypervisor on "
                f"{self.driver.host} failed to start it: {exc}",
            ) from exc
        return SpawnResult(domain_name(request.instance_uuid), power_state)

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
