"""The libvirt domain XML for an instance (seed step 28's ``libvirt.xml``).

Pure: from a ``DomainSpec`` to XML text, so it is tested without a hypervisor. The
``<metadata>`` block names the instance, its deployment (the stack) and host, project,
flavor and image; a compute worker only ever touches domains whose metadata names its own
deployment and host, so stacks and hosts sharing one libvirtd never see each other's.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from core.messages import FlavorSpec

METADATA_NS = "urn:bootflow:libvirt:instance:1"
METADATA_PREFIX = "bootflow"


@dataclass
class DiskSpec:
    path: str
    target: str  # vda, vdb, ...
    format: str  # qcow2 or raw
    serial: str | None = None
    readonly: bool = False


@dataclass
class NicSpec:
    mac_address: str
    port_id: str


@dataclass
class DomainSpec:
    instance_uuid: str
    name: str  # the server's name, shown as the domain's title
    host: str
    project_id: str
    flavor: FlavorSpec
    image_id: str
    domain_type: str  # test, qemu or kvm
    arch: str
    disks: list[DiskSpec]
    nics: list[NicSpec]
    console_log: str
    extra: dict[str, str] = field(default_factory=dict)
    # Direct kernel boot (an image with kernel_id/ramdisk_id, as Nova's AKI/ARI images).
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    # The stack the domain belongs to, so two stacks' "node1" never meet in one libvirtd.
    deployment: str = ""

    @property
    def domain_name(self) -> str:
        return domain_name(self.instance_uuid)


def domain_name(instance_uuid: str) -> str:
    """Named by uuid, so several hosts (or stacks) sharing one libvirtd never collide."""
    return f"instance-{instance_uuid}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def build(spec: DomainSpec) -> str:
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    domain = ET.Element("domain", {"type": spec.domain_type})
    _sub(domain, "name", spec.domain_name)
    _sub(domain, "uuid", spec.instance_uuid)
    _sub(domain, "title", spec.name)
    _metadata(_sub(domain, "metadata"), spec)
    _sub(domain, "memory", str(spec.flavor.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(spec.flavor.vcpus))
    _os(_sub(domain, "os"), spec)
    # Without ACPI, libvirt passes -no-acpi and a guest's poweroff only halts it.
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    _devices(_sub(domain, "devices"), spec)
    ET.indent(domain)
    return ET.tostring(domain, encoding="unicode")


def _metadata(metadata: ET.Element, spec: DomainSpec) -> None:
    """bootflow's owner element: which deployment, host, project, flavor and image."""
    ns = f"{{{METADATA_NS}}}"
    owner = _sub(metadata, f"{ns}instance")
    _sub(owner, f"{ns}name", spec.name)
    _sub(owner, f"{ns}deployment", spec.deployment)
    _sub(owner, f"{ns}host", spec.host)
    _sub(owner, f"{ns}project", uuid=spec.project_id)
    _sub(
        owner,
        f"{ns}flavor",
        name=spec.flavor.name,
        vcpus=str(spec.flavor.vcpus),
        memory_mb=str(spec.flavor.memory_mb),
        root_gb=str(spec.flavor.root_gb),
    )
    _sub(owner, f"{ns}image", uuid=spec.image_id)


def _os(os_el: ET.Element, spec: DomainSpec) -> None:
    _sub(os_el, "type", "hvm", arch=spec.arch)
    if not spec.kernel:
        _sub(os_el, "boot", dev="hd")
        return
    _sub(os_el, "kernel", spec.kernel)
    if spec.initrd:
        _sub(os_el, "initrd", spec.initrd)
    if spec.cmdline:
        _sub(os_el, "cmdline", spec.cmdline)


def _devices(devices: ET.Element, spec: DomainSpec) -> None:
    for disk in spec.disks:
        el = _sub(devices, "disk", type="file", device="disk")
        _sub(el, "driver", name="qemu", type=disk.format)
        _sub(el, "source", file=disk.path)
        _sub(el, "target", dev=disk.target, bus="virtio")
        if disk.serial:
            _sub(el, "serial", disk.serial)
        if disk.readonly:
            _sub(el, "readonly")
    for nic in spec.nics:
        el = _sub(devices, "interface", type="ethernet")
        _sub(el, "mac", address=nic.mac_address)
        _sub(el, "model", type="virtio")
    serial = _sub(devices, "serial", type="file")
    # Appended to, not truncated, so a guest started again keeps its earlier output.
    _sub(serial, "source", path=spec.console_log, append="on")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="file")
    _sub(console, "source", path=spec.console_log)
    _sub(console, "target", type="serial", port="0")


def owner(metadata_xml: str) -> tuple[str, str] | None:
    """The (deployment, host) a domain's bootflow metadata element names, if it has one.
    Domains from before deployments were recorded belong to deployment ""."""
    try:
        root = ET.fromstring(metadata_xml)  # noqa: S314 (libvirt's own output, not user input)
    except ET.ParseError:
        return None

    def text(tag: str) -> str | None:
        # libvirt may return the elements with or without their namespace.
        element = root.find(f"{{{METADATA_NS}}}{tag}")
        if element is None:
            element = root.find(tag)
        return None if element is None else (element.text or "")

    host = text("host")
    return None if host is None else (text("deployment") or "", host)


def owner_host(metadata_xml: str) -> str | None:
    """The host named in a domain's bootflow metadata element, if it has one."""
    found = owner(metadata_xml)
    return None if found is None else found[1]
