"""Every workflow's and activity's input and result, in one place.

One dataclass in, one out: a field added later with a default never breaks a running
history. Nothing here may import I/O libraries: workflows import this module.

No ``from __future__ import annotations`` here: the SDK's converter calls
``typing.get_type_hints`` on every dataclass it decodes, which costs 4x more when each
annotation is a string to evaluate (docs/performance.md).
"""

from dataclasses import dataclass, field
from typing import Any

# --- requests -------------------------------------------------------------------------


@dataclass
class NetworkRequest:
    """One NIC: a network to allocate a port on (Nova's ``networks: [{"uuid": ...}]``), or
    the user's own port to bind (``networks: [{"port": ...}]``; ``network_id`` is then the
    port's network). A user's port is unbound, not deleted, when the server goes (Nova's
    ``preserve_on_delete``)."""

    network_id: str
    port_id: str | None = None


@dataclass
class KeyPairSpec:
    """The key pair a server boots with (Nova's ``key_name``): its public key goes into the
    guest's config drive."""

    name: str
    public_key: str
    type: str = "ssh"


@dataclass
class BootVolumeRequest:
    """Boot from a volume (Nova's block_device_mapping_v2 entry with boot_index 0 and
    destination_type volume): the guest's root disk, vda, is a volume instead of an overlay
    on the image. ``source_type`` "volume": ``uuid`` is an existing volume of the project;
    "image": a new ``size_gb`` GiB volume is made from image ``uuid`` on the host."""

    source_type: str
    uuid: str
    size_gb: int | None = None
    # Deleted with the server (Nova's default: false). A volume made from an image for a
    # boot that fails is deleted whatever this says.
    delete_on_termination: bool = False


@dataclass
class BootRequest:
    """What a user asked for; the input of ``BootInstance``."""

    instance_uuid: str
    name: str
    flavor_ref: str
    image_ref: str
    networks: list[NetworkRequest]
    auth_token: str
    request_id: str
    # Size of a new, blank volume to create and attach (Nova's block_device_mapping_v2
    # source_type=blank, destination_type=volume, delete_on_termination=true).
    volume_size_gb: int | None = None
    availability_zone: str | None = None
    # Nova's os:scheduler_hints: "group" (a server group uuid), "same_host" and
    # "different_host" (instance uuids), each a list of values.
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)
    key: KeyPairSpec | None = None
    # The server's metadata (Nova's ``metadata`` at create): recorded, and in the config drive.
    metadata: dict[str, str] = field(default_factory=dict)
    # Nova's ``description`` (2.19+), ``accessIPv4`` and ``accessIPv6``: recorded only.
    description: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    # Nova's ``hostname`` (2.90+, an FQDN from 2.94): the guest's, instead of the name's.
    hostname: str | None = None
    # Boot from a volume (``image_ref`` is then ""); None: boot from the image.
    boot_volume: BootVolumeRequest | None = None

    @property
    def asks_for_volumes(self) -> bool:
        """A blank volume or a boot volume: the server's delete has Cinder's steps to run."""
        return self.volume_size_gb is not None or self.boot_volume is not None


@dataclass
class DeleteRequest:
    """The input of ``DeleteInstance``."""

    instance_uuid: str
    auth_token: str
    request_id: str


class CancelReason:
    """Why bootflow cancels a boot (the reason sent with the cancel request). A cancel with
    any other reason came from an operator (the Web UI, ``temporal workflow cancel``)."""

    # DeleteInstance: the server is being deleted; the delete finishes what the boot began.
    DELETED = "bootflow: the server is being deleted"
    # The compute API gave up waiting for the boot to accept and told its caller that
    # nothing was created: the boot must leave nothing, not even its record.
    WITHDRAWN = "bootflow: the request was withdrawn by the compute API"

    @classmethod
    def of(cls, reason: str | None) -> str | None:
        """The bootflow reason a cancel carries, if any. A cancel sent by another workflow
        reaches the boot wrapped by the server ("Cancel requested by workflow with run id
        ... with reason: <reason>"), so the reason is matched at the end."""
        for known in (cls.DELETED, cls.WITHDRAWN):
            if reason is not None and reason.endswith(known):
                return known
        return None


# --- identity ---------------------------------------------------------------------------


@dataclass
class AuthenticateInput:
    token: str


@dataclass
class RequestContext:
    """Who is asking, as the identity service vouches for it."""

    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: list[str]
    expires_at: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


# --- validation and quota -----------------------------------------------------------------


@dataclass
class FlavorSpec:
    flavorid: str
    name: str
    vcpus: int
    memory_mb: int
    root_gb: int


@dataclass
class ImageSpec:
    id: str
    name: str
    size: int
    disk_format: str
    checksum: str | None
    min_disk: int = 0
    min_ram: int = 0
    os_hash_value: str | None = None  # sha512 (Glance's multihash), verified after download
    # Additional properties (hw_architecture, kernel_id, ...).
    properties: dict[str, str] = field(default_factory=dict)


@dataclass
class NetworkSpec:
    id: str
    name: str


@dataclass
class VolumeSpec:
    id: str
    size_gb: int
    device_name: str


@dataclass
class ValidateInput:
    request: BootRequest
    context: RequestContext


@dataclass
class ValidatedRequest:
    """The request's references resolved, and its quota held (keyed by instance uuid)."""

    flavor: FlavorSpec
    image: ImageSpec
    networks: list[NetworkSpec]
    # The existing volume a boot from a volume uses as its root disk (source_type volume),
    # as validation found it; None otherwise.
    root_volume: VolumeSpec | None = None


@dataclass
class InstanceRef:
    """Names one instance; the idempotency key of most undo steps."""

    instance_uuid: str


# --- instance record ----------------------------------------------------------------------


@dataclass
class CreateInstanceInput:
    instance_uuid: str
    name: str
    request_id: str
    context: RequestContext
    flavor: FlavorSpec
    image: ImageSpec
    availability_zone: str | None = None
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)
    # The user's own ports (NetworkRequest.port_id): recorded so that undo and delete unbind
    # them instead of deleting them.
    preserved_ports: list[str] = field(default_factory=list)
    key: KeyPairSpec | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    # Nova's ``hostname`` (2.90+); None: made from the name, as by default.
    hostname: str | None = None
    # BootRequest.asks_for_volumes.
    volumes_requested: bool = True


@dataclass
class InstanceRecord:
    uuid: str
    name: str
    project_id: str
    vm_state: str
    task_state: str | None
    host: str | None


@dataclass
class Fault:
    """Why an instance is in error, as Nova's instance fault: code, message, details."""

    code: int
    message: str
    details: str = ""


@dataclass
class RecordFaultInput:
    instance_uuid: str
    fault: Fault
    host: str | None = None
    # None, or the task still under way for the instance (a delete after a cancelled boot).
    task_state: str | None = None


# --- scheduling ---------------------------------------------------------------------------


@dataclass
class ScheduleInput:
    instance_uuid: str
    flavor: FlavorSpec
    availability_zone: str | None = None
    image_properties: dict[str, str] = field(default_factory=dict)
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)
    project_id: str = ""
    # The task_state the record takes with the claim (the stage after scheduling's), in the
    # claim's transaction; None: the claim leaves it (histories from before it was sent).
    task_state: str | None = None


@dataclass
class Placement:
    """The host whose resources are now claimed for the instance, and where to go next."""

    host: str
    candidates: int
    # Hosts that also passed, best first, to reschedule to if the build fails on ``host``.
    alternates: list[str] = field(default_factory=list)


@dataclass
class ClaimAlternateInput:
    instance_uuid: str
    flavor: FlavorSpec
    host: str
    scheduler_hints: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RescheduleInput:
    """A build failed on ``from_host`` for a host reason; it moves on (an action of its own)."""

    instance_uuid: str
    from_host: str
    reason: str
    request_id: str = ""


# --- on the compute host ------------------------------------------------------------------


@dataclass
class FixedIp:
    ip_address: str
    subnet_id: str


@dataclass
class AllocatePortInput:
    instance_uuid: str
    project_id: str
    network: NetworkSpec
    # Whether a host this build left may have kept a port for the instance (its undo failed):
    # then the step looks for one to reuse. False on the build's first host, where only the
    # step's own earlier attempts can have made one (the lookup costs a request per boot).
    after_reschedule: bool
    # The user's port to bind to the instance and host; None: create one on ``network``.
    port_id: str | None = None
    # Ports this NIC must not take: those the instance's NICs before it hold, and the user's
    # own ports: an earlier port found on the same network is this NIC's only if not one of
    # these.
    taken: list[str] = field(default_factory=list)


@dataclass
class PortSpec:
    id: str
    network_id: str
    network_name: str
    mac_address: str
    fixed_ips: list[FixedIp]


@dataclass
class CreateVolumeInput:
    instance_uuid: str
    project_id: str
    size_gb: int
    device_name: str = "vdb"
    # The image the volume is made from (a boot from a volume); None: a blank volume.
    image_id: str | None = None


@dataclass
class AttachVolumeInput:
    instance_uuid: str
    project_id: str
    volume: VolumeSpec


@dataclass
class AttachmentSpec:
    attachment_id: str
    volume_id: str
    device_name: str
    # As Nova hands it to volume drivers: {"driver_volume_type": "file", "data": {...},
    # "serial": volume id}. (Any, not object: Temporal's converter can't rebuild `object`.)
    connection_info: dict[str, Any]


@dataclass
class FetchImageInput:
    instance_uuid: str
    image: ImageSpec


@dataclass
class CachedImage:
    """A verified copy of an image in the host's cache (Nova's ``_base``)."""

    image_id: str
    path: str
    size: int


@dataclass
class SpawnInput:
    instance_uuid: str
    name: str
    project_id: str
    flavor: FlavorSpec
    image: ImageSpec
    # None for a boot from a volume: its root disk is the attachment on vda.
    cached_image: CachedImage | None
    ports: list[PortSpec]
    attachments: list[AttachmentSpec]
    key: KeyPairSpec | None = None
    # The server's metadata, for the config drive's meta_data.json ("meta").
    metadata: dict[str, str] = field(default_factory=dict)
    # The guest's hostname (meta_data.json "hostname"); None: made from the name.
    hostname: str | None = None
    # Nova's user_data (base64, as given), the config drive's ``user_data`` file.
    user_data: str | None = None


@dataclass
class SpawnResult:
    domain_name: str
    power_state: int


@dataclass
class MarkActiveInput:
    instance_uuid: str
    host: str
    ports: list[PortSpec]
    power_state: int


@dataclass
class VolumeRef:
    volume_id: str
    attachment_id: str | None = None


# --- results ------------------------------------------------------------------------------


@dataclass
class Accepted:
    """The answer to the ``accepted`` update: steps 1-3 done, the record exists."""

    instance_uuid: str


@dataclass
class BootResult:
    instance_uuid: str
    vm_state: str
    host: str | None = None


@dataclass
class DeleteResult:
    instance_uuid: str
    vm_state: str


@dataclass
class InstanceForDelete:
    """What a delete must undo, read from the record when the delete begins."""

    instance_uuid: str
    project_id: str
    vm_state: str
    host: str | None
    volumes: list[VolumeRef] = field(default_factory=list)
    name: str = ""
    # Other hosts where an undo could not destroy the instance's guest (recorded leftovers):
    # the delete destroys it there too.
    guest_hosts: list[str] = field(default_factory=list)
    # False: the boot never asked for a volume, so no host made one for it (the record's).
    volumes_requested: bool = True


@dataclass
class BeginDeleteInput:
    instance_uuid: str
    context: RequestContext
    request_id: str = ""


@dataclass
class LeftoverSpec:
    """An undo step that still failed after its retry budget: what, why, and where."""

    step: str
    error: str
    host: str | None = None


@dataclass
class RecordLeftoversInput:
    instance_uuid: str
    leftovers: list[LeftoverSpec]


# --- host inspection ----------------------------------------------------------------------


@dataclass
class HostDomainsInput:
    host: str


@dataclass
class DomainInfo:
    name: str
    uuid: str
    state: int
    instance_uuid: str


@dataclass
class HostDomains:
    host: str
    domains: list[DomainInfo]


# --- progress (the workflow's `progress` query) ----------------------------------------------


@dataclass
class StageTime:
    stage: str
    seconds: float


@dataclass
class BootProgress:
    """Where a boot is: the stage running now and those done, as the workflow knows it.

    ``vm_state`` and ``task_state`` are what the workflow has had written to the record, so
    this answer and ``server show`` agree.
    """

    instance_uuid: str
    stage: str
    vm_state: str
    task_state: str | None
    host: str | None = None
    done: list[StageTime] = field(default_factory=list)
    fault: Fault | None = None


# --- the guest's serial console (real guests) ------------------------------------------------


@dataclass
class ConsoleOutputInput:
    """Nova's os-getConsoleOutput: the last ``length`` lines of the guest's serial console
    (all of it, up to 100 KiB, when None), read on the instance's host."""

    instance_uuid: str
    host: str
    length: int | None = None


@dataclass
class ConsoleOutput:
    output: str


# --- what the workflow records of the host's steps (control plane) -----------------------


@dataclass
class TaskStateInput:
    """The building instance's task_state, as the workflow's stage table says."""

    instance_uuid: str
    task_state: str | None


@dataclass
class RecordBlockDeviceInput:
    """A volume the host created and attached, recorded as the instance's block device."""

    instance_uuid: str
    volume: VolumeSpec
    attachment: AttachmentSpec
    # Nova's mapping fields: a boot's root volume is boot_index 0, source "volume" (the
    # user's, never deleted by an undo) or "image" (made for the boot).
    delete_on_termination: bool = True
    source_type: str = "blank"
    boot_index: int | None = None


# --- server actions (stop, start, reboot) ----------------------------------------------


@dataclass
class ServerActionRequest:
    """A server action a user asked for; the input of StopServer, StartServer and
    RebootServer. ``rule`` is its key in core.server_actions.RULES."""

    instance_uuid: str
    rule: str
    auth_token: str
    request_id: str


@dataclass
class BeginActionInput:
    instance_uuid: str
    rule: str
    context: RequestContext
    request_id: str


@dataclass
class ActionTarget:
    """The server an action began on: its host, and the vm_state it was in."""

    instance_uuid: str
    host: str
    vm_state: str
    name: str = ""
    project_id: str = ""


@dataclass
class GuestPowerInput:
    """A host step on the guest: ``hard`` destroys (or resets) at once; otherwise the guest
    gets ``clean_timeout_seconds`` to shut down (or reboot) cleanly first."""

    instance_uuid: str
    hard: bool = False
    clean_timeout_seconds: float = 60.0


@dataclass
class GuestPower:
    power_state: int


@dataclass
class EndActionInput:
    """The action's end, recorded only while the server is still in ``task_state`` (a
    delete that began meanwhile owns it now): ``vm_state`` and ``power_state`` after it,
    and the fault of a failure."""

    instance_uuid: str
    task_state: str
    vm_state: str
    power_state: int | None = None
    fault: Fault | None = None


@dataclass
class ActionResult:
    instance_uuid: str
    vm_state: str
    # False when a delete took the server over before the action could say how it ended.
    recorded: bool = True


# --- rebuild ---------------------------------------------------------------------------------


@dataclass
class RebuildChanges:
    """What a rebuild changes besides the image, as Nova's API sets it on the instance
    before the host rebuilds: each field only when given (``given`` names them, so a null
    ``key_name``, ``description`` or ``user_data`` clears it). ``metadata`` replaces all."""

    given: list[str] = field(default_factory=list)
    name: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    access_ip_v4: str | None = None
    access_ip_v6: str | None = None
    key: KeyPairSpec | None = None
    hostname: str | None = None
    user_data: str | None = None


@dataclass
class RebuildRequest:
    """A user's rebuild; the input of RebuildServer (``rebuild-<uuid>``)."""

    instance_uuid: str
    image_ref: str
    auth_token: str
    request_id: str
    changes: RebuildChanges = field(default_factory=RebuildChanges)


@dataclass
class BeginRebuildInput:
    request: RebuildRequest
    context: RequestContext


@dataclass
class RebuildTarget:
    """The server a rebuild began on, and what its host needs to spawn it again: the same
    flavor, ports and volumes, the new image, key, metadata and hostname."""

    instance_uuid: str
    host: str
    # The vm_state it was in: a stopped server ends stopped.
    vm_state: str
    name: str
    project_id: str
    flavor: FlavorSpec
    image: ImageSpec
    ports: list[PortSpec]
    attachments: list[AttachmentSpec]
    key: KeyPairSpec | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    hostname: str | None = None
    user_data: str | None = None


@dataclass
class RebuildStageInput:
    """Move a rebuilding server from ``from_state`` to ``to_state`` (False: it is no longer
    in ``from_state``; a delete took it over)."""

    instance_uuid: str
    from_state: str
    to_state: str
